package sip

import (
	"github.com/emiago/sipgo/sip"
	"github.com/hotline-dev/hotline/sip/media"
)

// onReinvite handles an INVITE inside an existing dialog: hold (sendonly or
// inactive, RFC 3264 §8.4), unhold, or a new remote address or codec.
func (s *Server) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	c := s.calls.byRequest(req)
	if c == nil {
		s.respond(tx, sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	c.reinvite(req, tx)
}

func (c *Call) reinvite(req *sip.Request, tx sip.ServerTransaction) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session == nil { // not answered yet; startMedia sets it under mu
		c.srv.respond(tx, sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	if err := c.dlg.ReadRequest(req, tx); err != nil {
		// RFC 3261 §14.2: a lower CSeq or an overlapping re-INVITE.
		c.srv.respond(tx, sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "Out Of Order", nil))
		return
	}
	local := c.localSDP
	local.Version++
	if body := req.Body(); len(body) > 0 {
		offer, err := media.ParseSDP(body)
		if err != nil {
			c.srv.respond(tx, sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad SDP: "+sanitize(err.Error()), nil))
			return
		}
		if merr := c.srv.checkMediaAddr(offer, sourceIP(req), true, c.mediaFrom); merr != nil {
			c.log.Info("re-invite refused: media address", "reason", merr.reason, "source", req.Source())
			c.srv.refuseMedia(req, tx, merr)
			return
		}
		neg, err := media.Negotiate(offer, supported)
		if err != nil {
			res := sip.NewResponseFromRequest(req, sip.StatusNotAcceptableHere, "Not Acceptable Here", nil)
			res.AppendHeader(sip.NewHeader("Warning", `305 hotline "no common codec"`))
			c.srv.respond(tx, res)
			return
		}
		c.session.Update(neg)
		local.Codecs = []media.Codec{neg.Codec}
		local.DTMF, local.DTMFPayloadType, local.Direction = neg.DTMF, neg.DTMFPayloadType, neg.Direction
		c.log.Info("re-invite", "direction", string(neg.Direction), "remote", neg.Remote.String(), "codec", neg.Codec.Name)
	}
	c.localSDP = local
	res := sip.NewSDPResponseFromRequest(req, media.BuildSDP(local))
	contact := c.srv.contact(c.advertise.String(), req.Transport())
	res.AppendHeader(&contact)
	c.srv.respond(tx, res)
}

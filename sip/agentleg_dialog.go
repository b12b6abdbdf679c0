package sip

import (
	"context"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/hotline-dev/hotline/sip/media"
)

// Agent leg results (label "result" of hotline_sip_agent_legs_total).
const (
	legAnswered  = "answered"  // the agent answered; media up
	legBusy      = "busy"      // 486 or 600
	legDeclined  = "declined"  // 603
	legNoAnswer  = "no_answer" // ring timeout, 408 or 480
	legCancelled = "cancelled" // the caller hung up first (CANCEL or BYE at once)
	legFailed    = "failed"    // anything else: bad contact, no port, bad SDP, other status
)

// readBye answers the agent's BYE and ends the leg (S11: the agent hung up).
func (l *AgentLeg) readBye(req *sip.Request, tx sip.ServerTransaction) {
	l.finish(HungUpByAgent, "bye")
	if err := l.dlg.ReadBye(req, tx); err != nil {
		l.log.Debug("agent bye answer failed", "error", err)
	}
}

// inOrder checks and records the CSeq of a request from the agent (RFC 3261
// §12.2.2: a lower one than the last is out of order). Call with l.mu held.
func (l *AgentLeg) inOrder(req *sip.Request) bool {
	n := req.CSeq().SeqNo
	if l.remoteCSeq != 0 && n < l.remoteCSeq {
		return false
	}
	l.remoteCSeq = n
	return true
}

// reinvite answers the agent's re-INVITE: hold (sendonly/inactive, RFC 3264
// §8.4), unhold, or a new address or codec. The session Update lets the
// bridge see the new direction.
func (l *AgentLeg) reinvite(req *sip.Request, tx sip.ServerTransaction) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended || l.session == nil {
		l.srv.respond(tx, sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	if !l.inOrder(req) {
		l.srv.respond(tx, sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "Out Of Order", nil))
		return
	}
	local := l.local
	local.Version++
	if body := req.Body(); len(body) > 0 {
		offer, err := media.ParseSDP(body)
		if err != nil {
			l.srv.respond(tx, sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad SDP: "+sanitize(err.Error()), nil))
			return
		}
		if merr := l.srv.checkMediaAddr(offer, sourceIP(req), true, mediaFromAgent); merr != nil {
			l.log.Info("agent re-invite refused: media address", "reason", merr.reason, "source", req.Source())
			l.srv.refuseMedia(req, tx, merr)
			return
		}
		neg, err := media.Negotiate(offer, supported)
		if err != nil {
			res := sip.NewResponseFromRequest(req, sip.StatusNotAcceptableHere, "Not Acceptable Here", nil)
			res.AppendHeader(sip.NewHeader("Warning", `305 hotline "no common codec"`))
			l.srv.respond(tx, res)
			return
		}
		l.session.Update(neg)
		local.Codecs = []media.Codec{neg.Codec}
		local.DTMF, local.DTMFPayloadType, local.Direction = neg.DTMF, neg.DTMFPayloadType, neg.Direction
		l.log.Info("agent re-invite", "direction", string(neg.Direction), "remote", neg.Remote.String(), "codec", neg.Codec.Name)
	}
	l.local = local
	res := sip.NewSDPResponseFromRequest(req, media.BuildSDP(local))
	contact := l.srv.contact(l.advertise.String(), req.Transport())
	res.AppendHeader(&contact)
	l.srv.respond(tx, res)
}

// pushDigit adds a SIP INFO digit from the agent to the leg's digit
// stream; one that comes between our ACK and the session's start waits
// for it.
func (l *AgentLeg) pushDigit(d rune) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.session == nil {
		l.early.add(d)
		return
	}
	l.session.PushDigit(d)
}

// onStrayResponse gets responses whose client transaction is gone. A 2xx to
// an INVITE must still be ACKed (RFC 3261 §13.2.2.4): re-ACK a live agent
// leg; a dialog we no longer want (the agent answered after we gave up) is
// ACKed and ended with BYE at once.
func (s *Server) onStrayResponse(res *sip.Response) {
	if !res.IsSuccess() || res.CSeq() == nil || res.CSeq().MethodName != sip.INVITE || res.Contact() == nil {
		return
	}
	if l := s.legs.byResponse(res); l != nil {
		if err := l.dlg.Ack(context.Background()); err != nil {
			l.log.Debug("re-ack failed", "error", err)
		}
		return
	}
	ack := strayRequest(sip.ACK, res, res.CSeq().SeqNo)
	adv := s.advertiseTo(res.Contact().Address)
	if err := s.dua.Client.WriteRequest(ack, s.viaListener(adv), sipgo.ClientRequestBuild); err != nil {
		s.log.Debug("ack of a stray 200 failed", "error", err)
		return
	}
	s.log.Info("agent answered after we gave up: bye", "sip_call_id", sanitize(res.CallID().Value()))
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
		defer cancel()
		bye := strayRequest(sip.BYE, res, res.CSeq().SeqNo+1)
		if _, err := s.dua.Client.Do(ctx, bye, s.viaListener(adv), sipgo.ClientRequestBuild); err != nil {
			s.log.Debug("bye of a stray dialog failed", "error", err)
		}
	}()
}

// strayRequest builds an in-dialog request from a 2xx alone (our From, their
// To with its tag, to their Contact).
func strayRequest(method sip.RequestMethod, res *sip.Response, seq uint32) *sip.Request {
	req := sip.NewRequest(method, *res.Contact().Address.Clone())
	req.AppendHeader(sip.HeaderClone(res.From()))
	req.AppendHeader(sip.HeaderClone(res.To()))
	req.AppendHeader(sip.HeaderClone(res.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	req.SetTransport(res.Transport())
	return req
}

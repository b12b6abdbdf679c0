package sip

import (
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// allowed is the Allow header value (OPTIONS and 405 answers).
const allowed = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, REFER, REGISTER"

// guardHandler validates every request before its handler sees it. UDP requests
// were already checked by the Guard; TCP requests are checked here.
func (s *Server) guardHandler(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if rerr := ValidateRequest(req); rerr != nil {
			s.metrics.rejected(rerr.Status)
			s.log.Info("sip request rejected", "method", string(req.Method), "status", rerr.Status,
				"reason", rerr.Reason, "source", req.Source())
			s.respond(tx, ErrorResponse(req, rerr))
			return
		}
		h(req, tx)
	}
}

// respond sends res on tx and logs a failure (the peer may have gone).
func (s *Server) respond(tx sip.ServerTransaction, res *sip.Response) {
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip respond failed", "status", res.StatusCode, "error", err)
	}
}

func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowed))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp, application/dtmf-relay, application/dtmf"))
	s.respond(tx, res)
}

func (s *Server) onNoRoute(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, sip.StatusMethodNotAllowed, "Method Not Allowed", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowed))
	s.respond(tx, res)
}

// onAck completes the 2xx handshake of an INVITE or re-INVITE. An ACK carrying
// SDP is the answer to the offer we sent in a 200 to an INVITE without SDP.
func (s *Server) onAck(req *sip.Request, _ sip.ServerTransaction) {
	c := s.calls.byRequest(req)
	if c == nil {
		return
	}
	c.readAck(req)
}

func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := s.calls.byRequest(req)
	if c == nil {
		if l := s.legs.byRequest(req); l != nil {
			l.readBye(req, tx)
			return
		}
		s.respond(tx, sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	c.readBye(req, tx)
}

// onInfo takes DTMF sent as SIP INFO (application/dtmf-relay or application/dtmf)
// into the same digit stream as RFC 4733 events.
func (s *Server) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	var push func(rune)
	if c := s.calls.byRequest(req); c != nil {
		push = c.pushDigit
	} else if l := s.legs.byRequest(req); l != nil {
		push = l.pushDigit
	}
	if push == nil {
		s.respond(tx, sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = strings.ToLower(strings.TrimSpace(strings.SplitN(h.Value(), ";", 2)[0]))
	}
	digit, err := ParseInfoDTMF(ct, req.Body())
	if err != nil {
		s.metrics.rejected(400)
		s.respond(tx, sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad DTMF: "+sanitize(err.Error()), nil))
		return
	}
	push(digit)
	s.respond(tx, sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
}

// sanitize strips CR and LF from text copied into a header or reason phrase.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

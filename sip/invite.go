package sip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
	"github.com/hotline-dev/hotline/sip/media"
)

// supported lists the audio codecs we answer with, G.711 only (RFC 3264 §6.1:
// the answer keeps the offer's order).
var supported = []media.Codec{media.PCMU, media.PCMA}

// defaultDTMFPT is the telephone-event payload type we offer when we make the offer.
const defaultDTMFPT = 101

// onInvite answers a new call or handles a re-INVITE in an existing dialog.
func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params != nil && to.Params.Has("tag") {
		if l := s.legs.byRequest(req); l != nil {
			l.reinvite(req, tx)
			return
		}
		s.onReinvite(req, tx)
		return
	}
	if s.draining.Load() {
		res := sip.NewResponseFromRequest(req, sip.StatusServiceUnavailable, "Draining", nil)
		res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(int(time.Duration(s.cfg.DrainRetryAfter).Seconds()))))
		s.metrics.invite("draining")
		s.respond(tx, res)
		return
	}
	if isFeatureCode(req.Recipient.User) {
		s.onFeature(req, tx)
		return
	}
	if req.Recipient.User != s.cfg.Hotline {
		s.metrics.invite("not_found")
		s.respond(tx, sip.NewResponseFromRequest(req, sip.StatusNotFound, "Not Found", nil))
		return
	}
	s.accept(req, tx, mediaFromCaller, s.handler)
}

// accept answers an initial INVITE and runs h for the call until it ends;
// from says who sent it (checkMediaAddr).
func (s *Server) accept(req *sip.Request, tx sip.ServerTransaction, from int, h CallHandler) {
	ip := sourceIP(req)
	release, refused := s.caps.acquire(ip, s.trusted.contains(ip))
	if refused != "" {
		s.metrics.invite(refused)
		s.log.Debug("call refused: cap reached", "cap", refused, "source", req.Source())
		s.respond(tx, overloaded(req, time.Duration(s.cfg.OverloadRetryAfter)))
		return
	}
	defer release()
	var offer *media.SessionDescription
	if len(req.Body()) > 0 {
		var err error
		if offer, err = media.ParseSDP(req.Body()); err != nil {
			s.metrics.invite("bad_sdp")
			s.respond(tx, sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad SDP: "+sanitize(err.Error()), nil))
			return
		}
		if merr := s.checkMediaAddr(offer, sourceIP(req), false, from); merr != nil {
			s.metrics.invite("bad_media_address")
			s.log.Info("invite refused: media address", "reason", merr.reason, "source", req.Source())
			s.refuseMedia(req, tx, merr)
			return
		}
	}
	var neg media.Negotiated
	if offer != nil {
		var err error
		if neg, err = media.Negotiate(offer, supported); err != nil {
			s.metrics.invite("not_acceptable")
			res := sip.NewResponseFromRequest(req, sip.StatusNotAcceptableHere, "Not Acceptable Here", nil)
			// RFC 3261 §21.4.26 with warning code 305 (incompatible media format).
			res.AppendHeader(sip.NewHeader("Warning", `305 hotline "no common codec: PCMU or PCMA required"`))
			s.respond(tx, res)
			return
		}
	}
	// RFC 3261 §17.2.1: 100 Trying at once (sipgo's own would come after 200 ms).
	s.respond(tx, sip.NewResponseFromRequest(req, sip.StatusTrying, "Trying", nil))
	s.wg.Add(1)
	defer s.wg.Done()
	c, err := s.newCall(req, tx)
	if errors.Is(err, errCancelledEarly) {
		// The caller still called: the call leaves a record (S11).
		s.metrics.invite("cancelled")
		h(c.ctx, c)
		return
	}
	if err != nil {
		s.metrics.invite("failed")
		s.log.Warn("invite failed", "error", err, "sip_call_id", req.CallID().Value())
		return
	}
	c.mediaFrom = from
	c.run(offer, neg, h)
}

// errCancelledEarly: the caller's CANCEL ended the INVITE transaction before
// its dialog was made (sipgo answered 487); newCall then returns the call,
// already ended by the caller and without a dialog.
var errCancelledEarly = errors.New("cancelled before the dialog was made")

// newCall creates the server dialog for an initial INVITE.
func (s *Server) newCall(req *sip.Request, tx sip.ServerTransaction) (*Call, error) {
	dlg, err := s.dua.ReadInvite(req, tx)
	if err != nil && tx.Err() != nil {
		c := s.callOf(req, tx, nil)
		c.finish(HungUpByCaller, "cancelled")
		return c, fmt.Errorf("read invite: %w: %w", errCancelledEarly, err)
	}
	if err != nil {
		s.respond(tx, sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad INVITE: "+sanitize(err.Error()), nil))
		return nil, fmt.Errorf("read invite: %w", err)
	}
	return s.callOf(req, tx, dlg), nil
}

// callOf is the call of an initial INVITE (dlg is nil for one cancelled
// before its dialog was made).
func (s *Server) callOf(req *sip.Request, tx sip.ServerTransaction, dlg *sipgo.DialogServerSession) *Call {
	id := uuid.NewString()
	// ValidateRequest has bounded these (limits.go): they fit a call record.
	caller := ""
	if f := req.From(); f != nil {
		caller = sanitize(f.Address.User)
	}
	c := &Call{
		srv: s, dlg: dlg, inviteTx: tx, id: id, sipCallID: sanitize(req.CallID().Value()),
		caller: caller, dialled: sanitize(req.Recipient.User),
		advertise: s.advertiseFor(req), startedAt: time.Now(),
		ackSDP: make(chan []byte, 1),
		log:    s.log.With("call_id", id, "sip_call_id", sanitize(req.CallID().Value())),
	}
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	return c
}

// run takes the call from offer to hang-up: media port, answer, handler h, cleanup.
func (c *Call) run(offer *media.SessionDescription, neg media.Negotiated, h CallHandler) {
	s := c.srv
	defer c.cancel(errCallEnded)
	conn, port, err := s.ports.Listen(netip.IPv4Unspecified())
	if err != nil {
		c.log.Warn("no media port", "error", err)
		s.metrics.invite("no_ports")
		c.reject(sip.StatusServiceUnavailable, "No Media Ports")
		c.finish(HungUpBySystem, "no_ports")
		h(c.ctx, c)
		return
	}
	defer s.ports.Release(port)
	c.localPort = port
	c.sessionID = uint64(time.Now().UnixNano())
	s.calls.add(c.dlg.ID, c)
	defer s.calls.remove(c.dlg.ID, c)
	s.metrics.activeCalls.Inc()
	defer s.metrics.activeCalls.Dec()

	if !c.ring() {
		conn.Close()
		s.metrics.invite("cancelled")
		c.finish(HungUpByCaller, "cancelled")
		h(c.ctx, c)
		return
	}
	if neg, err = c.answer(offer, neg); err != nil {
		conn.Close()
		result, reason := "failed", "answer_failed"
		if errors.Is(err, errNoAck) {
			result, reason = "no_ack", "no_ack"
		}
		c.log.Warn("answer failed", "error", err)
		s.metrics.invite(result)
		c.finish(HungUpBySystem, reason)
		h(c.ctx, c)
		return
	}
	c.startMedia(conn, neg)
	s.metrics.invite("answered")
	c.log.Info("call answered", "caller", c.caller, "codec", neg.Codec.Name, "dtmf", neg.DTMF, "rtp_port", port)
	go c.watch()
	h(c.ctx, c)
	c.Hangup(context.Background())
	c.session.Close()
	c.log.Info("call ended", "hung_up_by", c.HungUpBy(), "reason", c.EndReason(),
		"duration", c.EndedAt().Sub(c.answeredAt).Round(time.Millisecond), "stats", c.session.Stats())
}

// ring sends 180 and waits answer_delay when one is configured. It returns false
// when the caller cancelled meanwhile (sipgo has answered 487 to the INVITE).
func (c *Call) ring() bool {
	d := time.Duration(c.srv.cfg.AnswerDelay)
	if d <= 0 {
		return true
	}
	contact := c.srv.contact(c.advertise.String(), c.dlg.InviteRequest.Transport())
	if err := c.dlg.Respond(sip.StatusRinging, "Ringing", nil, &contact); err != nil {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return c.dlg.Context().Err() == nil
	case <-c.dlg.Context().Done():
		return false
	}
}

// answer sends 200 with our SDP and waits for the ACK. Without an offer in the
// INVITE we offer in the 200 and take the answer from the ACK (RFC 3261 §13.2.1).
func (c *Call) answer(offer *media.SessionDescription, neg media.Negotiated) (media.Negotiated, error) {
	local := media.LocalSDP{Addr: c.advertise, Port: c.localPort, SessionID: c.sessionID, Version: c.sessionID}
	if offer != nil {
		local.Codecs = []media.Codec{neg.Codec}
		local.DTMF, local.DTMFPayloadType, local.Direction = neg.DTMF, neg.DTMFPayloadType, neg.Direction
	} else {
		local.Codecs = supported
		local.DTMF, local.DTMFPayloadType, local.Direction = true, defaultDTMFPT, media.SendRecv
	}
	c.localSDP = local
	// Our Contact names the address and port the caller reached (the UA's
	// default would carry the configured port, 0 when bound to a random one).
	res := sip.NewSDPResponseFromRequest(c.dlg.InviteRequest, media.BuildSDP(local))
	contact := c.srv.contact(c.advertise.String(), c.dlg.InviteRequest.Transport())
	res.AppendHeader(&contact)
	if err := c.respondAndAwaitAck(res); err != nil {
		return neg, err
	}
	c.answeredAt = time.Now()
	if offer != nil {
		return neg, nil
	}
	var body []byte
	select {
	case body = <-c.ackSDP:
	default:
	}
	if len(body) == 0 {
		return neg, errors.New("no sdp answer in the ack to our offer")
	}
	ans, err := media.ParseSDP(body)
	if err != nil {
		return neg, fmt.Errorf("sdp answer in ack: %w", err)
	}
	if merr := c.srv.checkMediaAddr(ans, sourceIP(c.dlg.InviteRequest), false, c.mediaFrom); merr != nil {
		return neg, fmt.Errorf("sdp answer in ack: %w", merr)
	}
	if neg, err = media.Negotiate(ans, supported); err != nil {
		return neg, fmt.Errorf("sdp answer in ack: %w", err)
	}
	if !ans.HasTelephoneEvent {
		neg.DTMF = false
	}
	return neg, nil
}

// errNoAck: the 200 was retransmitted for 64·T1 and no ACK came.
var errNoAck = errors.New("no ack for the 200 within 64*T1")

// respondAndAwaitAck sends the 200 and waits for its ACK at most the server's
// ackWait (64·T1, RFC 3261 §13.3.1.4). sipgo's own wait restarts its 64·T1
// timer on every retransmission and ends only a retransmission interval
// after the transaction does, so the bound is kept here: the INVITE
// transaction is terminated (no more retransmissions) and the caller frees
// the RTP port at once, whatever sipgo's goroutine still waits for. No BYE
// follows (RFC 3261 §13.3.1.4 says SHOULD): a peer that never ACKed is gone
// or flooding, and a BYE would only be retransmitted into silence.
func (c *Call) respondAndAwaitAck(res *sip.Response) error {
	done := make(chan error, 1)
	go func() { done <- c.dlg.WriteResponse(res) }()
	t := time.NewTimer(c.srv.ackWait)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("respond 200: %w", err)
		}
		return nil
	case <-t.C:
		c.inviteTx.Terminate()
		return errNoAck
	}
}

// startMedia creates and starts the RTP session of an answered call.
func (c *Call) startMedia(conn *net.UDPConn, neg media.Negotiated) {
	sess := media.NewSession(media.SessionConfig{
		Conn: conn, LocalPort: c.localPort, Negotiated: neg,
		MediaTimeout: time.Duration(c.srv.cfg.MediaTimeout), Pacer: c.srv.pacer,
		Metrics: c.srv.mmet, Logger: c.log,
	})
	sess.Start()
	c.mu.Lock() // a re-INVITE or INFO may arrive right after the ACK, or before it
	c.session = sess
	c.early.handTo(sess)
	c.mu.Unlock()
}

// watch ends the call when the dialog ends (BYE, CANCEL) or media times out.
func (c *Call) watch() {
	select {
	case <-c.dlg.Context().Done():
		c.finish(HungUpByCaller, "bye")
	case <-c.session.TimedOut():
		c.log.Warn("media timeout: no rtp", "last_packet_at", c.session.LastPacketAt())
		c.end(HungUpBySystem, endMediaTimeout)
	case <-c.ctx.Done():
	}
}

// reject answers the INVITE with a final error status.
func (c *Call) reject(status int, reason string) {
	if err := c.dlg.Respond(status, reason, nil); err != nil {
		c.log.Debug("reject failed", "status", status, "error", err)
	}
}

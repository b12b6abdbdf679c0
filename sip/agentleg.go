package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/hotline-dev/hotline/sip/media"
)

// HungUpByAgent: the agent ended the call (S11).
const HungUpByAgent = "agent"

// Why ringing an agent did not connect (S1: the caller keeps their place).
var (
	// ErrAgentBusy: the agent's phone answered 486 Busy Here or 600 Busy Everywhere.
	ErrAgentBusy = errors.New("agent busy")
	// ErrAgentDeclined: the agent rejected the call (603 Decline).
	ErrAgentDeclined = errors.New("agent declined")
	// ErrAgentNoAnswer: no answer within the ring timeout, or 408/480.
	ErrAgentNoAnswer = errors.New("agent did not answer")
)

// defaultRingTimeout is S1's ring_timeout (three rings).
const defaultRingTimeout = 15 * time.Second

// byeTimeout bounds a BYE sent without a deadline of the caller's.
const byeTimeout = 5 * time.Second

// DialAgentOptions say whom DialAgent rings and for which caller.
type DialAgentOptions struct {
	AgentID     string        // SIP user of the agent
	Contact     string        // registered contact URI, e.g. "sip:1001@127.0.0.1:5070;transport=udp"
	CallerID    string        // caller's number shown to the agent (From user part); sanitized
	RingTimeout time.Duration // S1 ring_timeout (default 15 s)
	CallID      string        // our call id of the caller leg, for logs
}

// AgentLeg is the outbound leg to an agent's phone (we are the UAC): its
// dialog and started media session.
type AgentLeg struct {
	srv        *Server
	dlg        *sipgo.DialogClientSession
	conn       *net.UDPConn
	session    *media.Session
	log        *slog.Logger
	agentID    string
	port       int
	advertise  netip.Addr
	answeredAt time.Time
	done       chan struct{}
	transfers  chan TransferDestination // buffered 1: the accepted blind transfer (S10)

	mu         sync.Mutex  // guards the fields below and serialises re-INVITEs
	early      earlyDigits // SIP INFO keys that came before session did
	local      media.LocalSDP
	remoteCSeq uint32
	ended      bool
	hungUpBy   string
	reason     string
	recording  string               // SetRecording (a callee's leg, trunk.go)
	transfer   *TransferDestination // set once a REFER is accepted
	notified   chan struct{}        // closed when that transfer's final NOTIFY is done
}

// Session is the leg's started RTP session (for the bridge).
func (l *AgentLeg) Session() *media.Session { return l.session }

// AgentID is the agent's SIP user.
func (l *AgentLeg) AgentID() string { return l.agentID }

// AnsweredAt is when the agent's 200 arrived.
func (l *AgentLeg) AnsweredAt() time.Time { return l.answeredAt }

// Done is closed when the leg ends: agent BYE, media timeout or Hangup.
func (l *AgentLeg) Done() <-chan struct{} { return l.done }

// HungUpBy is "agent" or "system" once the leg has ended, "" before.
func (l *AgentLeg) HungUpBy() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hungUpBy
}

// EndReason says why the leg ended (bye, hangup, media_timeout, ...); empty
// while it is up.
func (l *AgentLeg) EndReason() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reason
}

// Hangup ends the leg from our side (BYE) if it is still up; idempotent.
func (l *AgentLeg) Hangup(ctx context.Context) { l.end(ctx, HungUpBySystem, "hangup") }

// DialAgent rings an agent's registered contact (S1) from the server's own
// SIP address and returns the answered leg with its media running. It
// returns ErrAgentBusy, ErrAgentDeclined or ErrAgentNoAnswer when the agent
// did not connect, and ctx.Err() when ctx ended first (the caller hung up,
// or another agent of a ring-all group answered): the ringing phone then
// gets CANCEL, or BYE if it answered meanwhile.
func (s *Server) DialAgent(ctx context.Context, o DialAgentOptions) (*AgentLeg, error) {
	l, result, err := s.dialAgent(ctx, o)
	s.metrics.agentLeg(result)
	return l, err
}

func (s *Server) dialAgent(ctx context.Context, o DialAgentOptions) (*AgentLeg, string, error) {
	var target sip.Uri
	if err := sip.ParseUri(o.Contact, &target); err != nil {
		return nil, legFailed, fmt.Errorf("dial agent %s: contact %q: %w", o.AgentID, sanitize(o.Contact), err)
	}
	return s.dialLeg(ctx, o, target, sipgo.AnswerOptions{})
}

// dialLeg sends the INVITE of an outbound leg to target (an agent's contact
// or the callback trunk, trunk.go) and waits for its answer; auth holds the
// digest credentials for a 401/407 challenge, if any.
func (s *Server) dialLeg(ctx context.Context, o DialAgentOptions, target sip.Uri, auth sipgo.AnswerOptions) (*AgentLeg, string, error) {
	select {
	case <-s.ready:
	default:
		return nil, legFailed, errors.New("dial agent: sip server is not running")
	}
	if o.RingTimeout <= 0 {
		o.RingTimeout = defaultRingTimeout
	}
	conn, port, err := s.ports.Listen(netip.IPv4Unspecified())
	if err != nil {
		return nil, legFailed, fmt.Errorf("dial agent %s: media port: %w", o.AgentID, err)
	}
	l := &AgentLeg{srv: s, conn: conn, port: port, agentID: o.AgentID, done: make(chan struct{}),
		transfers: make(chan TransferDestination, 1),
		advertise: s.advertiseTo(target), log: s.log.With("call_id", o.CallID, "agent", sanitize(o.AgentID))}
	sid := uint64(time.Now().UnixNano())
	l.local = media.LocalSDP{Addr: l.advertise, Port: port, SessionID: sid, Version: sid, Codecs: supported,
		DTMF: true, DTMFPayloadType: defaultDTMFPT, Direction: media.SendRecv}
	dlg, err := s.dua.WriteInvite(ctx, s.agentInvite(o, target, l.advertise, media.BuildSDP(l.local)),
		s.viaListener(l.advertise), sipgo.ClientRequestBuild)
	if err != nil {
		l.release()
		return nil, legFailed, fmt.Errorf("dial agent %s: send invite: %w", o.AgentID, err)
	}
	l.dlg = dlg
	l.log = l.log.With("sip_call_id", sanitize(dlg.InviteRequest.CallID().Value()))
	result, err := l.ring(ctx, o.RingTimeout, auth)
	if err != nil {
		l.log.Info("agent not connected", "result", result, "error", err)
		return nil, result, err
	}
	return l, legAnswered, nil
}

// ring waits for the agent's final response. The ring timeout or the end of
// ctx cancels the INVITE: with CANCEL once a provisional response came (RFC
// 3261 §9.1), else by dropping the transaction (there is nothing to cancel).
func (l *AgentLeg) ring(ctx context.Context, timeout time.Duration, opts sipgo.AnswerOptions) (string, error) {
	var provisional, timedOut atomic.Bool
	wctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stop := func() {
		if provisional.Load() {
			cancel(context.Canceled)
			return
		}
		cancel(sipgo.WaitAnswerForceCancelErr)
	}
	t := time.AfterFunc(timeout, func() { timedOut.Store(true); stop() })
	defer t.Stop()
	unhook := context.AfterFunc(ctx, stop)
	defer unhook()
	also := opts.OnResponse
	opts.OnResponse = func(r *sip.Response) error {
		if r.IsProvisional() {
			provisional.Store(true)
		}
		if also != nil {
			return also(r)
		}
		return nil
	}
	err := l.dlg.WaitAnswer(wctx, opts)
	if res := l.dlg.InviteResponse; err != nil && res != nil && res.IsSuccess() {
		// The 200 crossed our CANCEL (RFC 3261 §9.2): confirm it, then BYE.
		err = nil
	}
	if err != nil {
		l.release()
		return classifyRing(ctx, err, timedOut.Load())
	}
	if err := l.confirm(); err != nil {
		l.end(context.Background(), HungUpBySystem, "answer_failed")
		return legFailed, fmt.Errorf("agent %s answered: %w", l.agentID, err)
	}
	if ctx.Err() != nil {
		// The caller hung up (or, ring-all, another agent answered) while
		// this agent answered: BYE at once.
		l.end(context.Background(), HungUpBySystem, "cancelled")
		return legCancelled, ctx.Err()
	}
	return legAnswered, nil
}

// classifyRing maps a failed INVITE to the result and error DialAgent returns.
func classifyRing(ctx context.Context, err error, timedOut bool) (string, error) {
	var de *sipgo.ErrDialogResponse
	if errors.As(err, &de) {
		code := de.Res.StatusCode
		switch {
		case code == sip.StatusBusyHere || code == 600:
			return legBusy, fmt.Errorf("%w: %d", ErrAgentBusy, code)
		case code == 603:
			return legDeclined, fmt.Errorf("%w: %d", ErrAgentDeclined, code)
		case code == sip.StatusRequestTimeout || code == sip.StatusTemporarilyUnavailable:
			return legNoAnswer, fmt.Errorf("%w: %d", ErrAgentNoAnswer, code)
		case code == sip.StatusRequestTerminated && ctx.Err() == nil && timedOut:
			return legNoAnswer, fmt.Errorf("%w: 487 after ring timeout", ErrAgentNoAnswer)
		}
		if ctx.Err() == nil {
			return legFailed, fmt.Errorf("agent refused the call: %d %s", code, sanitize(de.Res.Reason))
		}
	}
	switch {
	case ctx.Err() != nil:
		return legCancelled, ctx.Err()
	case timedOut:
		return legNoAnswer, fmt.Errorf("%w: ring timeout", ErrAgentNoAnswer)
	}
	return legFailed, fmt.Errorf("invite agent: %w", err)
}

// confirm takes an answered INVITE to a running leg: ACK, SDP answer, media.
func (l *AgentLeg) confirm() error {
	s := l.srv
	l.answeredAt = time.Now()
	if l.dlg.ID == "" {
		id, err := sip.DialogIDFromResponse(l.dlg.InviteResponse)
		if err != nil {
			return fmt.Errorf("dialog id: %w", err)
		}
		l.dlg.ID = id
	}
	s.legs.add(l.dlg.ID, l)
	if err := l.dlg.Ack(context.Background()); err != nil {
		return fmt.Errorf("ack: %w", err)
	}
	ans, err := media.ParseSDP(l.dlg.InviteResponse.Body())
	if err != nil {
		return fmt.Errorf("sdp answer: %w", err)
	}
	if merr := s.checkMediaAddr(ans, responseSourceIP(l.dlg.InviteResponse), false, mediaFromAgent); merr != nil {
		return fmt.Errorf("sdp answer: %w", merr)
	}
	neg, err := media.Negotiate(ans, supported)
	if err != nil {
		return fmt.Errorf("sdp answer: %w", err)
	}
	l.mu.Lock()
	l.local.Codecs = []media.Codec{neg.Codec}
	l.local.DTMF, l.local.DTMFPayloadType = neg.DTMF, neg.DTMFPayloadType
	l.session = media.NewSession(media.SessionConfig{
		Conn: l.conn, LocalPort: l.port, Negotiated: neg,
		MediaTimeout: time.Duration(s.cfg.MediaTimeout), Pacer: s.pacer, Metrics: s.mmet, Logger: l.log,
	})
	l.session.Start()
	l.early.handTo(l.session)
	l.mu.Unlock()
	l.log.Info("agent answered", "codec", neg.Codec.Name, "dtmf", neg.DTMF, "rtp_port", l.port)
	go l.watch(l.session)
	return nil
}

// watch ends the leg when its media times out.
func (l *AgentLeg) watch(sess *media.Session) {
	select {
	case <-sess.TimedOut():
		l.log.Warn("agent media timeout: no rtp", "timeout", time.Duration(l.srv.cfg.MediaTimeout), "last_packet_at", sess.LastPacketAt())
		l.end(context.Background(), HungUpBySystem, endMediaTimeout)
	case <-l.done:
	}
}

// finish records the end of the leg and frees its media; false if it had ended.
func (l *AgentLeg) finish(by, reason string) bool {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return false
	}
	l.ended, l.hungUpBy, l.reason = true, by, reason
	l.mu.Unlock()
	l.release()
	close(l.done)
	l.log.Info("agent leg ended", "hung_up_by", by, "reason", reason)
	return true
}

// end finishes the leg and sends BYE when we are the side hanging up.
func (l *AgentLeg) end(ctx context.Context, by, reason string) {
	if by == HungUpBySystem {
		l.awaitNotify(ctx) // RFC 3515 §2.4.5: a transfer's final NOTIFY goes before our BYE
	}
	if !l.finish(by, reason) || by != HungUpBySystem {
		return
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), byeTimeout)
		defer cancel()
	}
	if err := l.dlg.Bye(ctx); err != nil {
		l.log.Debug("bye to agent failed", "error", err)
	}
}

// release stops the media, gives the port back and forgets the dialog.
func (l *AgentLeg) release() {
	l.mu.Lock()
	sess, conn := l.session, l.conn
	l.conn = nil
	l.mu.Unlock()
	if conn == nil {
		return
	}
	if sess != nil {
		_ = sess.Close()
	} else {
		_ = conn.Close()
	}
	l.srv.ports.Release(l.port)
	if l.dlg != nil && l.dlg.ID != "" {
		l.srv.legs.remove(l.dlg.ID, l)
	}
}

// agentInvite builds the INVITE to the agent: From shows the caller's number.
func (s *Server) agentInvite(o DialAgentOptions, target sip.Uri, adv netip.Addr, body []byte) *sip.Request {
	req := sip.NewRequest(sip.INVITE, target)
	if tr, ok := target.UriParams.Get("transport"); ok && tr != "" {
		req.SetTransport(strings.ToUpper(tr))
	}
	caller := callerUser(o.CallerID)
	from := &sip.FromHeader{DisplayName: caller, Address: sip.Uri{Scheme: "sip", User: caller, Host: adv.String()},
		Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: target.User, Host: target.Host, Port: target.Port},
		Params: sip.NewParams()}
	contact := s.contact(adv.String(), req.Transport())
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&contact)
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	return req
}

// viaListener makes a request leave from the server's listening socket, so
// the agent sees (and answers to) the hotline's address, not an ephemeral port.
func (s *Server) viaListener(adv netip.Addr) sipgo.ClientRequestOption {
	return func(_ *sipgo.Client, req *sip.Request) error {
		port := 0
		if a := s.udpAddr.Load(); a != nil && strings.EqualFold(req.Transport(), "UDP") {
			req.Laddr = sip.Addr{IP: a.IP, Port: a.Port}
			port = a.Port
		} else if a := s.streamAddr(req.Transport()); a != nil {
			port = a.Port
		}
		via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: strings.ToUpper(req.Transport()),
			Host: adv.String(), Port: port, Params: sip.NewParams()}
		via.Params.Add("branch", sip.GenerateBranch())
		via.Params.Add("rport", "")
		req.PrependHeader(via)
		return nil
	}
}

// advertiseTo is our address for the agent at target: the configured or
// specific listen address, else the local address routing to the agent.
func (s *Server) advertiseTo(target sip.Uri) netip.Addr {
	adv := s.advertiseFor(nil)
	if s.cfg.Advertise != "" || !adv.IsLoopback() {
		return adv
	}
	port := target.Port
	if port == 0 {
		port = 5060
	}
	c, err := net.Dial("udp", net.JoinHostPort(target.Host, strconv.Itoa(port)))
	if err != nil {
		return adv
	}
	defer c.Close()
	if ap, err := netip.ParseAddrPort(c.LocalAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return adv
}

// callerUser keeps the characters allowed in a SIP user part and a display
// name alike; anything else (quotes, CR/LF, '@', ';') is dropped.
func callerUser(id string) string {
	out := strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', strings.ContainsRune("+*#-._", r):
			return r
		}
		return -1
	}, id)
	if len(out) > 32 {
		out = out[:32]
	}
	if out == "" {
		return "anonymous"
	}
	return out
}

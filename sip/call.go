package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/hotline-dev/hotline/sip/media"
)

// Who ended a call (S11: the call record keeps who hung up first).
const (
	HungUpByCaller = "caller"
	HungUpBySystem = "system"
)

var errCallEnded = errors.New("call ended")

// ErrUnknownPrompt is returned by Play for a prompt name not in the library.
var ErrUnknownPrompt = errors.New("unknown prompt")

// Call is the caller leg of one hotline call: its dialog and media session.
// It implements the ivr package's Call interface.
type Call struct {
	srv       *Server
	dlg       *sipgo.DialogServerSession
	inviteTx  sip.ServerTransaction
	mediaFrom int // mediaFromCaller or mediaFromAgent (checkMediaAddr)
	session   *media.Session
	log       *slog.Logger
	ctx       context.Context
	cancel    context.CancelCauseFunc
	ackSDP    chan []byte
	advertise netip.Addr
	localPort int
	sessionID uint64

	id, sipCallID, caller, dialled string
	startedAt, answeredAt          time.Time

	mu        sync.Mutex  // guards session, the fields below and serialises re-INVITEs
	early     earlyDigits // SIP INFO keys that came before session did
	recording string
	localSDP  media.LocalSDP
	ended     bool
	endedAt   time.Time
	hungUpBy  string
	reason    string
}

// ID is our call id (a UUID), distinct from the SIP Call-ID.
func (c *Call) ID() string { return c.id }

// SIPCallID is the caller's SIP Call-ID.
func (c *Call) SIPCallID() string { return c.sipCallID }

// Caller is the caller's number (From user part).
func (c *Call) Caller() string { return c.caller }

// Dialled is the number the caller dialled (Request-URI user part).
func (c *Call) Dialled() string { return c.dialled }

// StartedAt is when the INVITE arrived.
func (c *Call) StartedAt() time.Time { return c.startedAt }

// AnsweredAt is when we sent 200; zero when the call was never answered.
func (c *Call) AnsweredAt() time.Time { return c.answeredAt }

// Answered reports whether the call was answered.
func (c *Call) Answered() bool { return !c.answeredAt.IsZero() }

// Logger returns the call's logger (with call_id on every line).
func (c *Call) Logger() *slog.Logger { return c.log }

// EndedAt is when the call ended (zero while it is up).
func (c *Call) EndedAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endedAt
}

// HungUpBy is "caller" or "system" once the call has ended.
func (c *Call) HungUpBy() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hungUpBy
}

// EndReason says why the call ended (bye, cancelled, media_timeout, shutdown, ...).
func (c *Call) EndReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// Media is the caller leg's RTP session (for bridging to an agent leg).
func (c *Call) Media() *media.Session { return c.media() }

// media is the call's session under the lock (a re-INVITE may race the
// answer); nil for a call that never got media (refused, no free port).
func (c *Call) media() *media.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// errNoMedia: the call has no media session (it was refused before the
// answer, e.g. for lack of RTP ports), so nothing can be played or heard.
var errNoMedia = errors.New("call has no media")

// SetRecording notes where the call's recording is written (S19).
func (c *Call) SetRecording(path string) {
	c.mu.Lock()
	c.recording = path
	c.mu.Unlock()
}

// Recording is the recording's path, empty when the call was not recorded.
func (c *Call) Recording() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recording
}

// MediaStats returns the RTP counters of the call's session.
func (c *Call) MediaStats() media.SessionStats {
	sess := c.media()
	if sess == nil {
		return media.SessionStats{}
	}
	return sess.Stats()
}

// Play plays the named prompts in order; with interruptible the first digit
// stops playback (barge-in) and is returned.
func (c *Call) Play(ctx context.Context, names []string, interruptible bool) (rune, error) {
	return c.play(ctx, names, media.PlayOptions{Interruptible: interruptible})
}

// PlayKeys plays the named prompts; the first digit in keys stops playback
// and is returned, any other digit is given to dropped and playback goes on.
func (c *Call) PlayKeys(ctx context.Context, names []string, keys string, dropped func(rune)) (rune, error) {
	return c.play(ctx, names, media.PlayOptions{Interruptible: true, Dropped: dropped,
		Stop: func(d rune) bool { return strings.ContainsRune(keys, d) }})
}

// PlayLoop repeats the prompts until ctx is done or (interruptible) a digit arrives.
func (c *Call) PlayLoop(ctx context.Context, names []string, interruptible bool) (rune, error) {
	return c.play(ctx, names, media.PlayOptions{Interruptible: interruptible, Loop: true})
}

func (c *Call) play(ctx context.Context, names []string, opts media.PlayOptions) (rune, error) {
	prompts := make([]*media.Prompt, 0, len(names))
	for _, n := range names {
		p, ok := c.srv.prompts[n]
		if !ok {
			return 0, fmt.Errorf("play %q: %w", n, ErrUnknownPrompt)
		}
		prompts = append(prompts, p)
	}
	for _, p := range prompts {
		c.srv.metrics.promptPlayed(p.Name)
	}
	sess := c.media()
	if sess == nil {
		return 0, errNoMedia
	}
	ctx, stop := c.bind(ctx)
	defer stop()
	return sess.Play(ctx, prompts, opts)
}

// ReadDigit waits up to timeout for the next digit; (0, nil) on timeout.
func (c *Call) ReadDigit(ctx context.Context, timeout time.Duration) (rune, error) {
	sess := c.media()
	if sess == nil {
		return 0, errNoMedia
	}
	ctx, stop := c.bind(ctx)
	defer stop()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d, err := sess.ReadDigit(tctx)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return 0, nil
	}
	return d, err
}

// SetMediaTimeout changes how long the call may go without RTP before it is
// hung up (end reason media_timeout): the IVR shortens it while the caller
// waits in a queue, where the phone sends RTP all the time, silence
// included. 0 or less restores sip.media_timeout. A shorter timeout applies
// only once the caller's RTP has flowed: RTP that stopped is a phone gone
// without its BYE, while a phone that never sent any (one-way audio,
// silence suppression) is not, and keeps sip.media_timeout.
func (c *Call) SetMediaTimeout(d time.Duration) {
	configured := time.Duration(c.srv.cfg.MediaTimeout)
	sess := c.media()
	if sess == nil {
		return
	}
	if d <= 0 || (d < configured && sess.Stats().PacketsIn == 0) {
		d = configured
	}
	sess.SetMediaTimeout(d)
}

// LastPacketAt is when the caller's last valid RTP packet arrived (see
// media.Session.LastPacketAt); zero before the call is answered.
func (c *Call) LastPacketAt() time.Time {
	sess := c.media()
	if sess == nil {
		return time.Time{}
	}
	return sess.LastPacketAt()
}

// FlushDigits drops digits typed ahead and returns how many.
func (c *Call) FlushDigits() int {
	if sess := c.media(); sess != nil {
		return sess.FlushDigits()
	}
	return 0
}

// bind makes ctx end when the call ends, so no media wait outlives the call.
func (c *Call) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(c.ctx, func() { cancel(context.Cause(c.ctx)) })
	return ctx, func() { stop(); cancel(nil) }
}

// Hangup ends the call from our side (BYE) if it is still up.
func (c *Call) Hangup(_ context.Context) { c.end(HungUpBySystem, "hangup") }

// finish records the end of the call without sending anything.
func (c *Call) finish(by, reason string) bool {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return false
	}
	c.ended, c.endedAt, c.hungUpBy, c.reason = true, time.Now(), by, reason
	c.mu.Unlock()
	c.cancel(errCallEnded)
	return true
}

// end finishes the call and sends BYE when we are the side hanging up.
func (c *Call) end(by, reason string) {
	if !c.finish(by, reason) {
		return
	}
	if by != HungUpBySystem || c.answeredAt.IsZero() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.dlg.Bye(ctx); err != nil {
		c.log.Debug("bye failed", "error", err)
	}
}

// readAck confirms the dialog; its SDP (if any) answers our offer.
func (c *Call) readAck(req *sip.Request) {
	if body := req.Body(); len(body) > 0 {
		select {
		case c.ackSDP <- body:
		default:
		}
	}
	if err := c.dlg.ReadAck(req, nil); err != nil {
		c.log.Debug("ack ignored", "error", err)
	}
}

// readBye answers the caller's BYE and ends the call.
func (c *Call) readBye(req *sip.Request, tx sip.ServerTransaction) {
	c.finish(HungUpByCaller, "bye")
	if err := c.dlg.ReadBye(req, tx); err != nil {
		c.log.Debug("bye rejected", "error", err)
		c.srv.respond(tx, sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad BYE", nil))
	}
}

// pushDigit adds a SIP INFO digit to the media digit stream; before the
// media session starts (an INFO that overtook the ACK) the digit waits for it.
func (c *Call) pushDigit(d rune) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session == nil {
		if len(c.early.keys) == 0 {
			// Rare (the ACK lost or late): a line tells a soak's lost key apart.
			c.log.Info("sip info before the ack: key held until media starts")
		}
		c.early.add(d)
		return
	}
	c.session.PushDigit(d)
}

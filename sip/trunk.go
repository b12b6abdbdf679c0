package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/hotline-dev/hotline/sip/media"
)

// ErrBadNumber: a number to dial out is not 3–20 digits.
var ErrBadNumber = errors.New("number to dial is not 3 to 20 digits")

// maxDialDigits bounds a number dialled through the trunk (E.164 has 15
// digits; national prefixes add a few).
const maxDialDigits = 20

// DialOutOptions say whom DialOut calls through the outbound trunk.
type DialOutOptions struct {
	// Trunk is the trunk's SIP URI (callbacks.trunk), e.g.
	// "sip:gw.example.net:5060;transport=udp"; its user part is replaced by
	// Number.
	Trunk string
	// Number is the callee's number: digits only, checked here again
	// whatever the caller of DialOut checked (toll fraud).
	Number string
	// User and Password answer the trunk's digest challenge (401/407); empty:
	// no credentials.
	User, Password string
	// CallerID is shown to the callee (From), e.g. the hotline's number.
	CallerID    string
	RingTimeout time.Duration
	CallID      string // our call id, for logs
	// Ringing, when set, runs once at the callee's first provisional
	// response (180/183: the phone rings).
	Ringing func()
}

// DialOut calls a number through the outbound trunk (the callee of a
// callback, S9) and returns the answered leg with its media running: the
// same kind of UAC leg as an agent's, so it bridges the same way. Errors
// are those of DialAgent (busy, declined, no answer) or ErrBadNumber.
func (s *Server) DialOut(ctx context.Context, o DialOutOptions) (*AgentLeg, error) {
	if !digitsOnly(o.Number) {
		return nil, fmt.Errorf("dial out: %w", ErrBadNumber)
	}
	var target sip.Uri
	if err := sip.ParseUri(o.Trunk, &target); err != nil {
		return nil, fmt.Errorf("dial out: trunk %q: %w", sanitize(o.Trunk), err)
	}
	target.User = o.Number
	target.Password = ""
	l, result, err := s.dialLeg(ctx, DialAgentOptions{AgentID: "trunk", CallerID: o.CallerID,
		RingTimeout: o.RingTimeout, CallID: o.CallID}, target, sipgo.AnswerOptions{Username: o.User, Password: o.Password, OnResponse: onRinging(o.Ringing)})
	s.metrics.trunkLeg(result)
	return l, err
}

// onRinging calls fn once, at the first provisional response other than 100.
func onRinging(fn func()) func(*sip.Response) error {
	if fn == nil {
		return nil
	}
	var once sync.Once
	return func(r *sip.Response) error {
		if r.IsProvisional() && r.StatusCode != sip.StatusTrying {
			once.Do(fn)
		}
		return nil
	}
}

func digitsOnly(n string) bool {
	if len(n) < 3 || len(n) > maxDialDigits {
		return false
	}
	for _, c := range []byte(n) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Media is the leg's RTP session (Bridged: a callee's leg is the caller
// side of a callback's bridge).
func (l *AgentLeg) Media() *media.Session { return l.session }

// Logger is the leg's logger.
func (l *AgentLeg) Logger() *slog.Logger { return l.log }

// SetRecording notes the recording the leg's bridge writes (S19).
func (l *AgentLeg) SetRecording(path string) {
	l.mu.Lock()
	l.recording = path
	l.mu.Unlock()
}

// Recording is the path SetRecording noted, "" for none.
func (l *AgentLeg) Recording() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.recording
}

// SIPCallID is the leg's SIP Call-ID.
func (l *AgentLeg) SIPCallID() string {
	if l.dlg == nil {
		return ""
	}
	return l.dlg.InviteRequest.CallID().Value()
}

// Play plays named prompts to the leg's phone (a callback's callee hears
// who is calling before the agent is bridged). It returns when they were
// played, the leg ended, or ctx is done.
func (l *AgentLeg) Play(ctx context.Context, names []string) error {
	prompts := make([]*media.Prompt, 0, len(names))
	for _, n := range names {
		p, ok := l.srv.prompts[n]
		if !ok {
			return fmt.Errorf("play %q: %w", n, ErrUnknownPrompt)
		}
		prompts = append(prompts, p)
	}
	sess := l.Media()
	if sess == nil {
		return errNoMedia
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-l.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	for _, p := range prompts {
		l.srv.metrics.promptPlayed(p.Name)
	}
	_, err := sess.Play(ctx, prompts, media.PlayOptions{})
	return err
}

// ReadDigit waits up to timeout for a digit from the leg's phone; (0, nil)
// on timeout.
func (l *AgentLeg) ReadDigit(ctx context.Context, timeout time.Duration) (rune, error) {
	sess := l.Media()
	if sess == nil {
		return 0, errNoMedia
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d, err := sess.ReadDigit(tctx)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return 0, nil
	}
	return d, err
}

// FlushDigits drops digits not yet read and returns how many.
func (l *AgentLeg) FlushDigits() int {
	if sess := l.Media(); sess != nil {
		return sess.FlushDigits()
	}
	return 0
}

// SetMediaTimeout changes how long the leg may go without RTP; 0 or less
// restores sip.media_timeout.
func (l *AgentLeg) SetMediaTimeout(d time.Duration) {
	if d <= 0 {
		d = time.Duration(l.srv.cfg.MediaTimeout)
	}
	if sess := l.Media(); sess != nil {
		sess.SetMediaTimeout(d)
	}
}

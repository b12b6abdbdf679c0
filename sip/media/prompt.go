package media

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Frame geometry of G.711 at 8 kHz with the default 20 ms packetization
// (RFC 3551 section 4.5: ptime 20 ms for PCMU/PCMA).
const (
	frameSamples  = 160
	frameDuration = 20 * time.Millisecond
)

// Prompt is a piece of 8 kHz mono audio ready for playback. The PCM is encoded
// ONCE per codec when the prompt is created; playback only slices the
// pre-encoded frames.
type Prompt struct {
	// Name identifies the prompt in logs and in a Library.
	Name string

	frames int
	pcmu   []byte // frames*160 bytes of µ-law
	pcma   []byte // frames*160 bytes of A-law
}

// Library maps prompt names to prompts.
type Library map[string]*Prompt

// NewPrompt encodes 8 kHz mono pcm to PCMU and PCMA in whole 160-sample frames;
// the last frame is padded with the codec's silence byte.
func NewPrompt(name string, pcm []int16) *Prompt {
	frames := (len(pcm) + frameSamples - 1) / frameSamples
	return &Prompt{
		Name:   name,
		frames: frames,
		pcmu:   encodeFrames(PCMU, pcm, frames),
		pcma:   encodeFrames(PCMA, pcm, frames),
	}
}

func encodeFrames(c Codec, pcm []int16, frames int) []byte {
	size := frames * frameSamples
	buf := c.Encode(make([]byte, 0, size), pcm)
	silence := c.SilenceByte()
	for len(buf) < size {
		buf = append(buf, silence)
	}
	return buf
}

// Duration is the playing time of the prompt (whole frames).
func (p *Prompt) Duration() time.Duration { return time.Duration(p.frames) * frameDuration }

// Frames is the number of 20 ms frames of the prompt.
func (p *Prompt) Frames() int { return p.frames }

// frame returns the pre-encoded payload of frame i for codec c, or nil when
// the prompt has no encoding for c.
func (p *Prompt) frame(c Codec, i int) []byte {
	var enc []byte
	switch {
	case sameFormat(c, PCMU):
		enc = p.pcmu
	case sameFormat(c, PCMA):
		enc = p.pcma
	default:
		return nil
	}
	off := i * frameSamples
	return enc[off : off+frameSamples : off+frameSamples]
}

// sameFormat reports whether a and b are the same audio format (encoding
// names are case-insensitive, RFC 4566 section 6).
func sameFormat(a, b Codec) bool {
	return strings.EqualFold(a.Name, b.Name) && a.ClockRate == b.ClockRate
}

// playable reports whether prompts can be sent with codec c.
func playable(c Codec) bool { return sameFormat(c, PCMU) || sameFormat(c, PCMA) }

// Play sends the prompts one after another on the pacer's 20 ms grid. With
// Interruptible, the first DTMF digit stops playback (barge-in) and is
// returned; it stays consumed (PlayOptions.Stop narrows which digits do). With Loop, the list repeats until ctx is done
// or (if Interruptible) a digit arrives. Play returns (0, nil) when finished
// (at once when the prompts hold no audio), (d, nil) on barge-in, ctx.Err()
// when ctx is done and ErrClosed after Close or a media timeout. Concurrent
// calls play one after the other.
func (s *Session) Play(ctx context.Context, prompts []*Prompt, opts PlayOptions) (rune, error) {
	if err := s.acquirePlay(ctx); err != nil {
		return 0, err
	}
	defer func() { <-s.playSem }()
	st, err := s.startStream(prompts, opts.Loop)
	if err != nil || st == nil {
		return 0, err
	}
	defer s.stopStream(st)
	var digits <-chan rune
	if opts.Interruptible {
		digits = s.digits
	}
	for {
		select {
		case <-st.done:
			return 0, nil
		case <-st.cut:
			return 0, ErrBridged
		case d := <-digits:
			if opts.Stop == nil || opts.Stop(d) {
				return d, nil
			}
			if opts.Dropped != nil {
				opts.Dropped(d)
			}
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-s.closed:
			return 0, ErrClosed
		case <-s.timedOut:
			return 0, ErrClosed
		case <-s.pacer.done:
			return 0, errPacerStopped
		}
	}
}

// acquirePlay waits for the previous Play of the session to end.
func (s *Session) acquirePlay(ctx context.Context) error {
	if err := s.ended(); err != nil {
		return err
	}
	select {
	case s.playSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		return ErrClosed
	case <-s.timedOut:
		return ErrClosed
	}
}

// startStream registers the playback with the pacer; it returns a nil stream
// when there is nothing to play.
func (s *Session) startStream(prompts []*Prompt, loop bool) (*stream, error) {
	if s.pacer == nil {
		return nil, errors.New("play: session has no pacer")
	}
	if c := s.peer.Load().neg.Codec; !playable(c) {
		return nil, fmt.Errorf("play with codec %q: prompts exist only in PCMU and PCMA", c.Name)
	}
	st := newStream(s, prompts, loop)
	if st == nil {
		return nil, nil
	}
	lockWithoutHandoff(&s.tx.mu) // the pacer's worker takes it too
	s.takeBackLocked()
	s.tx.playing = st // pauses relayed audio to this side (relay.go)
	s.tx.mu.Unlock()
	if err := s.shard.add(st); err != nil {
		s.stopStream(st)
		return nil, fmt.Errorf("play: %w", err)
	}
	return st, nil
}

// stopStream makes the pacer drop st; no packet of st is sent after it returns.
func (s *Session) stopStream(st *stream) {
	lockWithoutHandoff(&s.tx.mu)
	st.stopped = true
	if s.tx.playing == st {
		s.tx.playing = nil
	}
	s.tx.mu.Unlock()
}

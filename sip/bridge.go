package sip

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hotline-dev/hotline/sip/media"
)

// endMediaTimeout is the end reason of a leg whose RTP stopped.
const endMediaTimeout = "media_timeout"

// BridgeOptions says how a caller is bridged to an answered leg.
type BridgeOptions struct {
	// RecordTo is the WAV file for both directions (S19); empty: not recorded.
	RecordTo string
	// HoldMusic names the prompt looped to the side still listening while
	// the other holds; empty or unknown: silence.
	HoldMusic string
}

// BridgeEnd is how a bridged conversation ended.
type BridgeEnd struct {
	// Transfer is set when the agent transferred the caller (S10).
	Transfer *TransferDestination
	// AgentHungUp: the agent's side hung up first (S11).
	AgentHungUp bool
	// AgentLost: the agent's phone vanished (no BYE, no RTP until the media
	// timeout).
	AgentLost bool
	// Recorded is the recording's path when one was written.
	Recorded string
}

// Bridged is the caller's side of a bridge: an answered inbound *Call, or
// the callee's leg of a callback placed through the trunk (an *AgentLeg).
type Bridged interface {
	Media() *media.Session
	Logger() *slog.Logger
	SetRecording(path string)
}

// Bridge relays RTP between the caller and this answered leg (transcoding
// when their codecs differ) until either side hangs up, the agent transfers
// the caller, or ctx ends (the leg then gets BYE). A recording that cannot
// be started is logged and the call goes on unrecorded: the conversation
// matters more than its copy.
func (l *AgentLeg) Bridge(ctx context.Context, c Bridged, o BridgeOptions) BridgeEnd {
	opts := media.BridgeOptions{HoldMusic: l.srv.prompts[o.HoldMusic], Logger: c.Logger()}
	var end BridgeEnd
	if o.RecordTo != "" {
		rec, err := startRecording(o.RecordTo)
		if err != nil {
			c.Logger().Error("start recording", "err", err)
		} else {
			opts.Recorder = rec
			c.SetRecording(o.RecordTo)
			end.Recorded = o.RecordTo
			defer func() {
				if err := rec.Close(); err != nil {
					c.Logger().Error("finish recording", "err", err)
				}
			}()
		}
	}
	br := media.NewBridge(c.Media(), l.Session(), opts)
	br.Start()
	defer br.Stop()
	select {
	case d := <-l.Transfers(): // S10: the agent's leg ends itself (NOTIFY, BYE)
		end.Transfer = &d
	case <-l.Done():
		if d, ok := l.TransferredTo(); ok {
			end.Transfer = &d
		} else {
			end.AgentHungUp = l.HungUpBy() == HungUpByAgent
			end.AgentLost = l.EndReason() == endMediaTimeout
		}
	case <-ctx.Done():
		l.Hangup(context.WithoutCancel(ctx))
	}
	return end
}

func startRecording(path string) (*media.Recorder, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("recording folder: %w", err)
	}
	return media.NewRecorder(path)
}

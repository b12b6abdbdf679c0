package sip

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/sip/media"
)

// A call refused before it had media (no free RTP port) still reaches its
// handler, which may play or read digits: that must be an error, never a
// nil dereference that takes the node down.
func TestCallWithoutMediaDoesNotPanic(t *testing.T) {
	srv := testServer(t, nil)
	c := &Call{srv: srv, log: srv.log}
	ctx := context.Background()
	if _, err := c.Play(ctx, nil, false); !errors.Is(err, errNoMedia) {
		t.Fatalf("Play without media: %v, want errNoMedia", err)
	}
	if _, err := c.ReadDigit(ctx, time.Millisecond); !errors.Is(err, errNoMedia) {
		t.Fatalf("ReadDigit without media: %v, want errNoMedia", err)
	}
	if _, err := c.PlayKeys(ctx, nil, "3", nil); !errors.Is(err, errNoMedia) {
		t.Fatalf("PlayKeys without media: %v, want errNoMedia", err)
	}
	if n := c.FlushDigits(); n != 0 {
		t.Fatalf("FlushDigits without media = %d", n)
	}
	c.SetMediaTimeout(time.Second)
	if !c.LastPacketAt().IsZero() || c.MediaStats() != (media.SessionStats{}) {
		t.Fatal("a call without media reports media")
	}
}

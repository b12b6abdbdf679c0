package panel

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/tickets/api"
)

// A panel that does not read is dropped; the publisher never waits for it
// and the other panels get every event.
func TestSlowPanelDropped(t *testing.T) {
	h := NewHub(HubConfig{Buffer: 4}, nil, nil)
	slow, err := h.join(api.Principal{Agent: "1001", Role: "agent"})
	if err != nil {
		t.Fatal(err)
	}
	fast, err := h.join(api.Principal{Agent: "2001", Role: "supervisor"})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan int)
	go func() {
		n := 0
		for range fast.ch {
			if n++; n == 100 {
				got <- n
				return
			}
		}
	}()
	start := time.Now()
	for i := range 100 {
		h.Publish(agents.Event{Type: agents.EventState, Agent: "1001", To: agents.StateRinging, CallID: string(rune('a' + i%26))})
		time.Sleep(time.Millisecond) // let the reader keep up, as a browser on a good link does
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("publishing took %v: it waited for a slow panel", d)
	}
	select {
	case <-slow.gone:
	default:
		t.Fatal("the slow panel was not dropped")
	}
	if len(slow.ch) != 4 {
		t.Errorf("slow panel holds %d events, want its full buffer of 4", len(slow.ch))
	}
	select {
	case n := <-got:
		if n != 100 {
			t.Fatal(n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the reading panel did not get every event")
	}
	h.leave(slow)
	h.leave(fast)
	if h.Clients() != 0 {
		t.Fatalf("%d panels left", h.Clients())
	}
}

// A subscription that closes early is made again, and every panel is told
// to reload its state (events may have been missed).
func TestHubResubscribes(t *testing.T) {
	h := NewHub(HubConfig{}, nil, nil)
	c, _ := h.join(api.Principal{Agent: "1001", Role: "agent"})
	first := make(chan []byte)
	second := make(chan []byte, 1)
	calls := 0
	sub := func(ctx context.Context) (<-chan []byte, error) {
		calls++
		if calls == 1 {
			return first, nil
		}
		return second, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.Run(ctx, sub) }()
	close(first)
	select {
	case f := <-c.ch:
		if string(f.frame) != "event: resync\ndata: {}\n\n" {
			t.Fatalf("frame %q", f.frame)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no resync after the subscription was made again")
	}
	second <- []byte("{\"type\": \"state\",\n \"agent\": \"1001\", \"to\": \"available\"}")
	select {
	case f := <-c.ch:
		if want := `"to":"available"`; !strings.Contains(string(f.frame), want) {
			t.Fatalf("frame %q lacks %s", f.frame, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event from the new subscription")
	}
	cancel()
	close(second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Event types that could break the SSE framing are never sent.
func TestEventTypeChecked(t *testing.T) {
	for _, tc := range []struct {
		typ string
		ok  bool
	}{{"state", true}, {"call_ended", true}, {"", false}, {"a\nb", false}, {"State", false}, {"x:y", false}, {strings.Repeat("a", 40), false}} {
		if got := validType(tc.typ); got != tc.ok {
			t.Errorf("validType(%q) = %v", tc.typ, got)
		}
	}
}

// panel.grafana_url must be an http(s) base URL.
func TestValidateGrafanaURL(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"", true}, {"https://grafana.example.org", true}, {"http://127.0.0.1:3000/", true},
		{"grafana.example.org", false}, {"javascript:alert(1)", false}, {"https://g.example.org/?x=1", false}, {"ftp://g", false},
	} {
		if err := ValidateGrafanaURL(tc.url); (err == nil) != tc.ok {
			t.Errorf("ValidateGrafanaURL(%q) = %v", tc.url, err)
		}
	}
}

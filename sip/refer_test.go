package sip

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/hotline-dev/hotline/sip/siptest"
	"github.com/prometheus/client_golang/prometheus"
)

// allowlist is the test's TransferTarget: two known targets, and every call recorded.
type allowlist struct {
	mu    sync.Mutex
	calls []string // "agentID target"
}

func (a *allowlist) lookup(_ context.Context, agentID, target string) (TransferDestination, error) {
	a.mu.Lock()
	a.calls = append(a.calls, agentID+" "+target)
	a.mu.Unlock()
	switch target {
	case "queue-complaint":
		return TransferDestination{Kind: TransferToQueue, Value: "complaint"}, nil
	case "1002":
		return TransferDestination{Kind: TransferToAgent, Value: "1002"}, nil
	}
	return TransferDestination{}, fmt.Errorf("target %q: %w", target, ErrTransferForbidden)
}

func (a *allowlist) called() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.calls...)
}

// referEnv is a server with the allowlist and an answered agent leg to the fake agent 1001.
type referEnv struct {
	srv   *Server
	reg   *prometheus.Registry
	allow *allowlist
	agent *fakeAgent
	leg   *AgentLeg
}

func newReferEnv(t *testing.T) *referEnv {
	t.Helper()
	e := &referEnv{reg: prometheus.NewRegistry(), allow: &allowlist{}}
	e.srv = testServer(t, func(o *Options) {
		o.TransferTarget = e.allow.lookup
		o.Metrics = NewMetrics(e.reg)
	})
	e.agent = newFakeAgent(t, uasAnswer)
	leg, err := e.srv.DialAgent(context.Background(), DialAgentOptions{AgentID: "1001", Contact: e.agent.contact(), CallerID: "100"})
	if err != nil {
		t.Fatalf("DialAgent: %v", err)
	}
	e.leg = leg
	t.Cleanup(func() { leg.Hangup(context.Background()) })
	return e
}

// refer sends a REFER with hdrs from the agent's phone in the answered dialog.
func (e *referEnv) refer(t *testing.T, hdrs ...sip.Header) (*sip.Request, *sip.Response) {
	t.Helper()
	dlg := e.agent.dialog()
	req := sip.NewRequest(sip.REFER, dlg.InviteRequest.Contact().Address)
	req.AppendHeader(sip.NewHeader("Referred-By", "<sip:1001@127.0.0.1>"))
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := dlg.Do(ctx, req)
	if err != nil {
		t.Fatalf("refer: %v", err)
	}
	return req, res
}

// referCount reads hotline_sip_refers_total{result}.
func referCount(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "hotline_sip_refers_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no hotline_sip_refers_total{result=%q}", result)
	return 0
}

// checkNotify checks the final NOTIFY of RFC 3515 §2.4.5 for the REFER sent.
func checkNotify(t *testing.T, n, refer *sip.Request) {
	t.Helper()
	want := map[string]string{
		"Event":              "refer;id=" + strconv.FormatUint(uint64(refer.CSeq().SeqNo), 10),
		"Subscription-State": "terminated;reason=noresource",
		"Content-Type":       "message/sipfrag;version=2.0",
		"Call-ID":            refer.CallID().Value(),
	}
	for name, v := range want {
		if h := n.GetHeader(name); h == nil || h.Value() != v {
			t.Errorf("NOTIFY %s = %v, want %q", name, h, v)
		}
	}
	if got := strings.TrimSpace(string(n.Body())); got != "SIP/2.0 200 OK" {
		t.Errorf("NOTIFY body %q, want the sipfrag SIP/2.0 200 OK", got)
	}
}

func TestReferAccepted(t *testing.T) {
	tests := []struct {
		name   string
		header sip.Header
		target string
		want   TransferDestination
	}{
		{"name-addr to a queue", sip.NewHeader("Refer-To", "<sip:queue-complaint@x>"), "queue-complaint",
			TransferDestination{TransferToQueue, "complaint"}},
		{"addr-spec with uri parameters", sip.NewHeader("Refer-To", "sip:1002@127.0.0.1;transport=udp"), "1002",
			TransferDestination{TransferToAgent, "1002"}},
		{"compact form with display name and header parameters", sip.NewHeader("r", `"Desk" <sip:1002@x;user=phone>;foo=bar`), "1002",
			TransferDestination{TransferToAgent, "1002"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newReferEnv(t)
			req, res := e.refer(t, tt.header)
			if res.StatusCode != sip.StatusAccepted {
				t.Fatalf("REFER answered %d %s, want 202", res.StatusCode, res.Reason)
			}
			if got := e.allow.called(); len(got) != 1 || got[0] != "1001 "+tt.target {
				t.Errorf("allowlist called with %q, want [\"1001 %s\"]", got, tt.target)
			}
			if d := receive(t, e.leg.Transfers(), "transfer"); d != tt.want {
				t.Errorf("Transfers() = %+v, want %+v", d, tt.want)
			}
			checkNotify(t, receive(t, e.agent.notifies, "notify at the agent"), req)
			select {
			case <-e.leg.Done():
				t.Fatal("leg ended before the agent hung up")
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := e.agent.dialog().Bye(ctx); err != nil { // phones hang up after the final NOTIFY
				t.Fatalf("agent bye: %v", err)
			}
			receive(t, e.leg.Done(), "leg done")
			if d, ok := e.leg.TransferredTo(); !ok || d != tt.want || e.leg.HungUpBy() != HungUpByAgent {
				t.Errorf("TransferredTo = %+v, %v; hung up by %q; want %+v, true, agent", d, ok, e.leg.HungUpBy(), tt.want)
			}
			if n := referCount(t, e.reg, referAccepted); n != 1 {
				t.Errorf("refers accepted = %v, want 1", n)
			}
		})
	}
}

// The agent's phone keeps the line after the final NOTIFY: we hang up.
func TestReferAgentKeepsLine(t *testing.T) {
	e := newReferEnv(t)
	if _, res := e.refer(t, sip.NewHeader("Refer-To", "<sip:queue-complaint@x>")); res.StatusCode != sip.StatusAccepted {
		t.Fatalf("REFER answered %d, want 202", res.StatusCode)
	}
	receive(t, e.agent.byes, "bye from the hotline")
	receive(t, e.leg.Done(), "leg done")
	if len(e.agent.notifies) != 1 {
		t.Errorf("%d NOTIFYs before our BYE, want 1", len(e.agent.notifies))
	}
	if e.leg.HungUpBy() != HungUpBySystem || e.srv.ports.InUse() != 0 {
		t.Errorf("hung up by %q, ports in use %d; want system, 0", e.leg.HungUpBy(), e.srv.ports.InUse())
	}
}

// The connector hangs up as soon as the transfer is delivered: the final
// NOTIFY still reaches the agent before our BYE.
func TestReferHangupWaitsForNotify(t *testing.T) {
	e := newReferEnv(t)
	go func() {
		<-e.leg.Transfers()
		e.leg.Hangup(context.Background())
	}()
	if _, res := e.refer(t, sip.NewHeader("Refer-To", "<sip:1002@x>")); res.StatusCode != sip.StatusAccepted {
		t.Fatalf("REFER answered %d, want 202", res.StatusCode)
	}
	receive(t, e.agent.byes, "bye from the hotline")
	if len(e.agent.notifies) != 1 {
		t.Errorf("%d NOTIFYs before our BYE, want 1", len(e.agent.notifies))
	}
}

func TestReferRefused(t *testing.T) {
	tests := []struct {
		name    string
		hdrs    []sip.Header
		status  int
		result  string // "" when the guard answers before the handler
		allowed bool   // the allowlist was asked
	}{
		{"target not on the allowlist", []sip.Header{sip.NewHeader("Refer-To", "<sip:9999@x>")}, 403, referForbidden, true},
		{"web uri", []sip.Header{sip.NewHeader("Refer-To", "<http://evil.example/x>")}, 403, referForbidden, false},
		{"no Refer-To", nil, 400, referBadRequest, false},
		{"two Refer-To", []sip.Header{sip.NewHeader("Refer-To", "<sip:1002@x>"), sip.NewHeader("Refer-To", "<sip:queue-complaint@x>")},
			400, referBadRequest, false},
		{"no user part", []sip.Header{sip.NewHeader("Refer-To", "<sip:x>")}, 400, referBadRequest, false},
		{"user with a quote", []sip.Header{sip.NewHeader("Refer-To", "<sip:10%2702@x>")}, 400, referBadRequest, false},
		{"unparseable", []sip.Header{sip.NewHeader("Refer-To", "garbage")}, 400, "", false},
		{"attended transfer with Replaces", []sip.Header{sip.NewHeader("Refer-To", "<sip:1002@x?Replaces=abc%40d%3Bto-tag%3D1%3Bfrom-tag%3D2>")},
			501, referNotImplemented, false},
		{"method other than INVITE", []sip.Header{sip.NewHeader("Refer-To", "<sip:1002@x;method=BYE>")}, 501, referNotImplemented, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newReferEnv(t)
			_, res := e.refer(t, tt.hdrs...)
			if res.StatusCode != tt.status {
				t.Fatalf("REFER answered %d %s, want %d", res.StatusCode, res.Reason, tt.status)
			}
			if got := len(e.allow.called()) > 0; got != tt.allowed {
				t.Errorf("allowlist asked: %v, want %v", got, tt.allowed)
			}
			if tt.result != "" {
				if n := referCount(t, e.reg, tt.result); n != 1 {
					t.Errorf("refers %s = %v, want 1", tt.result, n)
				}
			}
			if n := referCount(t, e.reg, referAccepted); n != 0 {
				t.Errorf("refers accepted = %v, want 0", n)
			}
			time.Sleep(100 * time.Millisecond) // room for a wrong NOTIFY or BYE
			select {
			case d := <-e.leg.Transfers():
				t.Errorf("transfer delivered: %+v", d)
			case <-e.leg.Done():
				t.Error("leg ended")
			case <-e.agent.notifies:
				t.Error("NOTIFY sent for a refused REFER")
			default:
			}
			if _, ok := e.leg.TransferredTo(); ok {
				t.Error("TransferredTo reports a transfer")
			}
		})
	}
}

// A REFER on the caller's leg is never acted on; one outside any dialog has none.
func TestReferNotOnAgentLeg(t *testing.T) {
	reg, allow := prometheus.NewRegistry(), &allowlist{}
	calls := make(chan *Call, 1)
	srv := testServer(t, func(o *Options) {
		o.TransferTarget, o.Metrics = allow.lookup, NewMetrics(reg)
		o.Handler = func(ctx context.Context, c *Call) { calls <- c; <-ctx.Done() }
	})
	caller, err := siptest.NewCaller("caller", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("caller: %v", err)
	}
	t.Cleanup(func() { _ = caller.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	call, err := caller.Dial(ctx, siptest.DialOptions{Target: "sip:12345@" + srv.UDPAddr().String()})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = call.Hangup(context.Background()) })
	c := receive(t, calls, "call")
	inDialog := func(r *sip.Request) {
		r.AppendHeader(sip.HeaderClone(c.dlg.InviteRequest.From()))
		r.AppendHeader(sip.HeaderClone(c.dlg.InviteResponse.To())) // with our tag
		r.AppendHeader(sip.HeaderClone(c.dlg.InviteRequest.CallID()))
		r.AppendHeader(&sip.CSeqHeader{SeqNo: c.dlg.InviteRequest.CSeq().SeqNo + 1, MethodName: sip.REFER})
	}
	tests := []struct {
		name   string
		build  func(*sip.Request)
		status int
		result string
	}{
		{"caller leg", inDialog, 403, referForbidden},
		{"outside a dialog", func(*sip.Request) {}, 481, referNoDialog},
	}
	cli := referClient(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := sip.NewRequest(sip.REFER, sip.Uri{Scheme: "sip", User: "12345", Host: "127.0.0.1", Port: srv.UDPAddr().Port})
			tt.build(req)
			req.AppendHeader(sip.NewHeader("Refer-To", "<sip:queue-complaint@x>"))
			res, err := cli.Do(ctx, req)
			if err != nil {
				t.Fatalf("refer: %v", err)
			}
			if res.StatusCode != tt.status || referCount(t, reg, tt.result) != 1 {
				t.Errorf("REFER answered %d, refers %s = %v; want %d, 1", res.StatusCode, tt.result, referCount(t, reg, tt.result), tt.status)
			}
		})
	}
	if got := allow.called(); len(got) != 0 {
		t.Errorf("allowlist asked %q, want never", got)
	}
	if c.HungUpBy() != "" {
		t.Errorf("caller leg ended (%s) by a REFER", c.HungUpBy())
	}
}

// referClient is a plain sipgo client on loopback.
func referClient(t *testing.T) *sipgo.Client {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatalf("ua: %v", err)
	}
	t.Cleanup(func() { _ = ua.Close() })
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return cli
}

package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/sip/siptest"
	"github.com/hotline-dev/hotline/tickets"
)

// End-to-end tests with SIPp (Debian sip-tester), a peer nobody here wrote,
// pressing keys with its RFC 4733 captures.

func runSIPp(t *testing.T, opts siptest.SIPpOptions) siptest.SIPpResult {
	t.Helper()
	siptest.RequireSIPp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := siptest.RunSIPp(ctx, opts)
	if err != nil {
		t.Fatalf("sipp %s: %v", opts.Scenario, err)
	}
	return res
}

func wantSIPpOK(t *testing.T, res siptest.SIPpResult, scenario string) {
	t.Helper()
	if res.ExitCode != 0 || res.Successful != 1 || res.Failed != 0 {
		t.Fatalf("sipp %s: exit %d, %d ok, %d failed\nerrors: %s\nstderr: %s", scenario, res.ExitCode,
			res.Successful, res.Failed, res.Errors, res.Stderr)
	}
}

// recordOfCaller waits for the one call record of a caller number.
func (n *testNode) recordOfCaller(caller string) tickets.CallRecord {
	n.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		recs, err := tickets.RecentCalls(context.Background(), n.pool, 1000)
		if err != nil {
			n.t.Fatal(err)
		}
		var found []tickets.CallRecord
		for _, r := range recs {
			if r.Caller == caller {
				found = append(found, r)
			}
		}
		if len(found) == 1 {
			return found[0]
		}
		if len(found) > 1 || time.Now().After(deadline) {
			n.t.Fatalf("caller %s: %d call records, want 1", caller, len(found))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// counter reads one sample of a counter from /metrics (0 when absent).
func (n *testNode) counter(series string) float64 {
	n.t.Helper()
	for _, line := range strings.Split(n.metricsText(), "\n") {
		if strings.HasPrefix(line, series+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, series)), 64)
			if err != nil {
				n.t.Fatalf("metric %s: %v", line, err)
			}
			return v
		}
	}
	return 0
}

func TestE2ESIPp(t *testing.T) {
	n := startNode(t, calendarOpen, func(c *Config) { c.SIP.AnswerDelay = 0 })

	// S6: dial, press 3, hear the emergency queue prompt, hang up. The record
	// says emergency / abandoned_in_queue and the Redis queue is empty again.
	t.Run("press 3 emergency", func(t *testing.T) {
		before := n.counter(`hotline_sip_prompts_started_total{prompt="queue_emergency"}`)
		res := runSIPp(t, siptest.SIPpOptions{Scenario: "ivr_key.xml", Target: n.sipHP, Caller: "13900000003",
			Key: '3', AnswerWait: 6 * time.Second, AfterKey: 5 * time.Second})
		wantSIPpOK(t, res, "ivr_key.xml")
		rec := n.recordOfCaller("13900000003")
		if rec.Category != "emergency" || rec.Outcome != "abandoned_in_queue" || rec.HungUpBy != "caller" || rec.QueuedAt.IsZero() {
			t.Fatalf("record = %+v", rec)
		}
		if after := n.counter(`hotline_sip_prompts_started_total{prompt="queue_emergency"}`); after != before+1 {
			t.Fatalf("queue_emergency prompt started %v times, want 1", after-before)
		}
		n.waitQueueLen("emergency", 0)
	})

	t.Run("invalid then valid key", func(t *testing.T) {
		res := runSIPp(t, siptest.SIPpOptions{Scenario: "invalid_then_valid.xml", Target: n.sipHP, Caller: "13900000007",
			InvalidKey: '7', Key: '2', AnswerWait: 6 * time.Second, AfterInvalid: 4 * time.Second, AfterKey: 3 * time.Second})
		wantSIPpOK(t, res, "invalid_then_valid.xml")
		if rec := n.recordOfCaller("13900000007"); rec.Category != "complaint" || rec.Outcome != "abandoned_in_queue" {
			t.Fatalf("record = %+v", rec)
		}
		n.waitQueueLen("complaint", 0)
	})

	t.Run("no key: the server hangs up", func(t *testing.T) {
		res := runSIPp(t, siptest.SIPpOptions{Scenario: "no_key.xml", Target: n.sipHP, Caller: "13900000000",
			Timeout: 70 * time.Second})
		wantSIPpOK(t, res, "no_key.xml")
		if rec := n.recordOfCaller("13900000000"); rec.Outcome != "failed" || rec.HungUpBy != "system" {
			t.Fatalf("record = %+v", rec)
		}
	})

	t.Run("wrong number 404", func(t *testing.T) {
		wantSIPpOK(t, runSIPp(t, siptest.SIPpOptions{Scenario: "wrong_number.xml", Target: n.sipHP, Service: "99999"}), "wrong_number.xml")
	})

	t.Run("G.729 only 488", func(t *testing.T) {
		wantSIPpOK(t, runSIPp(t, siptest.SIPpOptions{Scenario: "g729.xml", Target: n.sipHP}), "g729.xml")
	})
}

// CANCEL before answer with SIPp against a node that rings before answering.
func TestE2ESIPpCancel(t *testing.T) {
	n := startNode(t, calendarOpen, func(c *Config) { c.SIP.AnswerDelay = 3e9 })
	before := n.counter(`hotline_sip_invites_total{result="cancelled"}`)
	wantSIPpOK(t, runSIPp(t, siptest.SIPpOptions{Scenario: "cancel.xml", Target: n.sipHP, Caller: "13900000487"}), "cancel.xml")
	rec := n.recordOfCaller("13900000487")
	if !rec.AnsweredAt.IsZero() || rec.HungUpBy != "caller" {
		t.Fatalf("record = %+v", rec)
	}
	if got := n.counter(`hotline_sip_invites_total{result="cancelled"}`); got != before+1 {
		t.Fatalf("cancelled invites %v, want %v", got, before+1)
	}
}

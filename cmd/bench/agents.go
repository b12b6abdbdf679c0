package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/hotline-dev/hotline/agents"
)

// Agents register and log in through SIPp at this rate (REGISTER with digest,
// then the feature code *1, both digest-authenticated).
const (
	agentSetupRate  = 250
	agentSetupLimit = 500 // simultaneous SIPp calls (a login lasts its 1 s confirmation prompt)
)

// agentPool is one set of bench agents: created in the directory with one
// category, registered with their Contact on one SIPp UAS (uasPort), logged
// in with *1. The first loggedIn of them are ready.
type agentPool struct {
	name       string
	idPrefix   string // agent id = idPrefix + staff number
	staffBase  int    // staff numbers staffBase, staffBase+1, ... (four digits: the IVR says them, S2)
	staffMax   int
	categories []string
	uasPort    int
	password   string
	created    int
	loggedIn   int
	// unusable counts logged-in agents found neither available nor busy with
	// a live call when the server was idle (stuck on_call, not_responding).
	unusable int
}

func newAgentPool(name, idPrefix string, staffBase, staffMax, uasPort int) (*agentPool, error) {
	pw := make([]byte, 12)
	if _, err := rand.Read(pw); err != nil {
		return nil, fmt.Errorf("agent password: %w", err)
	}
	return &agentPool{name: name, idPrefix: idPrefix, staffBase: staffBase, staffMax: staffMax,
		categories: []string{menuCategory}, uasPort: uasPort, password: hex.EncodeToString(pw)}, nil
}

func (p *agentPool) id(i int) string { return fmt.Sprintf("%s%d", p.idPrefix, p.staffBase+i) }

// injection is SIPp's -inf file for agents [from, to): id;password.
func (p *agentPool) injection(from, to int) string {
	var b strings.Builder
	b.WriteString("SEQUENTIAL\n")
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%s;%s;\n", p.id(i), p.password)
	}
	return b.String()
}

// agentSetup is one batch of agents made ready.
type agentSetup struct {
	Pool     string    `json:"pool"`
	From     int       `json:"from"`
	To       int       `json:"to"`
	Register sippStats `json:"register"`
	Login    sippStats `json:"login"`
	Took     float64   `json:"took_s"`
	Err      string    `json:"error,omitempty"`
}

// growAgents makes the first n agents of the pool ready: creates the missing
// ones in the directory, registers and logs in those not logged in yet.
func (b *bench) growAgents(ctx context.Context, p *agentPool, n int) (agentSetup, error) {
	set := agentSetup{Pool: p.name, From: p.loggedIn, To: n}
	if n <= p.loggedIn {
		return set, nil
	}
	if p.staffBase+n-1 > p.staffMax {
		return set, fmt.Errorf("%s agents: %d needed, room for %d", p.name, n, p.staffMax-p.staffBase+1)
	}
	start := time.Now()
	dir := agents.NewDirectory(b.env.db, b.env.realm)
	for ; p.created < n; p.created++ {
		a := agents.Agent{ID: p.id(p.created), DisplayName: "Bench " + p.id(p.created),
			StaffNumber: fmt.Sprint(p.staffBase + p.created), Categories: p.categories, Role: agents.RoleAgent}
		if err := dir.Add(ctx, a, p.password); err != nil {
			return set, err
		}
	}
	count := n - p.loggedIn
	run := sippRun{Target: b.srv.sipAddr, Calls: count, Rate: agentSetupRate, Limit: agentSetupLimit,
		Inject: p.injection(p.loggedIn, n), Timeout: time.Duration(count/agentSetupRate+60) * time.Second}
	var err error
	run.Scenario, run.Keys = "agent_register.xml", map[string]string{"uas_port": fmt.Sprint(p.uasPort)}
	if set.Register, err = runAgentsSIPp(ctx, run, "register"); err != nil {
		return set, err
	}
	if set.Login, err = b.featureCode(ctx, p, "*1", p.loggedIn, n); err != nil {
		return set, err
	}
	p.loggedIn = n
	set.Took = time.Since(start).Seconds()
	return set, nil
}

// featureCode has agents [from, to) of the pool dial a feature code.
func (b *bench) featureCode(ctx context.Context, p *agentPool, code string, from, to int) (sippStats, error) {
	_, port, err := net.SplitHostPort(b.srv.sipAddr)
	if err != nil {
		return sippStats{}, err
	}
	count := to - from
	return runAgentsSIPp(ctx, sippRun{Scenario: "agent_feature.xml", Target: b.srv.sipAddr, Service: code,
		Calls: count, Rate: agentSetupRate, Limit: agentSetupLimit, Inject: p.injection(from, to),
		AuthURI: code + "@" + loopback + ":" + port,
		Timeout: time.Duration(count/agentSetupRate+60) * time.Second}, code)
}

// runAgentsSIPp runs one agents' SIPp to the end; every call must succeed.
func runAgentsSIPp(ctx context.Context, run sippRun, what string) (sippStats, error) {
	p, err := startSIPp(ctx, run)
	if err != nil {
		return sippStats{}, err
	}
	st, err := p.wait()
	if err != nil {
		return st, fmt.Errorf("agents %s: %w", what, err)
	}
	if st.Successful != run.Calls {
		return st, fmt.Errorf("agents %s: %d of %d succeeded (%d failed; %s)", what, st.Successful, run.Calls, st.Failed, st.Errors)
	}
	return st, nil
}

// agentStates reads the agents by state from a scrape of the server.
func agentStates(m metrics) map[string]int {
	out := map[string]int{}
	for _, s := range []string{"available", "ringing", "on_call", "wrap_up", "paused", "not_responding", "offline"} {
		if v := m.value(`hotline_agents_by_state{state="` + s + `"}`); v > 0 {
			out[s] = int(v)
		}
	}
	return out
}

// poolStates counts the states of the pool's logged-in agents, read from the
// ACD's hash in Redis (<prefix>agents:state, id → state): the server's
// by-state gauge is cluster-wide, and the matching pool's agents can be left
// in it.
func (b *bench) poolStates(ctx context.Context, p *agentPool) (map[string]int, error) {
	all, err := b.env.rdb.HGetAll(ctx, benchKeyPrefix+"agents:state").Result()
	if err != nil {
		return nil, fmt.Errorf("read agent states: %w", err)
	}
	out := map[string]int{}
	for i := range p.loggedIn {
		st := all[p.id(i)]
		if st == "" {
			st = "unknown"
		}
		out[st]++
	}
	return out, nil
}

// waitPool waits until none of the pool's agents is ringing or in wrap-up
// (the last step's wrap-ups end benchWrapUp after their calls, at the ACD's
// sweep of that deadline)
// and, unless some are left on a call, all are available. Call it with the
// server idle: an agent still on a call then is stuck there (its caller is
// gone). It sets p.unusable to the agents that are not available.
func (b *bench) waitPool(ctx context.Context, p *agentPool, limit time.Duration) (map[string]int, error) {
	deadline := time.Now().Add(limit)
	stable := 0
	for {
		st, err := b.poolStates(ctx, p)
		if err != nil {
			return nil, err
		}
		settled := st["ringing"]+st["wrap_up"] == 0
		switch {
		case settled && st["available"] == p.loggedIn:
			p.unusable = 0
			return st, nil
		case settled:
			// On a call with no caller left: give a slow leg end 2 s.
			if stable++; stable >= 8 {
				p.unusable = p.loggedIn - st["available"]
				return st, nil
			}
		default:
			stable = 0
		}
		if time.Now().After(deadline) {
			p.unusable = p.loggedIn - st["available"]
			return st, fmt.Errorf("%s agents not settled after %v: %v", p.name, limit, st)
		}
		if err := sleepCtx(ctx, 250*time.Millisecond); err != nil {
			return st, err
		}
	}
}

package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/sip/siptest"
	"github.com/hotline-dev/hotline/tickets"
)

// validResidentID is a resident ID number with a correct check character.
const validResidentID = "11010519491231002X"

// panelTicketRow is a ticket row as the panel's actions leave it.
type panelTicketRow struct {
	ID                   int64
	Ref, Channel, Status string
	Owner, Masked        string
	Encrypted            bool
}

func ticketRow(t *testing.T, n *testNode, where string, args ...any) panelTicketRow {
	t.Helper()
	var k panelTicketRow
	scan(t, n, `SELECT id, ref, channel, status, coalesce(owner_agent, ''), coalesce(id_masked, ''), id_ciphertext IS NOT NULL
		FROM tickets WHERE `+where, args, &k.ID, &k.Ref, &k.Channel, &k.Status, &k.Owner, &k.Masked, &k.Encrypted)
	return k
}

// openInPanel shows the ticket of ref in the page's ticket card by the
// "my work" look-up form, as a person who was told the reference does.
func openInPanel(t *testing.T, ctx context.Context, ref string) {
	t.Helper()
	fill(t, ctx, "#find-form", [2]string{"ref", ref})
	submitForm(t, ctx, "#find-form")
	waitJS(t, ctx, "ticket "+ref+" shown", fmt.Sprintf(`%s && document.getElementById('tk-ref').textContent === %q`, shown("#ticket-card"), ref), 5*time.Second)
}

// An agent's ticket work in a real browser, without a call: a letter
// contact opened from the form (S20), a bad ID number shown under its
// field first; the ID number unmasked with a reason, an empty reason
// refused with its message and both audited (S5); the ticket handed off to
// a colleague whose panel lists it at once (S16); a callback request
// claimed, and the same claim from a second agent's stale list refused
// (S9); two agents' nuisance flags, reports that block nothing until the
// supervisor flags one and dismisses the other on the wall (S21).
func TestE2EPanelBrowserTicketActions(t *testing.T) {
	requireChromium(t)
	n := startNode(t, calendarOpen, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	addPanelUsers(ctx, t, n,
		agents.Agent{ID: "1001", DisplayName: "李娜", Role: agents.RoleAgent},
		agents.Agent{ID: "1002", DisplayName: "张伟", Role: agents.RoleAgent},
		agents.Agent{ID: "2001", DisplayName: "王军", Role: agents.RoleSupervisor})
	base := "http://" + n.app.httpAddr
	alloc := browser(ctx, t)
	a1 := newTab(t, alloc, true)
	a2 := newTab(t, a1, false)
	sup := newTab(t, a1, false)
	login(t, a1, base, "1001", "secret-1001", "")
	login(t, a2, base, "1002", "secret-1002", "")
	login(t, sup, base, "2001", "secret-2001", "")
	for _, tab := range []context.Context{a1, a2, sup} {
		waitJS(t, tab, "live stream", `document.getElementById('live').classList.contains('on')`, 10*time.Second)
	}

	// S20: a letter; the ID number's check character is wrong.
	clickShown(t, a1, "open the new ticket form", "#new-card summary", 2*time.Second)
	fill(t, a1, "#new-form", [2]string{"channel", "letter"}, [2]string{"caller_name", "赵敏"},
		[2]string{"callback_phone", "13800001111"}, [2]string{"id_type", "resident"}, [2]string{"id_number", "110105194912310021"},
		[2]string{"description", "来信反映小区路灯损坏"}, [2]string{"category", "complaint"}, [2]string{"result", "answered"})
	submitForm(t, a1, "#new-form")
	waitJS(t, a1, "the ID number's message (S13)", fieldShown("#new-form", "id_number"), 5*time.Second)
	if c := count(t, n, `SELECT count(*) FROM tickets WHERE channel <> 'phone'`); c != 0 {
		t.Fatalf("a refused form stored %d tickets", c)
	}
	fill(t, a1, "#new-form", [2]string{"id_number", validResidentID})
	submitForm(t, a1, "#new-form")
	waitJS(t, a1, "ticket created", msgShown("#new-form", "ok"), 5*time.Second)
	waitJS(t, a1, "the message under the field is gone", `!(`+fieldShown("#new-form", "id_number")+`)`, time.Second)
	k := ticketRow(t, n, `channel <> 'phone'`)
	if k.Channel != tickets.ChannelLetter || k.Status != tickets.StatusOpen || k.Owner != "1001" || !k.Encrypted ||
		!strings.HasSuffix(k.Masked, "002X") || strings.Contains(k.Masked, "1101") {
		t.Fatalf("letter ticket = %+v", k)
	}
	if ev := ticketEvents(t, n, k.ID); len(ev) == 0 || ev[0] != tickets.EventCreated {
		t.Fatalf("letter ticket's events = %v", ev)
	}

	// S5: the owner unmasks the ID number; an empty reason is refused
	// with its message beside the field, and audited as a refusal.
	clickShown(t, a1, "open tab", `[data-tab=open]`, time.Second)
	clickShown(t, a1, "view the letter", fmt.Sprintf(`#work-rows [data-ref=%q]`, k.Ref), 5*time.Second)
	waitJS(t, a1, "masked ID shown", fmt.Sprintf(`document.getElementById('tk-id').textContent === %q && %s`, k.Masked, shown("#unmask-form")), 5*time.Second)
	submitForm(t, a1, "#unmask-form")
	waitJS(t, a1, "the reason's message (S5)", fieldShown("#unmask-form", "reason"), 5*time.Second)
	waitCount(t, n, "refusal audited", 1, `SELECT count(*) FROM audit_log WHERE ticket_id = $1 AND action = $2 AND actor = '1001'`,
		k.ID, tickets.AuditUnmaskDenied)
	if got := text(t, a1, "tk-id"); got != k.Masked {
		t.Fatalf("ID after a refusal = %q, want the masked %q", got, k.Masked)
	}
	const reason = "来电人要求核对身份"
	fill(t, a1, "#unmask-form", [2]string{"reason", reason})
	submitForm(t, a1, "#unmask-form")
	waitJS(t, a1, "clear ID shown", fmt.Sprintf(`document.getElementById('tk-id').textContent === %q`, validResidentID), 5*time.Second)
	waitCount(t, n, "unmask audited with its reason", 1, `SELECT count(*) FROM audit_log WHERE ticket_id = $1 AND action = $2
		AND actor = '1001' AND actor_role = 'agent' AND reason = $3`, k.ID, tickets.AuditUnmask, reason)

	// S16: a hand-off to no such agent is refused; to 1002 it moves the
	// ticket, which leaves 1001's panel and shows in 1002's at once.
	clickShown(t, a2, "1002's open tab", `[data-tab=open]`, time.Second)
	fill(t, a1, "#handoff-form", [2]string{"agent", "9999"})
	submitForm(t, a1, "#handoff-form")
	waitJS(t, a1, "hand-off refused", msgShown("#handoff-form", "error"), 5*time.Second)
	fill(t, a1, "#handoff-form", [2]string{"agent", "1002"})
	submitForm(t, a1, "#handoff-form")
	waitJS(t, a1, "the card closes: no longer 1001's", `document.getElementById('ticket-card').hidden`, 5*time.Second)
	if k2 := ticketRow(t, n, `id = $1`, k.ID); k2.Owner != "1002" {
		t.Fatalf("owner after the hand-off = %q, want 1002", k2.Owner)
	}
	waitCount(t, n, "hand-off event", 1, `SELECT count(*) FROM ticket_events WHERE ticket_id = $1 AND kind = $2
		AND actor = '1001' AND data->>'from' = '1001' AND data->>'to' = '1002'`, k.ID, tickets.EventHandoff)
	waitJS(t, a1, "gone from 1001's list", fmt.Sprintf(`!document.querySelector('#work-rows [data-ref=%q]')`, k.Ref), 3*time.Second)
	waitJS(t, a2, "listed in 1002's panel without a reload", fmt.Sprintf(`!!document.querySelector('#work-rows [data-ref=%q]')`, k.Ref), 3*time.Second)

	// S9: a callback request in both agents' lists; 1001 claims it, and
	// 1002's claim from the list it loaded before is refused.
	storeCallback(t, n, "panel-callback", "13900000021", "inquiry")
	cb := waitCallback(t, n, "panel-callback", 10*time.Second, func(c tickets.Callback) bool { return c.Ticket != "" })
	claim := fmt.Sprintf(`#callbacks-rows [data-claim="%d"]`, cb.ID)
	for _, tab := range []context.Context{a1, a2} {
		clickShown(t, tab, "refresh the callbacks", "#callbacks-refresh", time.Second)
		waitJS(t, tab, "callback listed", fmt.Sprintf(`%s && document.getElementById('callbacks-rows').textContent.includes('13900000021')`, shown(claim)), 5*time.Second)
	}
	clickShown(t, a1, "claim", claim, time.Second)
	waitJS(t, a1, "claimed: said, and the button is off", fmt.Sprintf(`document.getElementById('callbacks-msg').textContent.length > 0 &&
		document.querySelector(%q) && document.querySelector(%q).disabled`, claim, claim), 5*time.Second)
	claimed := text(t, a1, "callbacks-msg")
	var claimedBy string
	scan(t, n, `SELECT coalesce(claimed_by, '') FROM callback_requests WHERE id = $1`, []any{cb.ID}, &claimedBy)
	if claimedBy != "1001" {
		t.Fatalf("claimed_by = %q, want 1001", claimedBy)
	}
	clickShown(t, a2, "claim from a stale list", claim, time.Second)
	waitJS(t, a2, "refused, and the list shows it claimed", fmt.Sprintf(`document.getElementById('callbacks-msg').textContent.length > 0 &&
		document.getElementById('callbacks-msg').textContent !== %q && document.querySelector(%q) && document.querySelector(%q).disabled && document.getElementById('callbacks-rows').textContent.includes('1001')`, claimed, claim, claim), 5*time.Second)
	scan(t, n, `SELECT coalesce(claimed_by, '') FROM callback_requests WHERE id = $1`, []any{cb.ID}, &claimedBy)
	if claimedBy != "1001" {
		t.Fatalf("claimed_by after the second claim = %q, want 1001", claimedBy)
	}
	if c := count(t, n, `SELECT count(*) FROM ticket_events WHERE ticket_id = $1 AND kind = $2`, cb.TicketID, tickets.EventCallbackClaimed); c != 1 {
		t.Fatalf("claim events = %d, want 1", c)
	}

	// S21: an agent flags a number from the panel; it is a report that
	// blocks nothing until a supervisor decides on the wall: one report is
	// flagged (the number is blocked), another dismissed (it is not). An
	// agent's session may not clear a flag.
	fill(t, a1, "#nuisance-form", [2]string{"number", "139 1111 2222"}, [2]string{"reason", "反复辱骂坐席"})
	submitForm(t, a1, "#nuisance-form")
	waitJS(t, a1, "reported", msgShown("#nuisance-form", "ok"), 5*time.Second)
	fill(t, a2, "#nuisance-form", [2]string{"number", "13933334444"}, [2]string{"reason", "无声电话"})
	submitForm(t, a2, "#nuisance-form")
	waitJS(t, a2, "reported", msgShown("#nuisance-form", "ok"), 5*time.Second)
	waitCount(t, n, "open reports", 2, `SELECT count(*) FROM nuisance_reports WHERE decided_at IS NULL AND number IN ('13911112222', '13933334444')`)
	if blocked, err := n.app.store.IsNuisance(ctx, "13911112222"); err != nil || blocked {
		t.Fatalf("an agent's report blocked the number (%v, %v)", blocked, err)
	}
	if st := evalJS[int](t, a1, `H.api('DELETE', '/api/nuisance/13911112222', {reason: '误报'}).then((r) => r.status)`); st != 403 {
		t.Fatalf("an agent's clear: status %d, want 403", st)
	}
	browse(t, sup, "open the wall", chromedp.Navigate(base+"/panel/wall"))
	flagRow, dismissRow := `[data-nuisance-row="13911112222"]`, `[data-nuisance-row="13933334444"]`
	waitJS(t, sup, "both reports on the wall", shown(flagRow)+" && "+shown(dismissRow), 10*time.Second)
	fill(t, sup, flagRow+" form", [2]string{"reason", "录音核实：辱骂"})
	clickShown(t, sup, "flag", flagRow+` button[data-decide=flag]`, 5*time.Second)
	waitCount(t, n, "number flagged by the supervisor", 1, `SELECT count(*) FROM nuisance_numbers
		WHERE number = '13911112222' AND cleared_at IS NULL AND flagged_by = '2001' AND reason = '录音核实：辱骂'`)
	waitJS(t, sup, "flagged report gone from the wall", "!document.querySelector('"+flagRow+"')", 5*time.Second)
	fill(t, sup, dismissRow+" form", [2]string{"reason", "打错电话"})
	clickShown(t, sup, "dismiss", dismissRow+` button[data-decide=dismiss]`, 5*time.Second)
	waitCount(t, n, "report dismissed", 1, `SELECT count(*) FROM nuisance_reports
		WHERE number = '13933334444' AND decision = 'dismissed' AND decided_by = '2001'`)
	if blocked, err := n.app.store.IsNuisance(ctx, "13933334444"); err != nil || blocked {
		t.Fatalf("a dismissed report blocked the number (%v, %v)", blocked, err)
	}
	waitCount(t, n, "nuisance audit", 4, `SELECT count(*) FROM nuisance_events WHERE number IN ('13911112222', '13933334444')
		AND action IN ('reported', 'flagged', 'dismissed')`)
}

// localInput is the value a datetime-local field of the page shows for at
// (the browser's time zone).
func localInput(t *testing.T, ctx context.Context, at time.Time) string {
	t.Helper()
	return evalJS[string](t, ctx, fmt.Sprintf(`((d) => { const p = (n) => String(n).padStart(2, '0');
		return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes()); })(new Date(%d))`,
		at.UnixMilli()))
}

// ownerOf is a ticket's owner in PostgreSQL.
func ownerOf(t *testing.T, n *testNode, id int64) string {
	t.Helper()
	return ticketRow(t, n, `id = $1`, id).Owner
}

// A supervisor's ticket work in a real browser: an agent's ticket opened by
// its reference; its deadline extended with a reason, an earlier one
// refused (S14); handed off and reassigned from its card, and reassigned
// again from the wall, each owner's panel following at once (S16); an
// escalation acknowledged on the wall (S15). An agent's panel offers none
// of the supervisor's forms.
func TestE2EPanelBrowserSupervisor(t *testing.T) {
	requireChromium(t)
	n := startNode(t, calendarOpen, func(c *Config) {
		c.Tickets.SweepInterval = configs.Duration(300 * time.Millisecond) // the breach is found at once
	})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	addPanelUsers(ctx, t, n,
		agents.Agent{ID: "1001", DisplayName: "李娜", Role: agents.RoleAgent},
		agents.Agent{ID: "1002", DisplayName: "张伟", Role: agents.RoleAgent},
		agents.Agent{ID: "2001", DisplayName: "王军", Role: agents.RoleSupervisor})
	web := func(category, phone string) panelTicketRow {
		k, err := n.app.store.CreateWebTicket(ctx, tickets.SubmitInput{CallerName: "市民", CallbackPhone: phone,
			Description: "网上留言", Category: category, Result: tickets.ResultFollowUp, FollowUpDue: time.Now().Add(72 * time.Hour)},
			tickets.ChannelWeb, "1001", "seed-"+phone)
		if err != nil {
			t.Fatal(err)
		}
		return ticketRow(t, n, `ref = $1`, k.Ref)
	}
	k1, k2 := web("complaint", "13800002222"), web("inquiry", "13800003333")
	// k2's deadline passes: the sweeper breaches and escalates it (S15).
	if _, err := n.pool.Exec(ctx, `UPDATE tickets SET due_at = now() - interval '1 minute' WHERE id = $1`, k2.ID); err != nil {
		t.Fatal(err)
	}
	waitCount(t, n, "escalated", 1, `SELECT count(*) FROM tickets WHERE id = $1 AND escalation_level = 1`, k2.ID)

	base := "http://" + n.app.httpAddr
	alloc := browser(ctx, t)
	sup := newTab(t, alloc, true)
	a1 := newTab(t, sup, false)
	a2 := newTab(t, sup, false)
	login(t, sup, base, "2001", "secret-2001", "")
	login(t, a1, base, "1001", "secret-1001", "")
	login(t, a2, base, "1002", "secret-1002", "")
	for _, tab := range []context.Context{sup, a1, a2} {
		waitJS(t, tab, "live stream", `document.getElementById('live').classList.contains('on')`, 10*time.Second)
		clickShown(t, tab, "open tab", `[data-tab=open]`, time.Second)
	}
	if evalJS[bool](t, a1, `!!(document.getElementById('extend-form') || document.getElementById('reassign-form'))`) {
		t.Fatal("an agent's panel offers extend or reassign")
	}
	listed := func(tab context.Context, who string, ref string, want bool) {
		t.Helper()
		not := "!"
		if want {
			not = "!!"
		}
		waitJS(t, tab, fmt.Sprintf("%s's list (%s listed: %v)", who, ref, want), fmt.Sprintf(`%sdocument.querySelector('#work-rows [data-ref=%q]')`, not, ref), 5*time.Second)
	}
	listed(a1, "1001", k1.Ref, true)

	// S14: an earlier deadline is refused; a later one with a reason is kept.
	openInPanel(t, sup, k1.Ref)
	var due time.Time
	scan(t, n, `SELECT due_at FROM tickets WHERE id = $1`, []any{k1.ID}, &due)
	fill(t, sup, "#extend-form", [2]string{"due_at", localInput(t, sup, due.Add(-time.Hour))}, [2]string{"reason", "等待施工单位答复"})
	submitForm(t, sup, "#extend-form")
	waitJS(t, sup, "earlier deadline refused", msgShown("#extend-form", "error"), 5*time.Second)
	var now time.Time
	scan(t, n, `SELECT due_at FROM tickets WHERE id = $1`, []any{k1.ID}, &now)
	if !now.Equal(due) {
		t.Fatalf("a refused extension moved the deadline from %v to %v", due, now)
	}
	later := due.Add(48 * time.Hour).Truncate(time.Minute)
	const why = "等待施工单位答复"
	fill(t, sup, "#extend-form", [2]string{"due_at", localInput(t, sup, later)}, [2]string{"reason", why})
	submitForm(t, sup, "#extend-form")
	waitJS(t, sup, "extended", msgShown("#extend-form", "ok"), 5*time.Second)
	scan(t, n, `SELECT due_at FROM tickets WHERE id = $1`, []any{k1.ID}, &now)
	if !now.Equal(later) {
		t.Fatalf("deadline after the extension = %v, want %v", now, later)
	}
	waitCount(t, n, "extended event", 1, `SELECT count(*) FROM ticket_events WHERE ticket_id = $1 AND kind = $2
		AND actor = '2001' AND data->>'reason' = $3`, k1.ID, tickets.EventExtended, why)
	waitJS(t, sup, "the card's history shows it", `document.getElementById('tk-events').textContent.includes('等待施工单位答复')`, 3*time.Second)

	// S16: handed off from the card to 1002, reassigned back to 1001.
	fill(t, sup, "#handoff-form", [2]string{"agent", "1002"})
	submitForm(t, sup, "#handoff-form")
	waitJS(t, sup, "handed off", msgShown("#handoff-form", "ok"), 5*time.Second)
	if o := ownerOf(t, n, k1.ID); o != "1002" {
		t.Fatalf("owner after the hand-off = %q", o)
	}
	waitCount(t, n, "hand-off event", 1, `SELECT count(*) FROM ticket_events WHERE ticket_id = $1 AND kind = $2
		AND actor = '2001' AND data->>'from' = '1001' AND data->>'to' = '1002'`, k1.ID, tickets.EventHandoff)
	listed(a2, "1002", k1.Ref, true)
	listed(a1, "1001", k1.Ref, false)
	waitJS(t, sup, "the card shows the new owner", `document.getElementById('tk-owner').textContent === '1002'`, 3*time.Second)
	fill(t, sup, "#reassign-form", [2]string{"agent", "1001"}, [2]string{"reason", "原坐席熟悉情况"})
	submitForm(t, sup, "#reassign-form")
	waitJS(t, sup, "reassigned", msgShown("#reassign-form", "ok"), 5*time.Second)
	if o := ownerOf(t, n, k1.ID); o != "1001" {
		t.Fatalf("owner after the reassignment = %q", o)
	}
	waitCount(t, n, "reassigned event", 1, `SELECT count(*) FROM ticket_events WHERE ticket_id = $1 AND kind = $2
		AND actor = '2001' AND data->>'to' = '1001' AND data->>'reason' = '原坐席熟悉情况'`, k1.ID, tickets.EventReassigned)
	listed(a1, "1001", k1.Ref, true)

	// The wall: reassign by reference, a bad agent refused first.
	browse(t, sup, "open the wall", chromedp.Navigate(base+"/panel/wall"))
	waitJS(t, sup, "wall loaded", `document.body.classList.contains('ready') && (window.__wallLoads || 0) > 0`, 10*time.Second)
	fill(t, sup, "#wall-reassign", [2]string{"ref", k1.Ref}, [2]string{"agent", "9999"}, [2]string{"reason", "调整分工"})
	submitForm(t, sup, "#wall-reassign")
	waitJS(t, sup, "no such agent", msgShown("#wall-reassign", "error"), 5*time.Second)
	fill(t, sup, "#wall-reassign", [2]string{"ref", k1.Ref}, [2]string{"agent", "1002"}, [2]string{"reason", "调整分工"})
	submitForm(t, sup, "#wall-reassign")
	waitJS(t, sup, "reassigned from the wall", msgShown("#wall-reassign", "ok"), 5*time.Second)
	if o := ownerOf(t, n, k1.ID); o != "1002" {
		t.Fatalf("owner after the wall's reassignment = %q", o)
	}
	listed(a2, "1002", k1.Ref, true)

	// S15: the escalation acknowledged with a note.
	row := fmt.Sprintf(`form[data-key="escalation:%s"]`, k2.Ref)
	waitJS(t, sup, "escalation listed", shown(row), 5*time.Second)
	fill(t, sup, row, [2]string{"note", "已督办"})
	clickShown(t, sup, "acknowledge", row+` button[type=submit]`, time.Second)
	waitJS(t, sup, "acknowledged on the wall", fmt.Sprintf(`!document.querySelector(%q) && document.getElementById('w-escalations').textContent.includes(%q)`, row, k2.Ref), 5*time.Second)
	waitCount(t, n, "acknowledged event", 1, `SELECT count(*) FROM ticket_events WHERE ticket_id = $1 AND kind = $2
		AND actor = '2001' AND (data->>'level')::int = 1 AND data->>'note' = '已督办'`, k2.ID, tickets.EventAcknowledged)
}

// transferFromPanel sends the tab's caller on with the call card's form.
func transferFromPanel(t *testing.T, ctx context.Context, kind, target string) {
	t.Helper()
	waitJS(t, ctx, "the call card", shown("#transfer-form"), 5*time.Second)
	fill(t, ctx, "#transfer-form", [2]string{"kind", kind}, [2]string{"target", target})
	submitForm(t, ctx, "#transfer-form")
}

// S10 in a real browser, one caller sent on three times from the panels'
// transfer forms while bridged: agent 1001 sends the caller to the
// complaint queue, where 1002 (back from a pause by the panel's button)
// takes the call; 1002 sends them to agent 1001 by name; 1001 sends them to
// the specialist line "legal" (a SIPp callee). A target off the allowlist
// is refused with a message and the call stays. Each agent leaves its
// wrap-up by the panel's button (a caller sent on owes no ticket); the
// call record keeps the transfers in order and 1001, on the call last,
// owns its ticket.
func TestE2EPanelBrowserTransfer(t *testing.T) {
	requireChromium(t)
	siptest.RequireBaresip(t)
	specialist := startTrunk(t, "callee_answer.xml", 1, true)
	n := startNode(t, calendarOpen, func(c *Config) {
		c.Registrar.Algorithms = []string{"MD5"} // baresip 1.0 cannot answer a SHA-256 challenge
		c.ACD.RingTimeout = configs.Duration(5 * time.Second)
		c.Transfer.Specialists = map[string]string{"legal": "sip:legal@" + specialist.Addr}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	first := startAgent(ctx, t, n, "1001")
	second := startAgent(ctx, t, n, "1002")
	base := "http://" + n.app.httpAddr
	alloc := browser(ctx, t)
	a1 := newTab(t, alloc, true)
	a2 := newTab(t, a1, false)
	login(t, a1, base, "1001", "secret-1001", "")
	login(t, a2, base, "1002", "secret-1002", "")
	for _, tab := range []context.Context{a1, a2} {
		waitJS(t, tab, "live stream", `document.getElementById('live').classList.contains('on')`, 10*time.Second)
	}
	clickShown(t, a2, "1002 pauses", "#btn-pause", 2*time.Second)
	waitAgentState(t, n, "1002", agents.StatePaused)

	const caller = "13833330011"
	call := dial(t, newCaller(t), siptest.DialOptions{Target: n.target, From: "sip:" + caller + "@127.0.0.1",
		Audio: siptest.Tone(440, time.Second, 8000)})
	pressInMenu(t, call, '1')
	if _, err := first.WaitEvent(ctx, siptest.EventCallEstablished); err != nil {
		t.Fatalf("1001 not rung: %v\n%s", err, first.Log())
	}
	waitJS(t, a1, "1001 on the call", badge("on_call")+fmt.Sprintf(` && document.getElementById('pop-caller').textContent === %q`, caller), 5*time.Second)
	clickShown(t, a2, "1002 back", "#btn-available", 2*time.Second)
	waitAgentState(t, n, "1002", agents.StateAvailable)

	// Off the allowlist: refused where the agent typed it; the call stays.
	transferFromPanel(t, a1, "agent", "9999")
	waitJS(t, a1, "refused target", msgShown("#transfer-form", "error"), 5*time.Second)
	waitAgentState(t, n, "1001", agents.StateOnCall)

	// To the complaint queue: 1002, the only agent free, takes the caller.
	transferFromPanel(t, a1, "category", "complaint")
	if _, err := first.WaitEvent(ctx, siptest.EventCallClosed); err != nil {
		t.Fatalf("1001's leg not closed by the transfer: %v", err)
	}
	if _, err := second.WaitEvent(ctx, siptest.EventCallEstablished); err != nil {
		t.Fatalf("1002 not rung from the complaint queue: %v\n%s", err, second.Log())
	}
	waitAgentState(t, n, "1002", agents.StateOnCall)
	if cc, err := n.app.acd.CurrentCall(ctx, "1002"); err != nil || cc.Caller != caller || cc.Category != "complaint" {
		t.Fatalf("1002's call = %+v (%v), want %s from the complaint queue", cc, err, caller)
	}
	waitJS(t, a2, "1002's screen-pop", badge("on_call")+fmt.Sprintf(` && document.getElementById('pop-caller').textContent === %q`, caller), 5*time.Second)
	waitJS(t, a1, "1001 in wrap-up, the card closed", badge("wrap_up")+` && document.getElementById('call-card').hidden`, 5*time.Second)
	clickShown(t, a1, "1001 ends the wrap-up", "#btn-available", 2*time.Second)
	waitAgentState(t, n, "1001", agents.StateAvailable)

	// To agent 1001 by name.
	transferFromPanel(t, a2, "agent", "1001")
	if _, err := second.WaitEvent(ctx, siptest.EventCallClosed); err != nil {
		t.Fatalf("1002's leg not closed by the transfer: %v", err)
	}
	if _, err := first.WaitEvent(ctx, siptest.EventCallEstablished); err != nil {
		t.Fatalf("1001 not rung by name: %v\n%s", err, first.Log())
	}
	waitAgentState(t, n, "1001", agents.StateOnCall)
	waitJS(t, a1, "1001's screen-pop again", badge("on_call")+fmt.Sprintf(` && document.getElementById('pop-caller').textContent === %q`, caller), 5*time.Second)
	clickShown(t, a2, "1002 ends the wrap-up", "#btn-available", 5*time.Second)
	waitAgentState(t, n, "1002", agents.StateAvailable)

	// To the specialist line: SIPp answers and hears the caller.
	transferFromPanel(t, a1, "specialist", "legal")
	if _, err := first.WaitEvent(ctx, siptest.EventCallClosed); err != nil {
		t.Fatalf("1001's leg not closed by the transfer: %v", err)
	}
	waitAgentState(t, n, "1001", agents.StateWrapUp)
	// SIPp echoes the caller's 440 Hz: heard only through a bridge to the line.
	waitTone(t, "the caller is bridged to the specialist", call.ReceivedSince, 440, 15*time.Second)
	hangup(t, call)
	if res, ok, err := specialist.Wait(ctx); err != nil || ok != 1 {
		t.Fatalf("specialist line: %d calls (%v)\n%s", ok, err, res.Stderr)
	}
	rec := n.record(call.CallID())
	if rec.TransferredTo != "queue:complaint,agent:1001,number:legal" || rec.AgentID != "1001" || rec.Outcome != "answered" {
		t.Fatalf("record = %+v", rec)
	}
	if k := ticketOfCall(t, n, rec.ID); k.OwnerAgent != "1001" {
		t.Fatalf("ticket of the call = %+v, want 1001's", k)
	}
}

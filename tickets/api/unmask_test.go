package api

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestUnmask(t *testing.T) {
	f := newFixture(t)
	k := f.draft(t, "1001", time.Minute)
	owner, other, sup := f.login(t, "1001"), f.login(t, "1002"), f.login(t, "2001")
	if res := owner.do("POST", "/api/tickets/"+k.Ref+"/submit", form(), map[string]string{idempotencyHeader: "s"}); res.status != http.StatusOK {
		t.Fatalf("submit = %d %s", res.status, res.raw)
	}
	bare := f.draft(t, "1001", time.Minute) // a draft: no ID number yet
	tests := []struct {
		name       string
		c          *client
		ref        string
		reason     string
		want       int
		wantAction string // audit row written, "" for none
	}{
		{"owner with a reason", owner, k.Ref, "caller asked to confirm", http.StatusOK, "unmask_id"},
		{"supervisor", sup, k.Ref, "quality review", http.StatusOK, "unmask_id"},
		{"another agent", other, k.Ref, "just curious", http.StatusForbidden, "unmask_denied"},
		{"reason too short", owner, k.Ref, "why", http.StatusUnprocessableEntity, "unmask_denied"},
		{"no such ticket", owner, "T20000101-999999", "caller asked", http.StatusNotFound, ""},
		{"ticket without an ID number", owner, bare.Ref, "caller asked", http.StatusNotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := f.count(t, `SELECT count(*) FROM audit_log`)
			res := tc.c.do("POST", "/api/tickets/"+tc.ref+"/unmask", map[string]string{"reason": tc.reason}, nil)
			if res.status != tc.want {
				t.Fatalf("status %d, want %d: %s", res.status, tc.want, res.raw)
			}
			switch tc.want {
			case http.StatusOK:
				if res.body["id_number"] != validResidentID {
					t.Fatalf("body = %s, want the clear number", res.raw)
				}
			case http.StatusUnprocessableEntity:
				if res.fields()["reason"] == nil {
					t.Fatalf("422 without a reason field: %s", res.raw)
				}
			default:
				if strings.Contains(res.raw, validResidentID) {
					t.Fatalf("refusal shows the number: %s", res.raw)
				}
			}
			after := f.count(t, `SELECT count(*) FROM audit_log`)
			if tc.wantAction == "" {
				if after != before {
					t.Fatalf("audit rows %d → %d, want none written", before, after)
				}
				return
			}
			var action, actor string
			var ticketID int64
			err := f.pool.QueryRow(t.Context(), `SELECT action, actor, ticket_id FROM audit_log ORDER BY id DESC LIMIT 1`).
				Scan(&action, &actor, &ticketID)
			if err != nil || after != before+1 || action != tc.wantAction || ticketID != k.ID {
				t.Fatalf("audit: rows %d → %d, last %s by %s on %d (%v), want one %s on %d",
					before, after, action, actor, ticketID, err, tc.wantAction, k.ID)
			}
		})
	}
}

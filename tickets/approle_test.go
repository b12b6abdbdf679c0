package tickets

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/agents"
	"github.com/hotline-dev/hotline/configs"
	"github.com/hotline-dev/hotline/tickets/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// appRolePool opens a pool on url whose sessions act as hotline_app, as the
// server's login role (a member of hotline_app) does.
func appRolePool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "SET ROLE hotline_app")
		return err
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// TestAppRoleCannotTouchTheSchema: as hotline_app, the audit log's
// append-only triggers cannot be dropped or disabled, its rows cannot be
// changed, and no table can be created, altered or emptied (S5). Each
// statement runs in its own transaction under SET LOCAL ROLE.
func TestAppRoleCannotTouchTheSchema(t *testing.T) {
	_, pool := pgtest.Migrated(t, Migrate)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO audit_log (actor, action, reason) VALUES ('1001', 'unmask_id', 'kept')`); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, sql string }{
		{"drop audit trigger", "DROP TRIGGER audit_log_append_only ON audit_log"},
		{"disable audit trigger", "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"},
		{"disable all triggers", "ALTER TABLE audit_log DISABLE TRIGGER ALL"},
		{"drop audit function", "DROP FUNCTION audit_log_append_only() CASCADE"},
		{"update audit log", "UPDATE audit_log SET reason = 'rewritten'"},
		{"delete audit log", "DELETE FROM audit_log"},
		{"truncate audit log", "TRUNCATE audit_log"},
		{"drop audit log", "DROP TABLE audit_log"},
		{"update ticket events", "UPDATE ticket_events SET actor = 'x'"},
		{"drop ticket events trigger", "DROP TRIGGER ticket_events_refuse_change ON ticket_events"},
		{"delete calls", "DELETE FROM calls"},
		{"delete tickets", "DELETE FROM tickets"},
		{"rewrite schema_migrations", "DELETE FROM schema_migrations"},
		{"create table", "CREATE TABLE intruder (i int)"},
		{"alter table", "ALTER TABLE tickets DROP COLUMN late"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "SET LOCAL ROLE hotline_app"); err != nil {
					t.Fatalf("set role: %v", err)
				}
				_, err := tx.Exec(ctx, tt.sql)
				return err
			})
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
				t.Fatalf("%s as hotline_app: %v, want insufficient_privilege (42501)", tt.sql, err)
			}
			// The refusal is the role's, not the trigger's: the owner's
			// triggers are never reached.
			if strings.Contains(pgErr.Message, "append-only") {
				t.Fatalf("%s reached the trigger (%s): the grant should have refused it", tt.sql, pgErr.Message)
			}
		})
	}
	var reason string
	var triggers int
	if err := pool.QueryRow(ctx, `SELECT reason, (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass AND tgenabled = 'O')
		FROM audit_log`).Scan(&reason, &triggers); err != nil || reason != "kept" || triggers != 3 {
		t.Fatalf("audit log after the attempts: reason %q, %d enabled triggers (%v); want kept, 3", reason, triggers, err)
	}
}

// TestAppRoleCoversEveryTable: every table of the schema has a grant for
// hotline_app, so a migration that adds a table without one fails here
// instead of in production.
func TestAppRoleCoversEveryTable(t *testing.T) {
	_, pool := pgtest.Migrated(t, Migrate)
	rows, err := pool.Query(context.Background(), `SELECT c.relname FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r' AND NOT has_table_privilege('hotline_app', c.oid, 'SELECT')`)
	if err != nil {
		t.Fatal(err)
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Fatalf("tables without a grant for hotline_app: %v (grant them in their migration)", missing)
	}
}

// TestAppRoleRunsTheStore drives every kind of write the server makes —
// records, drafts, the ticket life cycle, nuisance numbers, the sweeper, the
// audit log, agents and their history — through a pool acting as
// hotline_app: the grants are enough for the server.
func TestAppRoleRunsTheStore(t *testing.T) {
	url, owner := pgtest.Migrated(t, Migrate)
	app := appRolePool(t, url)
	ctx := context.Background()
	var role string
	if err := app.QueryRow(ctx, "SELECT current_user").Scan(&role); err != nil || role != "hotline_app" {
		t.Fatalf("pool acts as %q (%v), want hotline_app", role, err)
	}
	if err := CheckSchema(ctx, app); err != nil {
		t.Fatalf("check schema: %v", err)
	}
	runAgents(t, app)
	f := storeFixtureOn(t, app, loadTestCalendar(t))
	w := newTestWriter(t, app, t.TempDir(), nil)
	call := testCall("app-call")
	answered := testCall("app-answered")
	answered.Outcome, answered.AgentID, answered.Category = "answered", "1001", configs.CategoryComplaint
	step := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s as hotline_app: %v", name, err)
		}
	}
	step("save call", w.SaveCall(ctx, call))
	step("save callback", w.SaveCallback(ctx, testCallback("app-call")))
	step("save answered call with draft", w.SaveAnsweredCall(ctx, answered, DraftFacts{}))
	if w.Pending() != 0 {
		t.Fatalf("%d records spooled: a write was refused", w.Pending())
	}
	_, err := RecentCalls(ctx, app, 10)
	step("recent calls", err)

	var ref string
	step("read draft", app.QueryRow(ctx, "SELECT ref FROM tickets WHERE call_id = 'app-answered'").Scan(&ref))
	k, err := f.store.Submit(ctx, ref, form(configs.CategoryComplaint, ResultFollowUp), "1001", "app-key")
	step("submit", err)
	_, _, err = f.store.OpenTicketForCaller(ctx, answered.Caller, time.Hour)
	step("open ticket for caller", err)
	_, err = f.store.SetStatus(ctx, k.Ref, StatusInProgress, "1001", "working on it")
	step("set status", err)
	step("note", f.store.AddNote(ctx, k.Ref, "1001", "called back"))
	_, err = f.store.Extend(ctx, k.Ref, k.DueAt.Add(24*time.Hour), "waiting for the grid company", "sup")
	step("extend", err)
	_, err = f.store.HandOff(ctx, k.Ref, "1002", "1001")
	step("hand off", err)
	_, err = f.store.RecordSurvey(ctx, "app-answered", 1)
	step("survey", err)
	_, err = f.store.ReserveRef(ctx)
	step("reserve ref", err)
	_, err = f.store.CreateWebTicket(ctx, form(configs.CategoryInquiry, ResultTransferred), ChannelWeb, "1001", "")
	step("web ticket", err)
	_, err = f.store.List(ctx, Filter{})
	step("list", err)
	step("flag nuisance", f.store.FlagNuisance(ctx, "13900000000", "sup", "abusive"))
	_, err = f.store.IsNuisance(ctx, "13900000000")
	step("is nuisance", err)
	step("clear nuisance", f.store.ClearNuisance(ctx, "13900000000", "sup", "apologised"))

	f.draft(t, configs.CategoryInquiry, time.Hour) // overdue: the sweeper flags it
	sw, err := NewSweeper(app, SweeperOptions{Metrics: NewMetrics(prometheus.NewRegistry())})
	step("new sweeper", err)
	res, err := sw.Sweep(ctx)
	step("sweep", err)
	if res.Overdue != 1 {
		t.Fatalf("sweep as hotline_app flagged %d drafts, want 1", res.Overdue)
	}

	kr := mustKeyring(t, secretB64(1))
	p, err := kr.Protect(IDTypeResident, validResidentID)
	step("protect", err)
	_, err = Unmask(ctx, app, UnmaskRequest{Actor: "sup", Role: "supervisor", TicketID: k.ID, Reason: "verify the caller"}, p, kr)
	step("unmask (audit insert)", err)
	assertCount(t, owner, "SELECT count(*) FROM audit_log", 1)
}

// runAgents adds, re-keys and disables an agent and records its states.
func runAgents(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	dir := agents.NewDirectory(pool, "hotline")
	for _, id := range []string{"1001", "1002"} {
		a := agents.Agent{ID: id, DisplayName: "Agent " + id, StaffNumber: id, Categories: []string{"complaint"}, Role: agents.RoleAgent}
		if err := dir.Add(ctx, a, "s3cret-pass"); err != nil {
			t.Fatalf("add agent %s as hotline_app: %v", id, err)
		}
	}
	if err := dir.SetPassword(ctx, "1002", "an0ther-pass"); err != nil {
		t.Fatalf("set password as hotline_app: %v", err)
	}
	if _, ok, err := dir.Verify(ctx, "1002", "an0ther-pass"); err != nil || !ok {
		t.Fatalf("verify as hotline_app: %v %v", ok, err)
	}
	h := agents.NewPGHistory(pool)
	if err := h.RecordStates(ctx, []agents.Event{{Agent: "1001", To: agents.StateAvailable, Node: "n"}}); err != nil {
		t.Fatalf("record states as hotline_app: %v", err)
	}
	a := agents.Agent{ID: "1003", DisplayName: "Leaver", StaffNumber: "1003", Categories: []string{"inquiry"}, Role: agents.RoleAgent}
	if err := dir.Add(ctx, a, "s3cret-pass"); err != nil {
		t.Fatal(err)
	}
	if err := dir.Disable(ctx, "1003"); err != nil {
		t.Fatalf("disable as hotline_app: %v", err)
	}
}

package tickets

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/tickets/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// auditRow is one audit_log row as the tests read it.
type auditRow struct {
	Actor, Role, Action, Reason, Detail, ClientIP string
	TicketID                                      int64
	Age                                           time.Duration // now() - at, by the database clock
}

func auditRows(t *testing.T, db interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) []auditRow {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT actor, coalesce(actor_role, ''), action, reason,
		coalesce(detail, ''), coalesce(client_ip, ''), coalesce(ticket_id, 0),
		extract(epoch FROM now() - at)::float8 FROM audit_log ORDER BY id`)
	if err != nil {
		t.Fatalf("read audit_log: %v", err)
	}
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var r auditRow
		var age float64
		if err := rows.Scan(&r.Actor, &r.Role, &r.Action, &r.Reason, &r.Detail, &r.ClientIP, &r.TicketID, &age); err != nil {
			t.Fatal(err)
		}
		r.Age = time.Duration(age * float64(time.Second))
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// privacyFixture is a migrated database, a keyring and one protected number.
func privacyFixture(t *testing.T) (*pgxpool.Pool, *Keyring, ProtectedID) {
	t.Helper()
	_, pool := pgtest.Migrated(t, Migrate)
	kr := mustKeyring(t, secretB64(1))
	p, err := kr.Protect(IDTypeResident, "11010519491231002X")
	if err != nil {
		t.Fatal(err)
	}
	return pool, kr, p
}

// S5: every unmasked view leaves an audit row, written before the number is
// returned.
func TestUnmaskAuditsEveryView(t *testing.T) {
	pool, kr, p := privacyFixture(t)
	ctx := context.Background()
	reqs := []UnmaskRequest{
		{Actor: "1001", Role: "agent", TicketID: 42, OwnerAgent: "1001", Reason: "  verify caller identity ", ClientIP: "10.0.0.5"},
		{Actor: "sup-li", Role: "supervisor", TicketID: 42, OwnerAgent: "1001", Reason: "复核投诉身份信息", ClientIP: "10.0.0.9"},
		{Actor: "sup-li", Role: "supervisor", TicketID: 43, Reason: "audit sample check"},
	}
	for _, req := range reqs {
		got, err := Unmask(ctx, pool, req, p, kr)
		if err != nil || got != "11010519491231002X" {
			t.Fatalf("Unmask(%+v) = %q, %v", req, got, err)
		}
	}
	rows := auditRows(t, pool)
	want := []auditRow{
		{Actor: "1001", Role: "agent", Action: AuditUnmask, Reason: "verify caller identity", ClientIP: "10.0.0.5", TicketID: 42},
		{Actor: "sup-li", Role: "supervisor", Action: AuditUnmask, Reason: "复核投诉身份信息", ClientIP: "10.0.0.9", TicketID: 42},
		{Actor: "sup-li", Role: "supervisor", Action: AuditUnmask, Reason: "audit sample check", TicketID: 43},
	}
	if len(rows) != len(want) {
		t.Fatalf("audit_log has %d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i, r := range rows {
		if r.Age < 0 || r.Age > time.Minute {
			t.Fatalf("row %d stamped %v ago, want the database's now()", i, r.Age)
		}
		r.Age = 0
		if r != want[i] {
			t.Fatalf("row %d = %+v, want %+v", i, r, want[i])
		}
	}
}

// S5: refusals return an error, never the number, and are audited too.
func TestUnmaskRefusalsAreAudited(t *testing.T) {
	pool, kr, p := privacyFixture(t)
	ctx := context.Background()
	tests := []struct {
		name string
		req  UnmaskRequest
		want error
	}{
		{"agent who does not own the ticket", UnmaskRequest{Actor: "1002", Role: "agent", TicketID: 7, OwnerAgent: "1001", Reason: "caller asked"}, ErrForbidden},
		{"agent on a ticket without owner", UnmaskRequest{Actor: "1002", Role: "agent", TicketID: 7, Reason: "caller asked"}, ErrForbidden},
		{"unknown role", UnmaskRequest{Actor: "ops", Role: "admin", TicketID: 7, OwnerAgent: "1001", Reason: "caller asked"}, ErrForbidden},
		{"no role", UnmaskRequest{Actor: "1001", TicketID: 7, OwnerAgent: "1001", Reason: "caller asked"}, ErrForbidden},
		{"no reason", UnmaskRequest{Actor: "1001", Role: "agent", TicketID: 7, OwnerAgent: "1001"}, ErrReasonRequired},
		{"blank reason", UnmaskRequest{Actor: "sup", Role: "supervisor", TicketID: 7, Reason: "      "}, ErrReasonRequired},
		{"four characters", UnmaskRequest{Actor: "sup", Role: "supervisor", TicketID: 7, Reason: "核对身份"}, ErrReasonRequired},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Unmask(ctx, pool, tt.req, p, kr)
			if !errors.Is(err, tt.want) || got != "" {
				t.Fatalf("Unmask = %q, %v; want error %v", got, err, tt.want)
			}
			rows := auditRows(t, pool)
			if len(rows) != i+1 {
				t.Fatalf("audit_log has %d rows after %d refusals", len(rows), i+1)
			}
			last := rows[i]
			if last.Action != AuditUnmaskDenied || last.Actor != tt.req.Actor || last.Role != tt.req.Role ||
				last.TicketID != 7 || last.Detail != err.Error() {
				t.Fatalf("audit row %+v does not record the refusal %q", last, err)
			}
		})
	}
}

func TestUnmaskWithoutActorWritesNothing(t *testing.T) {
	pool, kr, p := privacyFixture(t)
	_, err := Unmask(context.Background(), pool, UnmaskRequest{Role: "supervisor", Reason: "no one asked"}, p, kr)
	if err == nil || errors.Is(err, ErrForbidden) {
		t.Fatalf("Unmask without actor: %v, want a plain error", err)
	}
	if rows := auditRows(t, pool); len(rows) != 0 {
		t.Fatalf("audit rows %+v for an unattributable request", rows)
	}
}

// The audit row joins the caller's transaction: invisible to others until
// the caller commits.
func TestUnmaskInCallerTransaction(t *testing.T) {
	pool, kr, p := privacyFixture(t)
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	req := UnmaskRequest{Actor: "1001", Role: "agent", TicketID: 5, OwnerAgent: "1001", Reason: "callback to confirm"}
	if got, err := Unmask(ctx, tx, req, p, kr); err != nil || got != "11010519491231002X" {
		t.Fatalf("Unmask in tx = %q, %v", got, err)
	}
	if rows := auditRows(t, tx); len(rows) != 1 || rows[0].Action != AuditUnmask {
		t.Fatalf("inside the transaction: %+v", rows)
	}
	if rows := auditRows(t, pool); len(rows) != 0 {
		t.Fatalf("row visible before commit: %+v", rows)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if rows := auditRows(t, pool); len(rows) != 1 || rows[0].Actor != "1001" {
		t.Fatalf("after commit: %+v", rows)
	}
}

// No audit row, no clear text: a transaction that cannot take the row gets
// an error, and so does a value that does not decrypt.
func TestUnmaskFailsClosed(t *testing.T) {
	pool, kr, p := privacyFixture(t)
	ctx := context.Background()
	req := UnmaskRequest{Actor: "sup", Role: "supervisor", TicketID: 9, Reason: "identity check"}

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SELECT 1/0"); err == nil {
		t.Fatal("division by zero succeeded")
	}
	if got, err := Unmask(ctx, tx, req, p, kr); err == nil || got != "" {
		t.Fatalf("Unmask in an aborted transaction = %q, %v; want an error", got, err)
	}

	tampered := p
	tampered.Ciphertext = append([]byte{}, p.Ciphertext...)
	tampered.Ciphertext[20] ^= 1
	if got, err := Unmask(ctx, pool, req, tampered, kr); !errors.Is(err, ErrDecrypt) || got != "" {
		t.Fatalf("Unmask of a tampered value = %q, %v; want ErrDecrypt", got, err)
	}
	if rows := auditRows(t, pool); len(rows) != 0 {
		t.Fatalf("audit rows %+v although nothing was shown", rows)
	}
}

// S5: the log is append-only in the database itself, whoever connects.
func TestAuditLogIsAppendOnly(t *testing.T) {
	_, pool := pgtest.Migrated(t, Migrate)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO audit_log (actor, action, reason, at)
		VALUES ('1001', 'unmask_id', 'client sent its own time', '2000-01-01')`); err != nil {
		t.Fatal(err)
	}
	if rows := auditRows(t, pool); len(rows) != 1 || rows[0].Age > time.Minute {
		t.Fatalf("client-supplied time kept: %+v", rows)
	}
	tests := []struct{ name, sql string }{
		{"update", "UPDATE audit_log SET reason = 'rewritten'"},
		{"delete", "DELETE FROM audit_log"},
		{"delete matching nothing", "DELETE FROM audit_log WHERE false"},
		{"update matching nothing", "UPDATE audit_log SET actor = 'x' WHERE id < 0"},
		{"truncate", "TRUNCATE audit_log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pool.Exec(ctx, tt.sql)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "42501" || pgErr.Message == "" {
				t.Fatalf("%s: %v, want insufficient_privilege from the trigger", tt.sql, err)
			}
		})
	}
	if rows := auditRows(t, pool); len(rows) != 1 || rows[0].Reason != "client sent its own time" {
		t.Fatalf("audit_log changed: %+v", rows)
	}
}

// The application role may insert and read, never update or delete.
func TestAuditLogAppRolePrivileges(t *testing.T) {
	_, pool := pgtest.Migrated(t, Migrate)
	ctx := context.Background()
	tests := []struct {
		privilege string
		want      bool
	}{
		{"INSERT", true}, {"SELECT", true}, {"UPDATE", false}, {"DELETE", false}, {"TRUNCATE", false},
	}
	for _, tt := range tests {
		t.Run(tt.privilege, func(t *testing.T) {
			var has bool
			if err := pool.QueryRow(ctx, "SELECT has_table_privilege('hotline_app', 'audit_log', $1)", tt.privilege).Scan(&has); err != nil {
				t.Fatalf("role hotline_app (created by 0004 as superuser): %v", err)
			}
			if has != tt.want {
				t.Fatalf("hotline_app %s on audit_log = %v, want %v", tt.privilege, has, tt.want)
			}
		})
	}
}

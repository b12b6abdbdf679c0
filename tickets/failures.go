package tickets

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// waitClasses are the SQLSTATE classes of a refusal that is not this
// record's fault, so the record waits in the spool: the connection (08), the
// login (28), the database or schema missing (3D, 3F), a conflict with
// another transaction (40), resources (53), locks (55), an operator or a
// timeout (57, 57P0x shutdown), the server's own faults (58, F0, XX), and a
// missing grant, table or column (42). A class 42 error concerns every record
// alike (a migration or grant not applied): dead-lettering it would empty the
// spool of the whole outage instead of waiting for the operator's fix.
var waitClasses = map[string]bool{
	"08": true, "28": true, "3D": true, "3F": true, "40": true, "42": true,
	"53": true, "55": true, "57": true, "58": true, "F0": true, "XX": true,
}

// permanent reports whether err means the database will never accept this
// record, so retrying it is pointless and it must not hold up the records
// behind it: an invalid record, or any refusal whose class is not in
// waitClasses — above all 22 (data exception), 23 (integrity constraint) and
// 54 (program limit exceeded: a value too large for an index). Errors that
// are not a server's answer (connection refused, timeouts, a closed pool)
// are never permanent.
func permanent(err error) bool {
	if errors.Is(err, errInvalidRecord) {
		return true
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) != 5 {
		return false
	}
	return !waitClasses[pgErr.Code[:2]]
}

// sqlState returns the SQLSTATE of err, or "" when the server gave none.
func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

package agents

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"unicode"

	"github.com/hotline-dev/hotline/configs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Roles an agent can have.
const (
	RoleAgent      = "agent"
	RoleSupervisor = "supervisor"
)

// Digest algorithms whose HA1 the directory stores (RFC 8760 §3).
const (
	AlgorithmMD5    = "MD5"
	AlgorithmSHA256 = "SHA-256"
)

// MinPasswordLength is the shortest password Add and SetPassword accept.
const MinPasswordLength = 8

// ErrAgentNotFound is returned (wrapped) for an id the directory does not hold.
var ErrAgentNotFound = errors.New("agent not found")

// ErrAgentExists is returned (wrapped) by Add for an id or staff number in use.
var ErrAgentExists = errors.New("agent already exists")

// ErrInvalidAgent is returned (wrapped) for an agent or password that fails validation.
var ErrInvalidAgent = errors.New("invalid agent")

// ErrNoPanelPassword is returned (wrapped) by Verify for an agent who gave
// the right SIP password but has no panel password yet (set before the panel
// had its own hash): `hotline agent password` sets one.
var ErrNoPanelPassword = errors.New("no panel password set")

// idPattern is a SIP user name we accept as an agent id: digits ("1001") or
// a short lower-case name; it never holds ':' (HA1 separator) or '@'.
var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// staffPattern is a staff number the IVR can say digit by digit (S2).
var staffPattern = regexp.MustCompile(`^[0-9]{1,16}$`)

// Agent is one entry of the agent directory.
type Agent struct {
	// ID is the SIP user name the agent's softphone registers with.
	ID          string
	DisplayName string
	// StaffNumber is announced to the caller when the agent answers (S2).
	StaffNumber string
	// Categories are the queues the agent serves.
	Categories []string
	// Role is RoleAgent or RoleSupervisor.
	Role string
	// Enabled is false once the agent was disabled; Add ignores it.
	Enabled bool
	// SessionEpoch changes (in the database, for every writer) when the agent
	// is disabled or enabled, or its password or role changes: a panel
	// session issued under another epoch is over. Add ignores it.
	SessionEpoch int64
}

// Directory is the agent directory in PostgreSQL (table agents). It stores
// HA1 digests for its realm and an argon2id hash for the panel, never
// passwords.
type Directory struct {
	pool  *pgxpool.Pool
	realm string
	// hashSlots bounds the argon2id hashes computed at once (19 MiB each),
	// so a burst of sign-ins cannot exhaust memory.
	hashSlots chan struct{}
}

// NewDirectory returns the directory on pool for the SIP digest realm.
func NewDirectory(pool *pgxpool.Pool, realm string) *Directory {
	return &Directory{pool: pool, realm: realm, hashSlots: make(chan struct{}, 2*runtime.GOMAXPROCS(0))}
}

// Add creates an enabled agent whose password is stored as HA1 for MD5 and
// SHA-256 in the directory's realm, and as an argon2id hash for the panel.
func (d *Directory) Add(ctx context.Context, a Agent, password string) error {
	a.Categories = normalizeCategories(a.Categories)
	if err := validateAgent(a); err != nil {
		return err
	}
	if err := validatePassword(password); err != nil {
		return err
	}
	panelHash, err := hashPanelPassword(password)
	if err != nil {
		return fmt.Errorf("add agent %s: %w", a.ID, err)
	}
	_, err = d.pool.Exec(ctx, `INSERT INTO agents
		(id, display_name, staff_number, categories, role, realm, ha1_md5, ha1_sha256, panel_hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		a.ID, a.DisplayName, a.StaffNumber, a.Categories, a.Role, d.realm,
		HA1(AlgorithmMD5, a.ID, d.realm, password), HA1(AlgorithmSHA256, a.ID, d.realm, password), panelHash)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation
		return fmt.Errorf("add agent %s: %w (id or staff number %s in use)", a.ID, ErrAgentExists, a.StaffNumber)
	}
	if err != nil {
		return fmt.Errorf("add agent %s: %w", a.ID, err)
	}
	return nil
}

const agentColumns = `id, display_name, staff_number, categories, role, enabled, session_epoch`

func scanAgent(row pgx.Row, more ...any) (Agent, error) {
	var a Agent
	err := row.Scan(append([]any{&a.ID, &a.DisplayName, &a.StaffNumber, &a.Categories, &a.Role, &a.Enabled,
		&a.SessionEpoch}, more...)...)
	return a, err
}

// Get returns the agent with id, enabled or not; ErrAgentNotFound (wrapped)
// when there is none.
func (d *Directory) Get(ctx context.Context, id string) (Agent, error) {
	a, err := scanAgent(d.pool.QueryRow(ctx, `SELECT `+agentColumns+` FROM agents WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Agent{}, fmt.Errorf("get agent %s: %w", id, ErrAgentNotFound)
	}
	if err != nil {
		return Agent{}, fmt.Errorf("get agent %s: %w", id, err)
	}
	return a, nil
}

// List returns every agent, enabled or not, ordered by id.
func (d *Directory) List(ctx context.Context) ([]Agent, error) {
	rows, err := d.pool.Query(ctx, `SELECT `+agentColumns+` FROM agents ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Agent, error) { return scanAgent(r) })
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	return out, nil
}

// Disable stops the agent from authenticating and ends its panel sessions
// (SessionEpoch); the row stays for the call records and state history.
// Disabling a disabled agent is not an error.
func (d *Directory) Disable(ctx context.Context, id string) error {
	tag, err := d.pool.Exec(ctx, `UPDATE agents SET enabled = false,
		disabled_at = coalesce(disabled_at, now()) WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("disable agent %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("disable agent %s: %w", id, ErrAgentNotFound)
	}
	return nil
}

// SetPassword replaces the agent's HA1 digests, computed in the directory's
// realm (also the way to move an agent to a new realm), and its panel hash.
// The agent's panel sessions end (SessionEpoch).
func (d *Directory) SetPassword(ctx context.Context, id, password string) error {
	if err := validatePassword(password); err != nil {
		return err
	}
	panelHash, err := hashPanelPassword(password)
	if err != nil {
		return fmt.Errorf("set password of agent %s: %w", id, err)
	}
	tag, err := d.pool.Exec(ctx, `UPDATE agents SET realm = $2, ha1_md5 = $3, ha1_sha256 = $4, panel_hash = $5
		WHERE id = $1`, id, d.realm, HA1(AlgorithmMD5, id, d.realm, password),
		HA1(AlgorithmSHA256, id, d.realm, password), panelHash)
	if err != nil {
		return fmt.Errorf("set password of agent %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("set password of agent %s: %w", id, ErrAgentNotFound)
	}
	return nil
}

// SetRole makes the agent a RoleAgent or a RoleSupervisor; a change ends
// the agent's panel sessions (SessionEpoch), so no session keeps a role
// taken away.
func (d *Directory) SetRole(ctx context.Context, id, role string) error {
	if role != RoleAgent && role != RoleSupervisor {
		return fmt.Errorf("%w: role %q: want %s or %s", ErrInvalidAgent, role, RoleAgent, RoleSupervisor)
	}
	tag, err := d.pool.Exec(ctx, `UPDATE agents SET role = $2 WHERE id = $1`, id, role)
	if err != nil {
		return fmt.Errorf("set role of agent %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("set role of agent %s: %w", id, ErrAgentNotFound)
	}
	return nil
}

// HA1 returns the stored HA1 of an enabled agent for algorithm ("MD5" or
// "SHA-256", case-insensitive) in the directory's realm. ok is false for an
// unknown agent, a disabled one, one whose password was set for another
// realm, and an unsupported algorithm: callers answer all of these alike
// (the same 401), so an attacker cannot learn which ids exist.
func (d *Directory) HA1(ctx context.Context, id, algorithm string) (ha1 string, ok bool, err error) {
	column := ""
	switch strings.ToUpper(algorithm) {
	case AlgorithmMD5:
		column = "ha1_md5"
	case AlgorithmSHA256:
		column = "ha1_sha256"
	default:
		return "", false, nil
	}
	err = d.pool.QueryRow(ctx, `SELECT `+column+` FROM agents WHERE id = $1 AND enabled AND realm = $2`,
		id, d.realm).Scan(&ha1)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read credentials of agent %s: %w", id, err)
	}
	return ha1, true, nil
}

// dummyPanelHash is hashed against for an unknown or disabled id, so the
// time a refusal takes does not tell which ids exist. No password matches it.
const dummyPanelHash = "$argon2id$v=19$m=19456,t=2,p=1$aG90bGluZS1uby1zdWNoLQ$bm8gYWdlbnQgaGFzIHRoaXMga2V5LCBldmVyLiBvay4"

// Verify checks a panel sign-in: password against the agent's argon2id
// panel hash (never the SIP HA1, a fast unsalted hash). ok is false for a
// wrong password and an unknown or disabled agent alike, so callers answer
// them with the same message. An agent without a panel hash cannot sign
// in: the error wraps ErrNoPanelPassword when the password matches its SIP
// HA1 (the person knows the password, so telling them leaks nothing), else
// ok is false as for a wrong password. Other errors are database failures.
func (d *Directory) Verify(ctx context.Context, id, password string) (Agent, bool, error) {
	var panelHash *string
	var md5HA1, realm string
	a, err := scanAgent(d.pool.QueryRow(ctx, `SELECT `+agentColumns+`, panel_hash, ha1_md5, realm
		FROM agents WHERE id = $1 AND enabled`, id), &panelHash, &md5HA1, &realm)
	found := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Agent{}, false, fmt.Errorf("verify agent %s: %w", id, err)
	}
	encoded := dummyPanelHash
	if found && panelHash != nil {
		encoded = *panelHash
	}
	match, err := d.checkPanelPassword(ctx, encoded, password)
	if err != nil {
		return Agent{}, false, fmt.Errorf("verify agent %s: %w", id, err)
	}
	switch {
	case !found:
		return Agent{}, false, nil
	case panelHash != nil && match:
		return a, true, nil
	case panelHash == nil && subtle.ConstantTimeCompare([]byte(HA1(AlgorithmMD5, id, realm, password)), []byte(md5HA1)) == 1:
		return Agent{}, false, fmt.Errorf("agent %s: %w", id, ErrNoPanelPassword)
	}
	return Agent{}, false, nil
}

// checkPanelPassword runs the argon2id comparison in one of hashSlots.
func (d *Directory) checkPanelPassword(ctx context.Context, encoded, password string) (bool, error) {
	select {
	case d.hashSlots <- struct{}{}:
	case <-ctx.Done():
		return false, fmt.Errorf("wait to check password: %w", ctx.Err())
	}
	defer func() { <-d.hashSlots }()
	return checkPanelPassword(encoded, password)
}

// HA1 computes H(user:realm:password) in lower-case hex for algorithm "MD5"
// or "SHA-256" (RFC 7616 §3.4.2); any other algorithm gives "".
func HA1(algorithm, user, realm, password string) string {
	var h hash.Hash
	switch strings.ToUpper(algorithm) {
	case AlgorithmMD5:
		h = md5.New()
	case AlgorithmSHA256:
		h = sha256.New()
	default:
		return ""
	}
	h.Write([]byte(user + ":" + realm + ":" + password))
	return hex.EncodeToString(h.Sum(nil))
}

// normalizeCategories trims, lower-cases, sorts and de-duplicates.
func normalizeCategories(in []string) []string {
	out := make([]string, 0, len(in))
	for _, c := range in {
		if c = strings.ToLower(strings.TrimSpace(c)); c != "" {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func validateAgent(a Agent) error {
	var errs []error
	if !idPattern.MatchString(a.ID) {
		errs = append(errs, fmt.Errorf("id %q: want 1-32 of a-z, 0-9, '_' or '-' (e.g. the extension \"1001\")", a.ID))
	}
	if name := strings.TrimSpace(a.DisplayName); name == "" || len(name) > 100 ||
		strings.IndexFunc(a.DisplayName, unicode.IsControl) >= 0 {
		errs = append(errs, fmt.Errorf("display name %q: want 1-100 printable characters", a.DisplayName))
	}
	if !staffPattern.MatchString(a.StaffNumber) {
		errs = append(errs, fmt.Errorf("staff number %q: want 1-16 digits (it is announced to callers)", a.StaffNumber))
	}
	if len(a.Categories) == 0 {
		errs = append(errs, fmt.Errorf("categories: want at least one of %s", strings.Join(configs.QueueCategories(), ", ")))
	}
	for _, c := range a.Categories {
		if !slices.Contains(configs.QueueCategories(), c) {
			errs = append(errs, fmt.Errorf("category %q: want one of %s", c, strings.Join(configs.QueueCategories(), ", ")))
		}
	}
	if a.Role != RoleAgent && a.Role != RoleSupervisor {
		errs = append(errs, fmt.Errorf("role %q: want %s or %s", a.Role, RoleAgent, RoleSupervisor))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidAgent, err)
	}
	return nil
}

func validatePassword(p string) error {
	if len(p) < MinPasswordLength {
		return fmt.Errorf("%w: password must have at least %d characters", ErrInvalidAgent, MinPasswordLength)
	}
	if strings.IndexFunc(p, unicode.IsControl) >= 0 {
		return fmt.Errorf("%w: password must not contain control characters", ErrInvalidAgent)
	}
	return nil
}

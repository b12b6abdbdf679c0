package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// sessionCookie is the name of the cookie that holds the session id.
const sessionCookie = "hotline_session"

// session is a signed-in person, kept in Redis so any node accepts it.
type session struct {
	AgentID   string    `json:"agent_id"`
	Role      string    `json:"role"`
	CSRFToken string    `json:"csrf_token"`
	CreatedAt time.Time `json:"created_at"`
	// Epoch is the agent's session epoch at sign-in; the session ends when
	// the directory's differs (disable, password or role change).
	Epoch int64 `json:"epoch"`
}

// sessionStore keeps sessions in Redis under prefix. The key is the
// SHA-256 of the session id, so a copy of Redis does not give away cookies.
// A session lives idle after its last request and never past max after
// sign-in.
type sessionStore struct {
	rdb    redis.UniversalClient
	prefix string
	idle   time.Duration
	max    time.Duration
	now    func() time.Time
}

func (s *sessionStore) key(id string) string {
	sum := sha256.Sum256([]byte(id))
	return s.prefix + hex.EncodeToString(sum[:])
}

// create stores a new session for the agent and returns its id.
func (s *sessionStore) create(ctx context.Context, agentID, role string, epoch int64) (string, session, error) {
	id, err := randomToken()
	if err != nil {
		return "", session{}, err
	}
	csrf, err := randomToken()
	if err != nil {
		return "", session{}, err
	}
	sess := session{AgentID: agentID, Role: role, CSRFToken: csrf, CreatedAt: s.now().UTC(), Epoch: epoch}
	data, err := json.Marshal(sess)
	if err != nil {
		return "", session{}, fmt.Errorf("encode session: %w", err)
	}
	if err := s.rdb.Set(ctx, s.key(id), data, min(s.idle, s.max)).Err(); err != nil {
		return "", session{}, fmt.Errorf("store session: %w", err)
	}
	return id, sess, nil
}

// load returns the session of id and renews its idle lifetime, never past
// its absolute end; ok is false when there is none (expired, signed out or
// never issued).
func (s *sessionStore) load(ctx context.Context, id string) (session, bool, error) {
	key := s.key(id)
	data, err := s.rdb.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return session{}, false, nil
	}
	if err != nil {
		return session{}, false, fmt.Errorf("load session: %w", err)
	}
	var sess session
	if err := json.Unmarshal(data, &sess); err != nil {
		return session{}, false, fmt.Errorf("decode session: %w", err)
	}
	left := sess.CreatedAt.Add(s.max).Sub(s.now())
	if left <= 0 {
		return session{}, false, s.delete(ctx, id)
	}
	if err := s.rdb.PExpire(ctx, key, min(s.idle, left)).Err(); err != nil {
		return session{}, false, fmt.Errorf("renew session: %w", err)
	}
	return sess, true, nil
}

// delete ends the session of id; ending an unknown one is not an error.
func (s *sessionStore) delete(ctx context.Context, id string) error {
	if err := s.rdb.Del(ctx, s.key(id)).Err(); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// randomToken is 32 random bytes in unpadded base64url.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

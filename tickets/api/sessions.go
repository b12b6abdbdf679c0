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

const (
	// sessionCookie is the name of the cookie that holds the session id.
	sessionCookie = "hotline_session"
	// sessionTTL is how long a session lives after its last request
	// (sliding: every request renews it).
	sessionTTL = 8 * time.Hour
)

// session is a signed-in person, kept in Redis so any node accepts it.
type session struct {
	AgentID   string    `json:"agent_id"`
	Role      string    `json:"role"`
	CSRFToken string    `json:"csrf_token"`
	CreatedAt time.Time `json:"created_at"`
}

// sessionStore keeps sessions in Redis under prefix. The key is the
// SHA-256 of the session id, so a copy of Redis does not give away cookies.
type sessionStore struct {
	rdb    redis.UniversalClient
	prefix string
	ttl    time.Duration
}

func (s *sessionStore) key(id string) string {
	sum := sha256.Sum256([]byte(id))
	return s.prefix + hex.EncodeToString(sum[:])
}

// create stores a new session for the agent and returns its id.
func (s *sessionStore) create(ctx context.Context, agentID, role string) (string, session, error) {
	id, err := randomToken()
	if err != nil {
		return "", session{}, err
	}
	csrf, err := randomToken()
	if err != nil {
		return "", session{}, err
	}
	sess := session{AgentID: agentID, Role: role, CSRFToken: csrf, CreatedAt: time.Now().UTC()}
	data, err := json.Marshal(sess)
	if err != nil {
		return "", session{}, fmt.Errorf("encode session: %w", err)
	}
	if err := s.rdb.Set(ctx, s.key(id), data, s.ttl).Err(); err != nil {
		return "", session{}, fmt.Errorf("store session: %w", err)
	}
	return id, sess, nil
}

// load returns the session of id and renews its lifetime; ok is false when
// there is none (expired, signed out or never issued).
func (s *sessionStore) load(ctx context.Context, id string) (session, bool, error) {
	data, err := s.rdb.GetEx(ctx, s.key(id), s.ttl).Bytes()
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

package tickets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// SecretKeyEnv is the environment variable that holds the keyring (S5).
const SecretKeyEnv = "HOTLINE_SECRET_KEY"

// Errors of the keyring; match them with errors.Is.
var (
	// ErrSecretKey is matched by ParseKeyring's errors.
	ErrSecretKey = errors.New("bad " + SecretKeyEnv)
	// ErrUnknownKeyVersion means the value was encrypted with a key version
	// the keyring does not hold (a retired key, or a wrong environment).
	ErrUnknownKeyVersion = errors.New("unknown key version")
	// ErrDecrypt means the ciphertext does not authenticate: it was changed,
	// or it belongs to another key, type or version.
	ErrDecrypt = errors.New("ID number cannot be decrypted")
)

const (
	minSecretLen = 32 // bytes of each secret; AES-256 needs a 256-bit key
	keyGenHint   = "generate one with `openssl rand -base64 32`"
)

// hkdfSalt separates our derived keys from any other use of the secret
// (RFC 5869 §3.1).
var hkdfSalt = []byte("hotline S5 keyring")

// Keyring holds the AES-256-GCM keys of ID numbers by version and the HMAC
// key of their blind index (S5). Several versions make key rotation possible:
// new values use the highest version, older ones still decrypt. It is safe
// for concurrent use.
type Keyring struct {
	aeads    map[int]cipher.AEAD
	current  int
	indexKey []byte
}

// ParseKeyring builds the keyring from the value of HOTLINE_SECRET_KEY: either
// one secret of at least 32 bytes in base64 or hex (version 1), or a list
// "1:<base64>,2:<base64>" whose highest version encrypts new values. Every
// key is derived from its secret with HKDF-SHA256 (RFC 5869). The blind-index
// key comes from the lowest version's secret, so it stays the same when a
// version is added; retiring that lowest secret changes every blind index,
// and stored indexes must then be recomputed.
func ParseKeyring(env string) (*Keyring, error) {
	env = strings.TrimSpace(env)
	if env == "" {
		return nil, fmt.Errorf("%w: %s is not set: %s", ErrSecretKey, SecretKeyEnv, keyGenHint)
	}
	secrets, err := parseSecrets(env)
	if err != nil {
		return nil, err
	}
	return newKeyring(secrets)
}

// parseSecrets decodes the single-secret or the versioned-list form.
func parseSecrets(env string) (map[int][]byte, error) {
	if !strings.Contains(env, ":") {
		secret, err := decodeSecret(1, env)
		if err != nil {
			return nil, err
		}
		return map[int][]byte{1: secret}, nil
	}
	secrets := map[int][]byte{}
	for i, entry := range strings.Split(env, ",") {
		v, encoded, ok := strings.Cut(strings.TrimSpace(entry), ":")
		version, err := strconv.Atoi(v)
		if !ok || err != nil || version < 1 {
			return nil, fmt.Errorf("%w: entry %d must look like <version>:<base64 key> with a version of 1 or more", ErrSecretKey, i+1)
		}
		if _, dup := secrets[version]; dup {
			return nil, fmt.Errorf("%w: key version %d appears twice", ErrSecretKey, version)
		}
		if secrets[version], err = decodeSecret(version, encoded); err != nil {
			return nil, err
		}
	}
	return secrets, nil
}

// decodeSecret accepts hex (`openssl rand -hex 32`) or base64 (standard or
// URL alphabet, padded or not) of at least 32 bytes. A string of hex digits
// only is read as hex. Messages never contain the secret.
func decodeSecret(version int, s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		b, err = decodeBase64(s)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: key version %d is neither base64 nor hex: %s", ErrSecretKey, version, keyGenHint)
	}
	if len(b) < minSecretLen {
		return nil, fmt.Errorf("%w: key version %d has %d bytes, needs at least %d: %s", ErrSecretKey, version, len(b), minSecretLen, keyGenHint)
	}
	return b, nil
}

func decodeBase64(s string) ([]byte, error) {
	var b []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err = enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, err
}

func newKeyring(secrets map[int][]byte) (*Keyring, error) {
	versions := slices.Sorted(maps.Keys(secrets))
	k := &Keyring{aeads: map[int]cipher.AEAD{}, current: versions[len(versions)-1]}
	for _, v := range versions {
		key, err := hkdfSHA256(secrets[v], hkdfSalt, "hotline id number encryption v"+strconv.Itoa(v), 32)
		if err != nil {
			return nil, fmt.Errorf("derive key version %d: %w", v, err)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("key version %d: %w", v, err)
		}
		// A random 96-bit nonce per value, prepended to the ciphertext
		// (nonce || sealed); safe far beyond the number of ID numbers a
		// centre stores under one key version.
		if k.aeads[v], err = cipher.NewGCMWithRandomNonce(block); err != nil {
			return nil, fmt.Errorf("key version %d: %w", v, err)
		}
	}
	indexKey, err := hkdfSHA256(secrets[versions[0]], hkdfSalt, "hotline id number blind index", 32)
	if err != nil {
		return nil, fmt.Errorf("derive blind index key: %w", err)
	}
	k.indexKey = indexKey
	return k, nil
}

// hkdfSHA256 is HKDF with SHA-256 (RFC 5869 §2), from the standard library.
func hkdfSHA256(secret, salt []byte, info string, n int) ([]byte, error) {
	return hkdf.Key(sha256.New, secret, salt, info, n)
}

// CurrentVersion is the key version that encrypts new values.
func (k *Keyring) CurrentVersion() int { return k.current }

// String describes the keyring without any key material, so that printing
// or logging it by mistake leaks nothing (S5).
func (k *Keyring) String() string {
	return fmt.Sprintf("Keyring(versions %v, current %d)", slices.Sorted(maps.Keys(k.aeads)), k.current)
}

// Protect validates an ID number and returns it encrypted with the current
// key version, with its blind index and its masked form (S4, S5). It
// implements IDProtector.
func (k *Keyring) Protect(idType, idNumber string) (ProtectedID, error) {
	normalized, err := ValidateID(idType, idNumber)
	if err != nil {
		return ProtectedID{}, err
	}
	sealed := k.aeads[k.current].Seal(nil, nil, []byte(normalized), additionalData(idType, k.current))
	return ProtectedID{
		Type:       idType,
		Ciphertext: sealed,
		KeyVersion: k.current,
		BlindIndex: k.blindIndex(idType, normalized),
		Masked:     MaskID(normalized),
	}, nil
}

// Decrypt returns the clear ID number of p. Callers showing it to a person
// go through Unmask, which writes the audit row (S5).
func (k *Keyring) Decrypt(p ProtectedID) (string, error) {
	aead, ok := k.aeads[p.KeyVersion]
	if !ok {
		return "", fmt.Errorf("%w: the ID number is encrypted with key version %d, which %s does not hold (it holds %v)",
			ErrUnknownKeyVersion, p.KeyVersion, SecretKeyEnv, slices.Sorted(maps.Keys(k.aeads)))
	}
	plain, err := aead.Open(nil, nil, p.Ciphertext, additionalData(p.Type, p.KeyVersion))
	if err != nil {
		return "", fmt.Errorf("%w: key version %d: %w", ErrDecrypt, p.KeyVersion, err)
	}
	return string(plain), nil
}

// BlindIndex returns the keyed HMAC-SHA256 of a normalized ID number, for
// finding tickets by ID number without decrypting them. It is the same for
// every key version; the number is validated first, so "x" and "X" give the
// same index.
func (k *Keyring) BlindIndex(idType, idNumber string) ([]byte, error) {
	normalized, err := ValidateID(idType, idNumber)
	if err != nil {
		return nil, err
	}
	return k.blindIndex(idType, normalized), nil
}

// blindIndex binds the type too, so a passport and a resident number with
// the same characters never share an index.
func (k *Keyring) blindIndex(idType, normalized string) []byte {
	mac := hmac.New(sha256.New, k.indexKey)
	mac.Write([]byte(idType))
	mac.Write([]byte{0})
	mac.Write([]byte(normalized))
	return mac.Sum(nil)
}

// additionalData binds a ciphertext to its ID type and key version: a value
// copied to another type, or relabelled with another version, fails to open.
func additionalData(idType string, version int) []byte {
	return []byte("hotline id number\x00" + idType + "\x00v" + strconv.Itoa(version))
}

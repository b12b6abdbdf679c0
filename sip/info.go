package sip

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hotline-dev/hotline/sip/media"
)

// ErrBadDTMF is returned for an INFO body that carries no valid DTMF digit.
var ErrBadDTMF = errors.New("no valid dtmf digit")

// ParseInfoDTMF reads one digit from a SIP INFO body:
// application/dtmf-relay ("Signal=5\r\nDuration=160") or application/dtmf ("5").
func ParseInfoDTMF(contentType string, body []byte) (rune, error) {
	switch contentType {
	case "application/dtmf-relay":
		for _, line := range strings.Split(string(body), "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "signal") {
				return infoDigit(strings.TrimSpace(v))
			}
		}
		return 0, fmt.Errorf("dtmf-relay without Signal: %w", ErrBadDTMF)
	case "application/dtmf":
		return infoDigit(strings.TrimSpace(string(body)))
	default:
		return 0, fmt.Errorf("content type %q: %w", contentType, ErrBadDTMF)
	}
}

// infoDigit maps "0".."9", "*", "#", "A".."D" and the RFC 4733 event numbers
// 10 (*) and 11 (#) that some phones send.
func infoDigit(v string) (rune, error) {
	switch {
	case len(v) == 1 && strings.ContainsRune("0123456789*#ABCDabcd", rune(v[0])):
		return []rune(strings.ToUpper(v))[0], nil
	case v == "10":
		return '*', nil
	case v == "11":
		return '#', nil
	}
	return 0, fmt.Errorf("signal %q: %w", sanitize(v), ErrBadDTMF)
}

// maxEarlyDigits bounds the keys one leg holds before its media session
// exists: the peer's input, so its memory is bounded.
const maxEarlyDigits = 32

// earlyDigits holds SIP INFO keys that arrive before the leg's media session
// exists. An INFO may overtake the ACK: over UDP a lost ACK is sent again
// only when the 200 is (after T1, then T2 = 4 s), and a caller who presses
// its key a second after the answer is then heard before the server takes
// the ACK and starts the session. Answered 200 and dropped, such a key left
// the caller in the menu until it hung up. The owner guards it with its mu.
type earlyDigits struct{ keys []rune }

// add keeps d, dropping the oldest key once maxEarlyDigits are held (as a
// media session's digit buffer does).
func (e *earlyDigits) add(d rune) {
	if len(e.keys) == maxEarlyDigits {
		e.keys = e.keys[1:]
	}
	e.keys = append(e.keys, d)
}

// handTo gives the held keys, in order, to the new media session.
func (e *earlyDigits) handTo(sess *media.Session) {
	for _, d := range e.keys {
		sess.PushDigit(d)
	}
	e.keys = nil
}

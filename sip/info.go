package sip

import (
	"errors"
	"fmt"
	"strings"
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

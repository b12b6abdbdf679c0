package sip

import (
	"strings"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"
)

// Bounds on what a request may carry into call records, logs and the
// messages we build from it (the agent leg copies the caller's number into
// its From). They sit well above what RFC 4475's longreq (§3.1.1.7) uses —
// a 115-byte From user, a 141-byte Call-ID, a 379-byte To URI — and well
// below PostgreSQL's btree row limit (about 2.7 kB), where an over-long
// caller number made the call record unwritable.
const (
	maxUserPart    = 128  // user part of the Request-URI, From and To
	maxCallID      = 256  // Call-ID
	maxDisplayName = 256  // display name of From, To or Contact (bytes of UTF-8)
	maxURI         = 1024 // a whole URI with its parameters
	maxAddress     = 2048 // a whole From, To or Contact value with its parameters
	maxContacts    = 16   // Contact header values of one request
)

// statusRequestURITooLong is RFC 3261 §21.4.12 (414).
const statusRequestURITooLong = 414

// checkReqURILength answers 414 to a Request-URI longer than we are willing
// to interpret (RFC 3261 §21.4.12), and 400 to a bad user part in it.
func checkReqURILength(req *sip.Request) *RequestError {
	if len(req.Recipient.String()) > maxURI || len(req.Recipient.User) > maxUserPart {
		return &RequestError{Status: statusRequestURITooLong, Reason: "Request-URI Too Long"}
	}
	if !isUserPart(req.Recipient.User) {
		return badRequest("Bad Request-URI user part")
	}
	return nil
}

// checkReqIdentity bounds the length and characters of what identifies the
// caller and the call: the From and To addresses and display names, the
// Call-ID and the Contact addresses (RFC 3261 §25.1 grammar). Each refusal is
// a 400 whose reason phrase names the header, so the peer's log says what to
// fix.
func checkReqIdentity(req *sip.Request) *RequestError {
	from, to := req.From(), req.To()
	if e := checkAddress("From", from.Value(), from.DisplayName, &from.Address); e != nil {
		return e
	}
	if e := checkAddress("To", to.Value(), to.DisplayName, &to.Address); e != nil {
		return e
	}
	if e := checkCallID(req.CallID().Value()); e != nil {
		return e
	}
	contacts := req.GetHeaders("Contact")
	if len(contacts) > maxContacts {
		return badRequest("Too many Contact headers")
	}
	for _, h := range contacts {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			continue
		}
		if e := checkAddress("Contact", c.Value(), c.DisplayName, &c.Address); e != nil {
			return e
		}
	}
	return nil
}

// checkAddress checks a From, To or Contact: its whole value, display name
// and URI.
func checkAddress(name, value, display string, uri *sip.Uri) *RequestError {
	switch {
	case len(uri.User) > maxUserPart:
		return badRequest(name + " user part too long")
	case !isUserPart(uri.User):
		return badRequest("Bad " + name + " user part")
	case len(uri.String()) > maxURI:
		return badRequest(name + " URI too long")
	case len(display) > maxDisplayName:
		return badRequest(name + " display name too long")
	case !isDisplayName(display):
		return badRequest("Bad " + name + " display name")
	case len(value) > maxAddress:
		return badRequest(name + " header too long")
	}
	return nil
}

// checkCallID: callid = word ["@" word] (RFC 3261 §25.1). Any visible ASCII
// character is accepted, a little wider than the grammar's word, because
// deployed user agents put '=' or ';' in Call-IDs; spaces, control and
// non-ASCII characters are refused.
func checkCallID(id string) *RequestError {
	if len(id) > maxCallID {
		return badRequest("Call-ID too long")
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return badRequest("Bad Call-ID")
		}
	}
	return nil
}

// isUserPart: user = 1*( unreserved / escaped / user-unreserved ) (RFC 3261
// §25.1), as sipgo keeps it (still escaped). The empty user part of a URI
// without one is fine. A tel URI's number and parameters (RFC 3966) fall
// within the same characters.
func isUserPart(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-_.!~*'()&=+$,;?/", c) >= 0:
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			i += 2
		default:
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f'
}

// isDisplayName: a display name is valid UTF-8 (RFC 3261 §25.1 qdtext allows
// UTF8-NONASCII) whose control characters, if any, are escaped as a
// quoted-pair ("\" followed by the character), which RFC 4475 §3.1.1.2
// (intmeth) shows is legal. A bare control character is refused.
func isDisplayName(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			i++ // the escaped character, whatever it is
			continue
		}
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

package sip

import (
	"fmt"
	"slices"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// RequestError is a request refused after parsing. Status and Reason go into the
// response status line (RFC 3261 §8.2, §21.4); Unsupported and Accept carry the
// header values RFC 3261 §8.2.2.3 (420) and §8.2.3 (415) ask for.
type RequestError struct {
	Status int
	// Reason is a short human reason, free of CR/LF, used as the reason phrase.
	Reason string
	// Unsupported lists the option tags of a 420 Bad Extension answer.
	Unsupported []string
	// Accept is the Accept header value of a 415 Unsupported Media Type answer.
	Accept string
}

// Error implements error.
func (e *RequestError) Error() string {
	return fmt.Sprintf("sip request rejected: %d %s", e.Status, e.Reason)
}

const (
	statusUnsupportedURIScheme = 416 // sipgo names 416 after HTTP; RFC 3261 §21.4.14
	maxCSeq                    = 1<<31 - 1
	maxUnsupportedTags         = 16
	// acceptInvite and acceptInfo are the body types we process (SDP
	// offer/answer, DTMF by SIP INFO).
	acceptInvite = "application/sdp"
	acceptInfo   = "application/dtmf-relay, application/dtmf"
)

// singleValued are header fields that must appear at most once in a request
// (RFC 3261 §7.3.1, §20; RFC 4475 §3.3.8 multi01, §3.3.9 mcl01).
var singleValued = []string{"To", "From", "Call-ID", "CSeq", "Max-Forwards", "Content-Length", "Content-Type"}

// requestChecks run in the order of RFC 3261 §8.2: version and framing (400/505)
// and the bounds of limits.go first, then Request-URI (416, 414), loops (483),
// extensions (420), content (415/406).
var requestChecks = []func(*sip.Request) *RequestError{
	checkReqVersion,
	checkReqLineBreaks,
	checkReqMandatory,
	checkReqSingleValued,
	checkReqIdentity,
	checkReqCSeq,
	checkReqContentLength,
	checkReqBranch,
	checkReqURIScheme,
	checkReqURILength,
	checkReqURIHeaders,
	checkReqRegisterTo,
	checkReqMaxForwards,
	checkReqRequire,
	checkReqContentType,
	checkReqAccept,
}

// ValidateRequest checks a parsed request the way a UAS must before processing
// it (RFC 3261 §8.2, RFC 4475). It returns nil when the request may be handled,
// else the error response to send. An ACK is never answered: callers drop an
// ACK that fails validation (RFC 3261 §17.2.3).
func ValidateRequest(req *sip.Request) *RequestError {
	if req == nil {
		return &RequestError{Status: sip.StatusBadRequest, Reason: "Empty request"}
	}
	for _, check := range requestChecks {
		if e := check(req); e != nil {
			return e
		}
	}
	return nil
}

// ErrorResponse builds the answer to a request that failed ValidateRequest:
// status, reason phrase, To-tag and the Unsupported (420), Accept (415) or
// Warning (406, RFC 4475 §3.3.15) header. The version is always SIP/2.0, also
// in a 505 (RFC 3261 §7.1). Never send it for an ACK.
func ErrorResponse(req *sip.Request, e *RequestError) *sip.Response {
	reason := strings.TrimSpace(cleanHeaderText(e.Reason))
	if reason == "" {
		reason = "Bad Request"
	}
	res := sip.NewResponseFromRequest(req, e.Status, reason, nil)
	res.SipVersion = "SIP/2.0"
	scrubHeaders(res)
	if len(e.Unsupported) > 0 {
		res.AppendHeader(sip.NewHeader("Unsupported", cleanHeaderText(strings.Join(e.Unsupported, ", "))))
	}
	if e.Accept != "" {
		res.AppendHeader(sip.NewHeader("Accept", cleanHeaderText(e.Accept)))
	}
	if e.Status == sip.StatusNotAcceptable {
		res.AppendHeader(sip.NewHeader("Warning", `399 hotline "`+strings.ReplaceAll(reason, `"`, "'")+`"`))
	}
	return res
}

// scrubHeaders replaces header fields copied from the request that carry a CR or
// LF (sipgo splits lines at CR only, so a bare LF survives parsing) with cleaned
// copies: nothing from a hostile request may start a new header line.
func scrubHeaders(res *sip.Response) {
	hs := res.Headers()
	if !slices.ContainsFunc(hs, func(h sip.Header) bool { return hasLineBreak(h.Value()) }) {
		return
	}
	clean := make([]sip.Header, len(hs))
	for i, h := range hs {
		clean[i] = h
		if hasLineBreak(h.Value()) {
			clean[i] = sip.NewHeader(h.Name(), cleanHeaderText(h.Value()))
		}
	}
	for _, h := range clean {
		res.RemoveHeader(h.Name())
	}
	for _, h := range clean {
		res.AppendHeader(h)
	}
}

func hasLineBreak(s string) bool { return strings.ContainsAny(s, "\r\n") }

func badRequest(reason string) *RequestError {
	return &RequestError{Status: sip.StatusBadRequest, Reason: reason}
}

// checkReqVersion: RFC 3261 §8.2.2 / §21.5.6, RFC 4475 §3.1.2.16 (badvers).
// The version string is case-insensitive (RFC 3261 §7.1).
func checkReqVersion(req *sip.Request) *RequestError {
	if !strings.EqualFold(req.SipVersion, "SIP/2.0") {
		return &RequestError{Status: sip.StatusVersionNotSupported, Reason: "Version Not Supported"}
	}
	return nil
}

// checkReqLineBreaks rejects a CR or LF inside the request line or a header
// value (RFC 3261 §7.3.1: after unfolding a header field is one line). sipgo
// splits lines at CR only, so a bare LF would otherwise reach our responses.
func checkReqLineBreaks(req *sip.Request) *RequestError {
	if hasLineBreak(string(req.Method)) || hasLineBreak(req.Recipient.String()) {
		return badRequest("Line break in request line")
	}
	for _, h := range req.Headers() {
		if hasLineBreak(h.Name()) || hasLineBreak(h.Value()) {
			return badRequest("Line break in header")
		}
	}
	return nil
}

// checkReqMandatory: RFC 3261 §8.1.1 lists To, From, CSeq, Call-ID, Max-Forwards
// and Via; Max-Forwards is tolerated when absent so RFC 2543 peers still work
// (RFC 4475 §3.4.1 inv2543). RFC 4475 §3.3.1 (insuf) expects 400.
func checkReqMandatory(req *sip.Request) *RequestError {
	switch {
	case req.Via() == nil:
		return badRequest("Missing Via")
	case req.To() == nil:
		return badRequest("Missing To")
	case req.From() == nil:
		return badRequest("Missing From")
	case req.CallID() == nil:
		return badRequest("Missing Call-ID")
	case req.CSeq() == nil:
		return badRequest("Missing CSeq")
	}
	return nil
}

// checkReqSingleValued rejects conflicting copies of single-valued header fields
// (RFC 4475 §3.3.8 multi01 and §3.3.9 mcl01 expect 400).
func checkReqSingleValued(req *sip.Request) *RequestError {
	for _, name := range singleValued {
		if len(req.GetHeaders(name)) > 1 {
			return badRequest("Multiple " + name + " headers")
		}
	}
	return nil
}

// checkReqCSeq: the sequence number is below 2**31 (RFC 3261 §8.1.1.5, RFC 4475
// §3.1.2.4 scalar02) and the method matches the request line (RFC 4475 §3.1.2.17
// mismatch01, §3.1.2.18 mismatch02). sipgo upper-cases the request-line method,
// so the comparison ignores case (RFC 4475 §3.1.1.2 intmeth stays valid).
func checkReqCSeq(req *sip.Request) *RequestError {
	cseq := req.CSeq()
	if cseq.SeqNo > maxCSeq {
		return badRequest("CSeq number out of range")
	}
	if !strings.EqualFold(string(cseq.MethodName), string(req.Method)) {
		return badRequest("CSeq method mismatch")
	}
	return nil
}

// checkReqContentLength: a present Content-Length must equal the body length
// (RFC 3261 §18.3, §20.14; RFC 4475 §3.1.2.2 clerr). Over UDP sipgo already
// cuts octets beyond Content-Length (RFC 4475 §3.1.1.8 dblreq).
func checkReqContentLength(req *sip.Request) *RequestError {
	if cl := req.ContentLength(); cl != nil && int(*cl) != len(req.Body()) {
		return badRequest("Content-Length mismatch")
	}
	return nil
}

// checkReqBranch rejects a top Via branch that is the RFC 3261 magic cookie
// alone: it cannot identify a transaction (RFC 3261 §8.1.1.7; RFC 4475 §3.2.1
// badbranch allows a stateless 400). A missing branch is an RFC 2543 peer and
// is accepted (RFC 4475 §3.4.1).
func checkReqBranch(req *sip.Request) *RequestError {
	if b, ok := req.Via().Params.Get("branch"); ok && strings.EqualFold(b, sip.RFC3261BranchMagicCookie) {
		return badRequest("Invalid branch")
	}
	return nil
}

// checkReqURIScheme: we only route sip, sips and tel Request-URIs (RFC 3261
// §8.2.2.1; RFC 4475 §3.3.2 unkscm, §3.3.3 novelsc expect 416). An empty scheme
// is what sipgo uses for sip in requests built in code.
func checkReqURIScheme(req *sip.Request) *RequestError {
	switch strings.ToLower(req.Recipient.Scheme) {
	case "", "sip", "sips", "tel":
		return nil
	}
	return &RequestError{Status: statusUnsupportedURIScheme, Reason: "Unsupported URI Scheme"}
}

// checkReqURIHeaders: a Request-URI must not carry headers (RFC 3261 §19.1.1
// Table 1; RFC 4475 §3.1.2.11 escruri allows 400).
func checkReqURIHeaders(req *sip.Request) *RequestError {
	if req.Recipient.Headers.Length() > 0 {
		return badRequest("Request-URI has headers")
	}
	return nil
}

// checkReqRegisterTo: the To of a REGISTER is an address of record and must be a
// SIP or SIPS URI (RFC 3261 §10.2; RFC 4475 §3.3.4 unksm2 expects 400). Unknown
// schemes in To/From of other requests are legal and accepted.
func checkReqRegisterTo(req *sip.Request) *RequestError {
	if req.Method != sip.REGISTER {
		return nil
	}
	switch strings.ToLower(req.To().Address.Scheme) {
	case "", "sip", "sips":
		return nil
	}
	return badRequest("To is not a SIP URI")
}

// checkReqMaxForwards answers 483 to a non-OPTIONS request that arrives with
// Max-Forwards 0 (RFC 3261 §16.3 item 3, applied at our edge as a loop guard;
// OPTIONS is answered, RFC 3261 §11, RFC 4475 §3.3.11 zeromf). The value is
// numeric: sipgo refuses anything else at parse time.
func checkReqMaxForwards(req *sip.Request) *RequestError {
	if mf := req.MaxForwards(); mf != nil && mf.Val() == 0 && req.Method != sip.OPTIONS {
		return &RequestError{Status: sip.StatusTooManyHops, Reason: "Too Many Hops"}
	}
	return nil
}

// checkReqRequire: we implement no SIP extension, so every option tag in Require
// is unsupported (RFC 3261 §8.2.2.3; RFC 4475 §3.3.5 bext01 expects 420 with an
// Unsupported header). Require is ignored in ACK and CANCEL (RFC 3261 §8.2.2.3).
// Proxy-Require is for proxies and ignored by a UAS.
func checkReqRequire(req *sip.Request) *RequestError {
	if req.Method == sip.ACK || req.Method == sip.CANCEL {
		return nil
	}
	var tags []string
	for _, h := range req.GetHeaders("Require") {
		for _, tag := range strings.Split(h.Value(), ",") {
			if tag = cleanHeaderText(strings.TrimSpace(tag)); tag != "" && len(tags) < maxUnsupportedTags {
				tags = append(tags, tag)
			}
		}
	}
	if len(tags) == 0 {
		return nil
	}
	return &RequestError{Status: sip.StatusBadExtension, Reason: "Bad Extension", Unsupported: tags}
}

// checkReqContentType: a body needs a Content-Type (RFC 3261 §20.15); INVITE
// bodies must be SDP and INFO bodies DTMF (RFC 3261 §8.2.3; RFC 4475 §3.3.6
// invut expects 415 with Accept).
func checkReqContentType(req *sip.Request) *RequestError {
	if len(req.Body()) == 0 {
		return nil
	}
	ct := req.ContentType()
	if ct == nil {
		return badRequest("Missing Content-Type")
	}
	mt := contentMediaType(ct.Value())
	switch req.Method {
	case sip.INVITE:
		if mt != "application/sdp" {
			return &RequestError{Status: sip.StatusUnsupportedMediaType, Reason: "Unsupported Media Type", Accept: acceptInvite}
		}
	case sip.INFO:
		if mt != "application/dtmf-relay" && mt != "application/dtmf" {
			return &RequestError{Status: sip.StatusUnsupportedMediaType, Reason: "Unsupported Media Type", Accept: acceptInfo}
		}
	}
	return nil
}

// checkReqAccept: an INVITE whose Accept excludes SDP leaves us no way to answer
// (RFC 3261 §20.1: an empty Accept accepts nothing; RFC 4475 §3.3.15 sdp01
// allows 406 with a 399 Warning, which ErrorResponse adds).
func checkReqAccept(req *sip.Request) *RequestError {
	if req.Method != sip.INVITE {
		return nil
	}
	hs := req.GetHeaders("Accept")
	if len(hs) == 0 {
		return nil // absent means application/sdp (RFC 3261 §20.1)
	}
	for _, h := range hs {
		for _, r := range strings.Split(h.Value(), ",") {
			switch contentMediaType(r) {
			case "application/sdp", "application/*", "*/*":
				return nil
			}
		}
	}
	return &RequestError{Status: sip.StatusNotAcceptable, Reason: "Not Acceptable: SDP not in Accept"}
}

// contentMediaType returns the lower-case type/subtype of a Content-Type or
// Accept media range, without parameters.
func contentMediaType(v string) string {
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(strings.TrimSpace(v))
}

// cleanHeaderText makes text copied from a message safe to put into a header
// or reason phrase: CR, LF and other control characters become spaces.
func cleanHeaderText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// isURIScheme: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3261 §25.1).
func isURIScheme(s string) bool {
	for i, c := range []byte(s) {
		alpha := c|0x20 >= 'a' && c|0x20 <= 'z'
		if !alpha && (i == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// shortText cleans s of control characters and cuts it to at most n bytes of
// valid UTF-8.
func shortText(s string, n int) string {
	s = cleanHeaderText(s)
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "")
}

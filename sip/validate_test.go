package sip

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

const (
	processed = 0  // parses, passes ValidateRequest, reaches the handlers (or is a response)
	dropped   = -1 // not a request sipgo can parse, nothing to answer to: dropped silently
)

// tortureCase is what we answer to one RFC 4475 message (testdata/rfc4475).
type tortureCase struct {
	file   string
	parses bool // sipgo's parser accepts it (else the Guard answers from raw text)
	status int  // our answer: processed, dropped, or the error status
}

var tortureCases = []tortureCase{
	// RFC 4475 §3.1.1: valid messages; all must parse and be processed. Unknown
	// methods (esc02 §3.1.1.5, intmeth §3.1.1.2) pass validation and get 405 from
	// the router; noreason (§3.1.1.13) and unreason (§3.1.1.12) are responses.
	{"valid/wsinv.dat", true, processed},      // §3.1.1.1
	{"valid/intmeth.dat", true, processed},    // §3.1.1.2
	{"valid/esc01.dat", true, processed},      // §3.1.1.3
	{"valid/escnull.dat", true, processed},    // §3.1.1.4
	{"valid/esc02.dat", true, processed},      // §3.1.1.5
	{"valid/lwsdisp.dat", true, processed},    // §3.1.1.6
	{"valid/longreq.dat", true, processed},    // §3.1.1.7
	{"valid/dblreq.dat", true, processed},     // §3.1.1.8: trailing octets ignored
	{"valid/semiuri.dat", true, processed},    // §3.1.1.9
	{"valid/transports.dat", true, processed}, // §3.1.1.10
	{"valid/mpart01.dat", true, processed},    // §3.1.1.11: MESSAGE, body type not checked
	{"valid/unreason.dat", true, processed},   // §3.1.1.12: response
	{"valid/noreason.dat", true, processed},   // §3.1.1.13: response
	// RFC 4475 §3.1.2: syntactically invalid messages.
	{"invalid/badinv01.dat", false, 400},      // §3.1.2.1
	{"invalid/clerr.dat", false, 400},         // §3.1.2.2: body shorter than Content-Length
	{"invalid/ncl.dat", false, 400},           // §3.1.2.3: negative Content-Length
	{"invalid/scalar02.dat", false, 400},      // §3.1.2.4: CSeq > 2**32
	{"invalid/scalarlg.dat", false, dropped},  // §3.1.2.5: response, discarded
	{"invalid/quotbal.dat", false, 400},       // §3.1.2.6
	{"invalid/ltgtruri.dat", false, 400},      // §3.1.2.7
	{"invalid/lwsruri.dat", false, 400},       // §3.1.2.8
	{"invalid/lwsstart.dat", false, 400},      // §3.1.2.9
	{"invalid/trws.dat", false, 400},          // §3.1.2.10: rejecting is acceptable
	{"invalid/escruri.dat", true, 400},        // §3.1.2.11: 400 acceptable
	{"invalid/baddate.dat", true, processed},  // §3.1.2.12: Date unused, ignored
	{"invalid/regbadct.dat", true, processed}, // §3.1.2.13: liberal (REGISTER gets 405)
	{"invalid/badaspec.dat", false, 400},      // §3.1.2.14
	{"invalid/baddn.dat", false, 400},         // §3.1.2.15 (also lacks the empty line)
	{"invalid/badvers.dat", true, 505},        // §3.1.2.16
	{"invalid/mismatch01.dat", true, 400},     // §3.1.2.17
	{"invalid/mismatch02.dat", true, 400},     // §3.1.2.18: 400 acceptable (501 preferred)
	{"invalid/bigcode.dat", false, dropped},   // §3.1.2.19: response, discarded
	{"invalid/badbranch.dat", true, 400},      // §3.2.1: stateless 400 allowed
	{"invalid/insuf.dat", true, 400},          // §3.3.1
	{"invalid/unkscm.dat", true, 416},         // §3.3.2
	{"invalid/novelsc.dat", false, 416},       // §3.3.3: sipgo refuses it; Guard answers 416
	{"invalid/unksm2.dat", true, 400},         // §3.3.4: REGISTER To must be SIP (registrar 400)
	{"invalid/bext01.dat", true, 420},         // §3.3.5
	{"invalid/invut.dat", true, 415},          // §3.3.6
	{"invalid/regaut01.dat", true, processed}, // §3.3.7
	{"invalid/multi01.dat", true, 400},        // §3.3.8
	{"invalid/mcl01.dat", true, 400},          // §3.3.9
	{"invalid/bcast.dat", true, processed},    // §3.3.10: response, left to the transaction layer
	{"invalid/zeromf.dat", true, processed},   // §3.3.11: OPTIONS with Max-Forwards 0
	{"invalid/cparam01.dat", true, processed}, // §3.3.12
	{"invalid/cparam02.dat", true, processed}, // §3.3.13
	{"invalid/regescrt.dat", true, processed}, // §3.3.14
	{"invalid/sdp01.dat", true, 406},          // §3.3.15: 406 with Warning 399
	{"invalid/inv2543.dat", true, processed},  // §3.4.1: RFC 2543 syntax accepted
	{"invalid/test.dat", false, dropped},      // not from the RFC: no SIP version, no Via
}

func readTorture(t testing.TB, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "rfc4475", file))
	if err != nil {
		t.Fatalf("read torture message: %v", err)
	}
	return data
}

// TestTortureTableCoversAllFiles keeps the table and testdata/rfc4475 in step.
func TestTortureTableCoversAllFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "rfc4475", "*", "*.dat"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no torture files: %v", err)
	}
	var listed []string
	for _, c := range tortureCases {
		listed = append(listed, c.file)
	}
	for _, f := range files {
		rel := filepath.ToSlash(strings.TrimPrefix(f, filepath.Join("testdata", "rfc4475")+string(filepath.Separator)))
		if !slices.Contains(listed, rel) {
			t.Errorf("%s has no expected status in tortureCases", rel)
		}
	}
	if len(files) != len(tortureCases) {
		t.Errorf("%d files, %d table entries", len(files), len(tortureCases))
	}
}

func TestValidateTorture(t *testing.T) {
	for _, tc := range tortureCases {
		t.Run(tc.file, func(t *testing.T) {
			msg, err := sip.NewParser().ParseSIP(readTorture(t, tc.file))
			if !tc.parses {
				if err == nil {
					t.Fatalf("parser accepted it; table says rejected by parser")
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			req, ok := msg.(*sip.Request)
			if !ok {
				if tc.status != processed {
					t.Fatalf("response, want status %d", tc.status)
				}
				return
			}
			got := processed
			if e := ValidateRequest(req); e != nil {
				got = e.Status
			}
			if got != tc.status {
				t.Fatalf("status %d, want %d (%v)", got, tc.status, ValidateRequest(req))
			}
		})
	}
}

func TestValidateBext01ListsUnsupported(t *testing.T) {
	msg, err := sip.NewParser().ParseSIP(readTorture(t, "invalid/bext01.dat"))
	if err != nil {
		t.Fatal(err)
	}
	e := ValidateRequest(msg.(*sip.Request))
	want := []string{"nothingSupportsThis", "nothingSupportsThisEither"}
	if e == nil || !slices.Equal(e.Unsupported, want) {
		t.Fatalf("got %+v, want Unsupported %v (RFC 4475 §3.3.5)", e, want)
	}
	res := ErrorResponse(msg.(*sip.Request), e)
	if h := res.GetHeader("Unsupported"); h == nil || h.Value() != strings.Join(want, ", ") {
		t.Fatalf("Unsupported header %v", h)
	}
}

// buildRequest parses a request written with \n line ends; body is appended
// with a matching Content-Length unless hdrs already has one.
func buildRequest(t testing.TB, startLine, hdrs, body string) *sip.Request {
	t.Helper()
	base := "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\n" +
		"From: <sip:alice@example.com>;tag=1928301774\nTo: <sip:12345@example.net>\n" +
		"Call-ID: a84b4c76e66710@pc33\n"
	text := startLine + "\n" + base + hdrs
	if !strings.Contains(strings.ToLower(hdrs), "content-length") {
		text += "Content-Length: " + strconv.Itoa(len(body)) + "\n"
	}
	data := strings.ReplaceAll(text, "\n", "\r\n") + "\r\n" + body
	msg, err := sip.NewParser().ParseSIP([]byte(data))
	if err != nil {
		t.Fatalf("parse test request: %v", err)
	}
	return msg.(*sip.Request)
}

func TestValidateRequestRules(t *testing.T) {
	const sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
	cases := []struct {
		name, start, hdrs, body string
		status                  int
		accept                  string
	}{
		{"valid invite", "INVITE sip:12345@example.net SIP/2.0", "CSeq: 1 INVITE\nMax-Forwards: 70\nContent-Type: application/sdp\n", sdp, 0, ""},
		{"tel uri", "INVITE tel:+12345 SIP/2.0", "CSeq: 1 INVITE\n", "", 0, ""},
		{"invite without sdp", "INVITE sip:12345@example.net SIP/2.0", "CSeq: 1 INVITE\n", "", 0, ""},
		{"max-forwards zero invite", "INVITE sip:12345@example.net SIP/2.0", "CSeq: 1 INVITE\nMax-Forwards: 0\n", "", 483, ""},
		{"max-forwards zero options", "OPTIONS sip:12345@example.net SIP/2.0", "CSeq: 1 OPTIONS\nMax-Forwards: 0\n", "", 0, ""},
		{"require 100rel", "INVITE sip:12345@example.net SIP/2.0", "CSeq: 1 INVITE\nRequire: 100rel\n", "", 420, ""},
		{"require in ack ignored", "ACK sip:12345@example.net SIP/2.0", "CSeq: 1 ACK\nRequire: 100rel\n", "", 0, ""},
		{"info text/plain", "INFO sip:12345@example.net SIP/2.0", "CSeq: 2 INFO\nContent-Type: text/plain\n", "5", 415, acceptInfo},
		{"info dtmf-relay", "INFO sip:12345@example.net SIP/2.0", "CSeq: 2 INFO\nContent-Type: application/dtmf-relay\n", "Signal=5\r\nDuration=160\r\n", 0, ""},
		{"invite multipart", "INVITE sip:12345@example.net SIP/2.0", "CSeq: 1 INVITE\nContent-Type: multipart/mixed;boundary=x\n", "--x--", 415, acceptInvite},
		{"body without content-type", "MESSAGE sip:12345@example.net SIP/2.0", "CSeq: 1 MESSAGE\n", "hi", 400, ""},
		{"accept with sdp params", "INVITE sip:12345@example.net SIP/2.0", "CSeq: 1 INVITE\nAccept: text/plain, Application/SDP;level=1\n", "", 0, ""},
		{"accept wildcard", "INVITE sip:12345@example.net SIP/2.0", "CSeq: 1 INVITE\nAccept: */*\n", "", 0, ""},
		{"lower-case version", "OPTIONS sip:12345@example.net sip/2.0", "CSeq: 1 OPTIONS\n", "", 0, ""},
		{"cseq method case", "OPTIONS sip:12345@example.net SIP/2.0", "CSeq: 1 options\n", "", 0, ""},
		{"two from", "OPTIONS sip:12345@example.net SIP/2.0", "CSeq: 1 OPTIONS\nFrom: <sip:x@example.com>;tag=2\n", "", 400, ""},
		{"cookie-only branch below top via", "OPTIONS sip:12345@example.net SIP/2.0", "CSeq: 1 OPTIONS\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK\n", "", 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := ValidateRequest(buildRequest(t, tc.start, tc.hdrs, tc.body))
			got := 0
			if e != nil {
				got = e.Status
				if strings.ContainsAny(e.Reason, "\r\n") || e.Reason == "" {
					t.Fatalf("bad reason %q", e.Reason)
				}
			}
			if got != tc.status {
				t.Fatalf("status %d, want %d (%v)", got, tc.status, e)
			}
			if tc.accept != "" && e.Accept != tc.accept {
				t.Fatalf("Accept %q, want %q", e.Accept, tc.accept)
			}
		})
	}
}

func TestValidateBuiltRequests(t *testing.T) {
	mk := func() *sip.Request {
		return buildRequest(t, "INVITE sip:12345@example.net SIP/2.0", "CSeq: 1 INVITE\n", "")
	}
	cases := []struct {
		name   string
		mutate func(*sip.Request)
		status int
	}{
		{"unchanged", func(*sip.Request) {}, 0},
		{"content-length larger than body", func(r *sip.Request) {
			cl := sip.ContentLengthHeader(99)
			r.ReplaceHeader(&cl)
		}, 400},
		{"cseq beyond 2^31", func(r *sip.Request) { r.CSeq().SeqNo = 1 << 31 }, 400},
		{"missing call-id", func(r *sip.Request) { r.RemoveHeader("Call-ID") }, 400},
		{"version 3.0", func(r *sip.Request) { r.SipVersion = "SIP/3.0" }, 505},
		{"lf in call-id", func(r *sip.Request) {
			id := sip.CallIDHeader("x\nEvil: 1")
			r.ReplaceHeader(&id)
		}, 400},
		{"mailto uri", func(r *sip.Request) { r.Recipient = sip.Uri{Scheme: "mailto", Host: "x"} }, 416},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := mk()
			tc.mutate(r)
			got := 0
			if e := ValidateRequest(r); e != nil {
				got = e.Status
			}
			if got != tc.status {
				t.Fatalf("status %d, want %d", got, tc.status)
			}
		})
	}
	if ValidateRequest(nil) == nil {
		t.Fatal("nil request accepted")
	}
}

func TestErrorResponse(t *testing.T) {
	req := buildRequest(t, "INVITE sip:12345@example.net SIP/2.0", "CSeq: 1 INVITE\nAccept: text/nobodyKnowsThis\n", "")
	id := sip.CallIDHeader("abc\nInjected: yes")
	req.ReplaceHeader(&id)
	res := ErrorResponse(req, &RequestError{Status: 406, Reason: "Not\r\nAcceptable"})
	out := res.String()
	if strings.Contains(out, "\nInjected") || !strings.HasPrefix(out, "SIP/2.0 406 Not  Acceptable\r\n") {
		t.Fatalf("response not scrubbed:\n%q", out)
	}
	if w := res.GetHeader("Warning"); w == nil || !strings.HasPrefix(w.Value(), "399 hotline ") {
		t.Fatalf("Warning %v", w)
	}
	if tag, ok := res.To().Params.Get("tag"); !ok || tag == "" {
		t.Fatal("no To-tag")
	}
	req.SipVersion = "SIP/7.0"
	if res := ErrorResponse(req, &RequestError{Status: 505, Reason: "Version Not Supported"}); res.SipVersion != "SIP/2.0" {
		t.Fatalf("505 sent as %s", res.SipVersion)
	}
	res = ErrorResponse(req, &RequestError{Status: 415, Reason: "Unsupported Media Type", Accept: acceptInvite})
	if h := res.GetHeader("Accept"); h == nil || h.Value() != acceptInvite {
		t.Fatalf("Accept %v", h)
	}
}

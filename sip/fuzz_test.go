package sip

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// seedTorture adds every RFC 4475 message in testdata as a fuzz seed.
func seedTorture(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "rfc4475", "*", "*.dat"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no torture seeds: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// assertOneLineHeaders fails when a CR or LF sits inside a header line: text
// copied from a hostile request must never start a header of its own.
func assertOneLineHeaders(t *testing.T, msg string) {
	t.Helper()
	head, _, ok := strings.Cut(msg, "\r\n\r\n")
	if !ok {
		t.Fatalf("no end of headers: %q", msg)
	}
	for _, line := range strings.Split(head, "\r\n") {
		if strings.ContainsAny(line, "\r\n") {
			t.Fatalf("line break inside %q", line)
		}
	}
}

func FuzzValidateRequest(f *testing.F) {
	seedTorture(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := sip.NewParser().ParseSIP(data)
		if err != nil {
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		e := ValidateRequest(req)
		if e == nil {
			return
		}
		if e.Status < 400 || e.Status > 599 || e.Reason == "" || strings.ContainsAny(e.Reason, "\r\n") {
			t.Fatalf("bad error %+v", e)
		}
		assertOneLineHeaders(t, ErrorResponse(req, e).String())
	})
}

var replyStatusLine = regexp.MustCompile(`^SIP/2\.0 [4-5][0-9][0-9] [^\r\n]+\r\n`)

func FuzzGuardDatagram(f *testing.F) {
	seedTorture(f)
	f.Add([]byte("\r\n\r\n"))
	f.Add([]byte("INVITE sip:a@b SIP/2.0\r\nVia: x\nInjected: 1\r\nCSeq: 1 INVITE\r\n\r\n"))
	g := NewGuard(nil, GuardOptions{MaxMessageSize: 4096})
	src := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5060}
	f.Fuzz(func(t *testing.T, data []byte) {
		deliver, reply := g.inspect(data, src, 4096, time.Now())
		if deliver {
			if reply != nil {
				t.Fatal("delivered and answered")
			}
			msg, err := sip.NewParser().ParseSIP(data)
			if err != nil {
				t.Fatalf("delivered an unparseable datagram: %v", err)
			}
			if req, ok := msg.(*sip.Request); ok {
				if e := ValidateRequest(req); e != nil {
					t.Fatalf("delivered an invalid request: %v", e)
				}
			}
			return
		}
		if reply == nil {
			return
		}
		if !replyStatusLine.Match(reply) {
			t.Fatalf("bad status line: %q", reply)
		}
		assertOneLineHeaders(t, string(reply))
	})
}

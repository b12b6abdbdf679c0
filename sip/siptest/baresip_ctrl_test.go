package siptest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNetstring(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{name: "one frame", in: `11:{"ok":true},`, want: []string{`{"ok":true}`}},
		{name: "two frames back to back", in: "3:abc,0:,", want: []string{"abc", ""}},
		{name: "binary payload with colon and comma", in: "5:a:,b,,", want: []string{"a:,b,"}},
		{name: "missing comma", in: "3:abcd", wantErr: "missing ','"},
		{name: "truncated payload", in: "10:abc", wantErr: "unexpected EOF"},
		{name: "not a number", in: "x3:abc,", wantErr: "bad length"},
		{name: "empty length", in: ":abc,", wantErr: "bad length"},
		{name: "too long", in: "9999999:abc,", wantErr: "exceeds"},
		{name: "clean eof", in: "", wantErr: "EOF"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReader(strings.NewReader(tc.in))
			var got []string
			var err error
			for {
				var p []byte
				if p, err = readNetstring(r); err != nil {
					break
				}
				got = append(got, string(p))
			}
			if tc.wantErr == "" {
				if !errors.Is(err, io.EOF) || !slices.Equal(got, tc.want) {
					t.Fatalf("got %q, %v; want %q then EOF", got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestNetstringRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	msg, err := encodeCommand("dial", "sip:1000@127.0.0.1", "7")
	if err != nil {
		t.Fatal(err)
	}
	if err := writeNetstring(&buf, msg); err != nil {
		t.Fatal(err)
	}
	want := `60:{"command":"dial","params":"sip:1000@127.0.0.1","token":"7"},`
	if buf.String() != want {
		t.Fatalf("wire %q, want %q", buf.String(), want)
	}
	got, err := readNetstring(bufio.NewReader(&buf))
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("read back %q, %v", got, err)
	}
}

func TestDecodeMessage(t *testing.T) {
	cases := []struct {
		name      string
		in        string
		wantEvent *Event
		wantResp  *ctrlResponse
		wantErr   bool
	}{
		{name: "event", in: `{"event":true,"class":"call","type":"CALL_CLOSED","param":"end of file",` +
			`"peeruri":"sip:a@b","id":"c1","direction":"incoming"}`,
			wantEvent: &Event{Type: "CALL_CLOSED", Class: "call", Param: "end of file", PeerURI: "sip:a@b", ID: "c1"}},
		{name: "event flag as string", in: `{"event":"true","class":"register","type":"REGISTER_OK"}`,
			wantEvent: &Event{Type: "REGISTER_OK", Class: "register"}},
		{name: "ok response", in: `{"response":true,"ok":true,"data":"","token":"3"}`,
			wantResp: &ctrlResponse{OK: true, Token: "3"}},
		{name: "failed response", in: `{"response":true,"ok":false,"data":"Invalid argument","token":"4"}`,
			wantResp: &ctrlResponse{Data: "Invalid argument", Token: "4"}},
		{name: "neither", in: `{"hello":1}`},
		{name: "bad json", in: `{"event":`, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, resp, err := decodeMessage([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if (ev == nil) != (tc.wantEvent == nil) || (resp == nil) != (tc.wantResp == nil) {
				t.Fatalf("event %+v response %+v, want %+v %+v", ev, resp, tc.wantEvent, tc.wantResp)
			}
			if ev != nil {
				w := tc.wantEvent
				if ev.Type != w.Type || ev.Class != w.Class || ev.Param != w.Param || ev.PeerURI != w.PeerURI ||
					ev.ID != w.ID || ev.Raw["type"] != w.Type {
					t.Errorf("event %+v, want %+v", *ev, *w)
				}
			}
			if resp != nil && *resp != *tc.wantResp {
				t.Errorf("response %+v, want %+v", *resp, *tc.wantResp)
			}
		})
	}
}

func TestWAV(t *testing.T) {
	dir := t.TempDir()
	pcm := Tone(440, 100*time.Millisecond, 12000)
	path := filepath.Join(dir, "a.wav")
	if err := writeWAV(path, pcm); err != nil {
		t.Fatal(err)
	}
	got, err := readWAV(path)
	if err != nil || !slices.Equal(got, pcm) {
		t.Fatalf("round trip: %d samples, %v; want %d equal samples", len(got), err, len(pcm))
	}
	// A file libsndfile is still writing: data size 0 until sf_close.
	raw, _ := os.ReadFile(path)
	binary.LittleEndian.PutUint32(raw[40:], 0)
	open := filepath.Join(dir, "open.wav")
	if err := os.WriteFile(open, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := readWAV(open); err != nil || !slices.Equal(got, pcm) {
		t.Fatalf("open file: %d samples, %v; want all %d", len(got), err, len(pcm))
	}
	binary.LittleEndian.PutUint16(raw[22:], 2) // stereo
	stereo := filepath.Join(dir, "stereo.wav")
	if err := os.WriteFile(stereo, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readWAV(stereo); err == nil || !strings.Contains(err.Error(), "want PCM mono") {
		t.Fatalf("stereo: %v, want a format error", err)
	}
}

func TestLoopTo(t *testing.T) {
	if got := loopTo([]int16{1, 2, 3}, 7); !slices.Equal(got, []int16{1, 2, 3, 1, 2, 3, 1}) {
		t.Errorf("loop: %v", got)
	}
	if got := loopTo(nil, 3); !slices.Equal(got, []int16{0, 0, 0}) {
		t.Errorf("silence: %v", got)
	}
}

func TestBaresipOptions(t *testing.T) {
	base := BaresipOptions{User: "1001", Password: "pw", Domain: "127.0.0.1:5060"}
	cases := []struct {
		name     string
		edit     func(*BaresipOptions)
		wantLine string
		wantErr  string
	}{
		{name: "defaults", edit: func(*BaresipOptions) {},
			wantLine: "<sip:1001@127.0.0.1:5060;transport=udp>;auth_pass=pw;answermode=manual;regint=3600;audio_codecs=PCMU,PCMA"},
		{name: "auto answer tcp pcma", edit: func(o *BaresipOptions) {
			o.AutoAnswer, o.Transport, o.RegInterval, o.Codecs = true, "TCP", 30, []string{"PCMA"}
		}, wantLine: "<sip:1001@127.0.0.1:5060;transport=tcp>;auth_pass=pw;answermode=auto;regint=30;audio_codecs=PCMA"},
		{name: "no user", edit: func(o *BaresipOptions) { o.User = "" }, wantErr: "required"},
		{name: "semicolon in password", edit: func(o *BaresipOptions) { o.Password = "a;b" }, wantErr: "cannot carry"},
		{name: "tls", edit: func(o *BaresipOptions) { o.Transport = "tls" }, wantErr: "want udp or tcp"},
		{name: "g722", edit: func(o *BaresipOptions) { o.Codecs = []string{"G722"} }, wantErr: "only PCMU and PCMA"},
		{name: "negative regint", edit: func(o *BaresipOptions) { o.RegInterval = -1 }, wantErr: "negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.edit(&o)
			err := o.normalise()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := o.accountLine(); got != tc.wantLine {
				t.Errorf("account line\n%s\nwant\n%s", got, tc.wantLine)
			}
		})
	}
}

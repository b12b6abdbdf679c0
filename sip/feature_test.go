package sip

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/hotline-dev/hotline/sip/media"
)

// featureCalls records the Feature hook's calls.
type featureCalls struct {
	mu    sync.Mutex
	calls []string
}

func (f *featureCalls) hook(_ context.Context, agentID, code string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, agentID+" "+code)
	return "", nil
}

func (f *featureCalls) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// dialFeature dials code at srv as agent 1001 with password; it returns the
// answered dialog (or the error) and a channel receiving the server's BYE.
func dialFeature(t *testing.T, srv *Server, code, password string) (*sipgo.DialogClientSession, <-chan struct{}, error) {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("1001"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatalf("phone ua: %v", err)
	}
	phone, _ := sipgo.NewServer(ua)
	cli, _ := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("phone listen: %v", err)
	}
	t.Cleanup(func() { _ = ua.Close(); _ = conn.Close() })
	port := conn.LocalAddr().(*net.UDPAddr).Port
	dialogs := sipgo.NewDialogClientCache(cli, sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "1001", Host: "127.0.0.1", Port: port}})
	byes := make(chan struct{}, 1)
	phone.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if dialogs.ReadBye(req, tx) == nil {
			byes <- struct{}{}
		}
	})
	go func() { _ = phone.ServeUDP(conn) }()
	sdp := media.BuildSDP(media.LocalSDP{Addr: netip.MustParseAddr("127.0.0.1"), Port: 40000, SessionID: 1, Version: 1,
		Codecs: []media.Codec{media.PCMU}, Direction: media.SendRecv})
	uri := sip.Uri{Scheme: "sip", User: code, Host: "127.0.0.1", Port: srv.UDPAddr().Port}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dlg, err := dialogs.Invite(ctx, uri, sdp, sip.NewHeader("Content-Type", "application/sdp"))
	if err != nil {
		t.Fatalf("invite %s: %v", code, err)
	}
	if err := dlg.WaitAnswer(ctx, sipgo.AnswerOptions{Username: "1001", Password: password}); err != nil {
		return nil, byes, err
	}
	if err := dlg.Ack(ctx); err != nil {
		t.Fatalf("ack: %v", err)
	}
	return dlg, byes, nil
}

func featureServer(t *testing.T) (*Server, *featureCalls, *registrarEnv) {
	t.Helper()
	env := &registrarEnv{creds: newFakeCreds(testRealm), locs: &fakeLocations{bindings: map[string]AgentBinding{}}, bans: newFakeBans(5)}
	env.creds.add("1001", "s3cret-pass")
	env.reg = NewRegistrar(testRegistrarConfig(), env.creds, env.locs, env.bans, nil, nil)
	calls := &featureCalls{}
	srv := testServer(t, func(o *Options) {
		o.Registrar, o.Feature = env.reg, calls.hook
		o.Config.Trusted = nil // the phone is on loopback, trusted by default: failures would not count
	})
	return srv, calls, env
}

func TestFeatureCodeAuthenticated(t *testing.T) {
	srv, calls, _ := featureServer(t)
	dlg, byes, err := dialFeature(t, srv, FeatureAvailable, "s3cret-pass")
	if err != nil {
		t.Fatalf("feature *1: %v", err)
	}
	if dlg.InviteResponse.StatusCode != 200 {
		t.Fatalf("status %d, want 200", dlg.InviteResponse.StatusCode)
	}
	if got := calls.list(); len(got) != 1 || got[0] != "1001 *1" {
		t.Fatalf("hook calls %v, want [1001 *1]", got)
	}
	receive(t, byes, "bye from the server after the prompt")
}

func TestFeatureCodeRefused(t *testing.T) {
	tests := []struct {
		name, code, password string
		status               int
	}{
		{"wrong password", FeatureAvailable, "wrong-pass", 401},
		{"unknown code", "*7", "s3cret-pass", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls, env := featureServer(t)
			_, _, err := dialFeature(t, srv, tt.code, tt.password)
			var de *sipgo.ErrDialogResponse
			if !errors.As(err, &de) || de.Res.StatusCode != tt.status {
				t.Fatalf("err %v, want status %d", err, tt.status)
			}
			if got := calls.list(); len(got) != 0 {
				t.Errorf("hook called: %v", got)
			}
			if tt.status == 401 && env.bans.count("1001") == 0 {
				t.Error("wrong password not counted toward a ban")
			}
			if n := srv.ports.InUse(); n != 0 {
				t.Errorf("ports in use %d, want 0", n)
			}
		})
	}
}

package siptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BaresipPath is where Debian's baresip-core installs baresip (1.0.0 in Debian 12/13).
const BaresipPath = "/usr/bin/baresip"

// BaresipOptions describe the agent softphone StartBaresip runs.
type BaresipOptions struct {
	// User, Password and Domain make the account sip:User@Domain, registered
	// with digest auth; Domain is the server under test, e.g. "127.0.0.1:5060".
	// baresip 1.0.0 (libre 1.1.0) does MD5 only: a 401 that also carries a
	// SHA-256 challenge, in either order, fails the REGISTER ("Function not
	// implemented", REGISTER_FAIL), so the registrar must offer it MD5 alone.
	User, Password, Domain string
	// AutoAnswer answers incoming calls at once (answermode=auto); otherwise
	// wait for CALL_INCOMING and call Accept.
	AutoAnswer bool
	// Microphone is 8 kHz mono PCM baresip sends on every call, looped to
	// MicrophoneDuration (baresip's aufile plays its WAV once and then closes
	// the call with "end of file"). Nil sends silence.
	Microphone []int16
	// Transport is "udp" (default) or "tcp".
	Transport string
	// RegInterval is the REGISTER interval in seconds (regint); 0 means 3600.
	RegInterval int
	// Codecs are the audio codecs offered, in order (audio_codecs): PCMU
	// and/or PCMA, the only ones loaded. Default PCMU, PCMA.
	Codecs []string
}

// MicrophoneDuration is how long each call's microphone audio lasts: a call
// still up after that is closed by baresip ("end of file").
const MicrophoneDuration = 2 * time.Minute

// Baresip is a running baresip process playing an agent's softphone, driven
// through its ctrl_tcp interface. Close it when done.
type Baresip struct {
	dir     string
	aor     string
	sipPort int
	cmd     *exec.Cmd
	out     *lockedBuffer
	exited  chan struct{}
	waitErr error // set before exited is closed

	conn     net.Conn
	wmu      sync.Mutex // serialises writes on conn
	readDone chan struct{}

	mu        sync.Mutex
	events    []Event // received and not yet consumed
	seen      []string
	pending   map[string]chan ctrlResponse
	nextToken int
	readErr   error
	changed   chan struct{} // closed and replaced on every message

	closeOnce sync.Once
	closeErr  error
}

// HaveBaresip reports whether baresip is installed.
func HaveBaresip() bool {
	_, err := os.Stat(BaresipPath)
	return err == nil
}

// RequireBaresip is the check of every test that runs baresip: under -short
// it skips the test (the fast lane starts no other processes); otherwise a
// missing baresip fails it, so a run cannot pass by skipping.
func RequireBaresip(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("siptest: runs baresip, which -short leaves out")
	}
	if !HaveBaresip() {
		t.Fatalf("siptest: %s not found: install baresip-core (apt-get install baresip-core, or scripts/services.sh tools)", BaresipPath)
	}
}

// StartBaresip writes a configuration to a temporary directory, starts
// baresip -f on it, connects to its ctrl_tcp port and creates the account
// (menu "uanew", so the REGISTER events reach this connection). ctx bounds
// the start only.
func StartBaresip(ctx context.Context, opts BaresipOptions) (*Baresip, error) {
	if err := opts.normalise(); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		dir, err := os.MkdirTemp("", "siptest-baresip-")
		if err != nil {
			return nil, fmt.Errorf("baresip config dir: %w", err)
		}
		b := &Baresip{dir: dir, aor: opts.aor(), out: &lockedBuffer{}, exited: make(chan struct{}),
			readDone: make(chan struct{}), pending: map[string]chan ctrlResponse{}, changed: make(chan struct{})}
		err = b.start(ctx, opts)
		if err == nil {
			return b, nil
		}
		log := b.Log()
		_ = b.Close()
		// A port was taken before baresip bound it (startAttempts): choose
		// again. A control port taken by another process shows as the
		// connection closing before baresip answered its first command.
		if attempt < startAttempts && (addrInUse(log) || errors.Is(err, errCtrlClosed)) && ctx.Err() == nil {
			continue
		}
		return nil, fmt.Errorf("start baresip: %w\nbaresip output:\n%s", err, log)
	}
}

func (b *Baresip) start(ctx context.Context, opts BaresipOptions) error {
	ports, err := writeBaresipConfig(b.dir, opts)
	if err != nil {
		return err
	}
	b.sipPort = ports.sip
	b.cmd = exec.Command(BaresipPath, "-f", b.dir)
	b.cmd.Dir = b.dir
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
	if err := b.cmd.Start(); err != nil {
		close(b.exited)
		close(b.readDone)
		return fmt.Errorf("run %s: %w", BaresipPath, err)
	}
	go func() {
		b.waitErr = b.cmd.Wait()
		close(b.exited)
	}()
	if err := b.connect(ctx, ports.ctrl); err != nil {
		close(b.readDone)
		return err
	}
	go b.readLoop()
	if _, err := b.command(ctx, "uanew", opts.accountLine()); err != nil {
		return err
	}
	return nil
}

// connect dials ctrl_tcp until baresip listens (it loads the module last).
func (b *Baresip) connect(ctx context.Context, port int) error {
	addr := net.JoinHostPort(loopback, strconv.Itoa(port))
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			b.conn = conn
			return nil
		}
		select {
		case <-b.exited:
			return fmt.Errorf("baresip exited before ctrl_tcp listened: %v", b.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("connect ctrl_tcp %s: %w", addr, errors.Join(ctx.Err(), err))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// SIPPort is the loopback port baresip's SIP stack listens on (UDP and TCP).
func (b *Baresip) SIPPort() int {
	return b.sipPort
}

// Recorded is what the agent heard: the decoded audio of every call so far
// (8 kHz PCM, calls in start order). baresip 1.0.0 cannot play to a WAV
// (aufile is a source only); the sndfile filter dumps each call's decoded
// audio to dump-<time>-dec.wav, written as RTP arrives, so this works during
// a call too. Call it before Close.
func (b *Baresip) Recorded() ([]int16, error) {
	if _, err := os.Stat(b.dir); err != nil {
		return nil, fmt.Errorf("baresip recordings (after Close?): %w", err)
	}
	files, err := filepath.Glob(filepath.Join(b.dir, sndDir, "dump-*-dec.wav"))
	if err != nil {
		return nil, fmt.Errorf("baresip recordings: %w", err)
	}
	var out []int16
	for _, f := range files { // Glob sorts; the names are zero-padded timestamps
		pcm, err := readWAV(f)
		if err != nil {
			return nil, fmt.Errorf("baresip recording: %w", err)
		}
		out = append(out, pcm...)
	}
	return out, nil
}

// Log is baresip's output so far, for failure messages.
func (b *Baresip) Log() string {
	return b.out.String()
}

// Close asks baresip to quit, kills it if it has not exited within 3 s and
// removes the configuration directory (with the recordings). Idempotent.
func (b *Baresip) Close() error {
	b.closeOnce.Do(func() {
		if b.cmd != nil && b.cmd.Process != nil {
			b.stopProcess()
		}
		if b.conn != nil {
			_ = b.conn.Close()
		}
		<-b.readDone
		b.closeErr = os.RemoveAll(b.dir)
	})
	return b.closeErr
}

// Vanish kills baresip with SIGKILL mid-call, as a phone that loses power
// or network does: no BYE, no more RTP.
func (b *Baresip) Vanish() error {
	if b.cmd == nil || b.cmd.Process == nil {
		return errors.New("baresip is not running")
	}
	if err := b.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("kill baresip: %w", err)
	}
	<-b.exited
	return nil
}

func (b *Baresip) stopProcess() {
	select {
	case <-b.exited:
		return
	default:
	}
	grace := 3 * time.Second
	if b.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, _ = b.command(ctx, "quit", "")
		cancel()
	} else {
		grace = 0 // no control connection: nothing can ask it to quit
	}
	select {
	case <-b.exited:
	case <-time.After(grace):
		_ = b.cmd.Process.Kill()
		<-b.exited
	}
}

// lockedBuffer collects the process output written from exec's copy goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

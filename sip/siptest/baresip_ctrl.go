package siptest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/hotline-dev/hotline/sip/media"
)

// Event types baresip 1.0.0 reports over ctrl_tcp (src/event.c uag_event_str).
const (
	EventRegisterOK      = "REGISTER_OK"
	EventRegisterFail    = "REGISTER_FAIL"
	EventCallIncoming    = "CALL_INCOMING"
	EventCallRinging     = "CALL_RINGING"
	EventCallEstablished = "CALL_ESTABLISHED"
	EventCallClosed      = "CALL_CLOSED"
	EventAudioError      = "AUDIO_ERROR"
)

// maxNetstring bounds one ctrl_tcp frame; baresip's events are under 1 KiB.
const maxNetstring = 1 << 20

// errCtrlClosed is returned when baresip's control connection is gone.
var errCtrlClosed = errors.New("baresip control connection closed")

// Event is one ctrl_tcp event message, e.g.
// {"event":true,"class":"call","type":"CALL_CLOSED","param":"...","peeruri":"sip:...","id":"..."}.
type Event struct {
	Type    string         // e.g. CALL_ESTABLISHED (see the Event* constants)
	Class   string         // "register", "call", ...
	Param   string         // event detail: the reason of CALL_CLOSED, the status of REGISTER_FAIL
	PeerURI string         // the remote party of call events
	ID      string         // the SIP Call-ID of call events
	Raw     map[string]any // the whole message (accountaor, direction, ...)
}

// ctrlResponse answers one command; Token matches the command's token.
type ctrlResponse struct {
	OK    bool
	Data  string
	Token string
}

// writeNetstring writes payload as one netstring, "<len>:<payload>,", the
// framing of baresip's ctrl_tcp module.
func writeNetstring(w io.Writer, payload []byte) error {
	var buf bytes.Buffer
	buf.Grow(len(payload) + 12)
	buf.WriteString(strconv.Itoa(len(payload)))
	buf.WriteByte(':')
	buf.Write(payload)
	buf.WriteByte(',')
	_, err := w.Write(buf.Bytes())
	return err
}

// readNetstring reads one netstring from r and returns its payload.
func readNetstring(r *bufio.Reader) ([]byte, error) {
	head, err := r.ReadSlice(':')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errors.New("netstring: length prefix too long")
		}
		return nil, err
	}
	digits := head[:len(head)-1]
	if len(digits) == 0 || len(digits) > 9 {
		return nil, fmt.Errorf("netstring: bad length %q", digits)
	}
	n := 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("netstring: bad length %q", digits)
		}
		n = n*10 + int(c-'0')
	}
	if n > maxNetstring {
		return nil, fmt.Errorf("netstring: %d bytes exceeds %d", n, maxNetstring)
	}
	payload := make([]byte, n+1)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, fmt.Errorf("netstring: %w", errors.Join(io.ErrUnexpectedEOF, err))
	}
	if payload[n] != ',' {
		return nil, fmt.Errorf("netstring: missing ',' after %d bytes", n)
	}
	return payload[:n], nil
}

// encodeCommand is the JSON of a ctrl_tcp command; params is omitted when empty.
func encodeCommand(command, params, token string) ([]byte, error) {
	msg := map[string]string{"command": command, "token": token}
	if params != "" {
		msg["params"] = params
	}
	return json.Marshal(msg)
}

// decodeMessage parses one ctrl_tcp message: exactly one of the results is
// non-nil for an event or a response; messages of neither kind return both nil.
func decodeMessage(payload []byte) (*Event, *ctrlResponse, error) {
	var raw map[string]any
	if err := json.Unmarshal(payload, &raw); err != nil {
		return nil, nil, fmt.Errorf("decode ctrl_tcp message %q: %w", payload, err)
	}
	str := func(key string) string { s, _ := raw[key].(string); return s }
	if _, ok := raw["response"]; ok {
		ok, _ := raw["ok"].(bool)
		return nil, &ctrlResponse{OK: ok, Data: str("data"), Token: str("token")}, nil
	}
	if _, ok := raw["event"]; ok {
		return &Event{Type: str("type"), Class: str("class"), Param: str("param"),
			PeerURI: str("peeruri"), ID: str("id"), Raw: raw}, nil, nil
	}
	return nil, nil, nil
}

// readLoop dispatches baresip's messages until the connection closes.
func (b *Baresip) readLoop() {
	defer close(b.readDone)
	r := bufio.NewReader(b.conn)
	for {
		payload, err := readNetstring(r)
		if err != nil {
			b.setReadErr(err)
			return
		}
		ev, resp, err := decodeMessage(payload)
		if err != nil {
			b.setReadErr(err)
			return
		}
		b.mu.Lock()
		switch {
		case ev != nil:
			b.events = append(b.events, *ev)
			b.seen = append(b.seen, ev.Type)
		case resp != nil:
			if ch, ok := b.pending[resp.Token]; ok {
				ch <- *resp
				delete(b.pending, resp.Token)
			}
		}
		b.notifyLocked()
		b.mu.Unlock()
	}
}

func (b *Baresip) setReadErr(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.readErr = fmt.Errorf("%w: %w", errCtrlClosed, err)
	b.notifyLocked()
}

// notifyLocked wakes every waiter; b.mu must be held.
func (b *Baresip) notifyLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// command runs one ctrl_tcp command and returns baresip's response text.
func (b *Baresip) command(ctx context.Context, command, params string) (string, error) {
	ch := make(chan ctrlResponse, 1)
	b.mu.Lock()
	if b.readErr != nil {
		err := b.readErr
		b.mu.Unlock()
		return "", fmt.Errorf("baresip %s: %w", command, err)
	}
	b.nextToken++
	token := strconv.Itoa(b.nextToken)
	b.pending[token] = ch
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.pending, token)
		b.mu.Unlock()
	}()
	msg, err := encodeCommand(command, params, token)
	if err != nil {
		return "", fmt.Errorf("baresip %s: %w", command, err)
	}
	b.wmu.Lock()
	err = writeNetstring(b.conn, msg)
	b.wmu.Unlock()
	if err != nil {
		return "", fmt.Errorf("baresip %s: send: %w", command, err)
	}
	select {
	case resp := <-ch:
		if !resp.OK {
			return resp.Data, fmt.Errorf("baresip %s %s: failed: %s", command, params, resp.Data)
		}
		return resp.Data, nil
	case <-b.readDone:
		return "", fmt.Errorf("baresip %s: %w", command, b.ctrlErr())
	case <-ctx.Done():
		return "", fmt.Errorf("baresip %s: no response: %w", command, ctx.Err())
	}
}

func (b *Baresip) ctrlErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.readErr
}

// waitEvent removes and returns the oldest queued event whose type is one of
// types, waiting for one to arrive. Events of other types stay queued.
func (b *Baresip) waitEvent(ctx context.Context, types ...string) (Event, error) {
	for {
		b.mu.Lock()
		for i, ev := range b.events {
			if slices.Contains(types, ev.Type) {
				b.events = slices.Delete(b.events, i, i+1)
				b.mu.Unlock()
				return ev, nil
			}
		}
		changed, readErr, seen := b.changed, b.readErr, slices.Clone(b.seen)
		b.mu.Unlock()
		if readErr != nil {
			return Event{}, fmt.Errorf("wait for %v (events so far %v): %w", types, seen, readErr)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return Event{}, fmt.Errorf("wait for %v (events so far %v): %w", types, seen, ctx.Err())
		}
	}
}

// WaitEvent waits for the next event of type typ (see the Event* constants)
// and consumes it; earlier events of that type are returned first, in order.
func (b *Baresip) WaitEvent(ctx context.Context, typ string) (Event, error) {
	return b.waitEvent(ctx, typ)
}

// WaitRegistered waits until the account's REGISTER succeeded (REGISTER_OK);
// a REGISTER_FAIL first is an error carrying the failure (e.g. "401 Unauthorized").
func (b *Baresip) WaitRegistered(ctx context.Context) error {
	ev, err := b.waitEvent(ctx, EventRegisterOK, EventRegisterFail)
	if err != nil {
		return err
	}
	if ev.Type == EventRegisterFail {
		return fmt.Errorf("baresip register %s: %s", b.aor, ev.Param)
	}
	return nil
}

// Dial places a call to uri (menu "dial"); watch for CALL_ESTABLISHED.
func (b *Baresip) Dial(ctx context.Context, uri string) error {
	_, err := b.command(ctx, "dial", uri)
	return err
}

// Accept answers the current incoming call (menu "accept"), for AutoAnswer false.
func (b *Baresip) Accept(ctx context.Context) error {
	_, err := b.command(ctx, "accept", "")
	return err
}

// Hangup ends the current call (menu "hangup").
func (b *Baresip) Hangup(ctx context.Context) error {
	_, err := b.command(ctx, "hangup", "")
	return err
}

// SendDTMF sends digit on the current call (menu "sndcode"): an RFC 4733
// event when telephone-event was negotiated.
func (b *Baresip) SendDTMF(ctx context.Context, digit rune) error {
	if _, ok := media.DigitEvent(digit); !ok {
		return fmt.Errorf("baresip send dtmf %q: not a dtmf digit", digit)
	}
	_, err := b.command(ctx, "sndcode", string(digit))
	return err
}

// Hold puts the current call on hold (menu "hold"): baresip 1.0.0 sends a
// re-INVITE offering a=sendonly (RFC 3264 §8.4). The command returns when the
// re-INVITE is sent, not when it is answered; watch the other side for the
// effect.
func (b *Baresip) Hold(ctx context.Context) error {
	_, err := b.command(ctx, "hold", "")
	return err
}

// Resume takes the current call off hold (menu "resume"): a re-INVITE
// offering a=sendrecv.
func (b *Baresip) Resume(ctx context.Context) error {
	_, err := b.command(ctx, "resume", "")
	return err
}

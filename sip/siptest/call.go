package siptest

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/hotline-dev/hotline/sip/media"
)

// Call is one answered test call. Its methods are safe for concurrent use,
// except that in-dialog requests (Hold, Unhold, SendINFO) are serialised.
type Call struct {
	caller *Caller
	opts   DialOptions
	dlg    *sipgo.DialogClientSession
	callID string
	rtp    *rtpStream
	remote atomic.Pointer[media.SessionDescription]

	reqMu      sync.Mutex // one in-dialog transaction at a time
	sessionID  uint64
	sdpVersion uint64

	hungUp   chan struct{} // closed when the server's BYE arrived
	hangOnce sync.Once
	stopOnce sync.Once
}

func newCall(c *Caller, opts *DialOptions) (*Call, error) {
	rtp, err := newRTPStream()
	if err != nil {
		return nil, err
	}
	return &Call{caller: c, opts: *opts, rtp: rtp, sessionID: newSessionID(), hungUp: make(chan struct{})}, nil
}

// CallID is the SIP Call-ID of the call.
func (call *Call) CallID() string { return call.callID }

// Codec is the audio codec negotiated with the server.
func (call *Call) Codec() media.Codec { return call.rtp.negotiated().Codec }

// RemoteSDP is the server's last session description (200 or re-INVITE answer).
func (call *Call) RemoteSDP() *media.SessionDescription { return call.remote.Load() }

// Hangup sends BYE (RFC 3261 §15.1.1) and stops the media.
func (call *Call) Hangup(ctx context.Context) error {
	defer call.stopMedia()
	if err := call.dlg.Bye(ctx); err != nil {
		return fmt.Errorf("hangup %s: %w", call.callID, err)
	}
	return nil
}

// WaitHangup returns nil once the server's BYE arrived (and was answered 200),
// or ctx's error.
func (call *Call) WaitHangup(ctx context.Context) error {
	select {
	case <-call.hungUp:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for bye on %s: %w", call.callID, ctx.Err())
	}
}

// HungUp is closed when the server hung up.
func (call *Call) HungUp() <-chan struct{} { return call.hungUp }

// Hold puts the server on hold: a re-INVITE with a=sendonly (RFC 3264 §8.4).
func (call *Call) Hold(ctx context.Context) error {
	return call.reinvite(ctx, media.SendOnly)
}

// Unhold resumes two-way media: a re-INVITE with a=sendrecv.
func (call *Call) Unhold(ctx context.Context) error {
	return call.reinvite(ctx, media.SendRecv)
}

// HoldOldStyle puts the call on hold the RFC 2543 way: a re-INVITE with
// c=0.0.0.0 (RFC 3264 §8.4).
func (call *Call) HoldOldStyle(ctx context.Context) error {
	return call.reinviteAt(ctx, netip.IPv4Unspecified(), media.SendRecv)
}

// MoveMedia sends a re-INVITE whose c= line names addr (the RTP socket stays
// where it is): a peer pointing the call's media somewhere else.
func (call *Call) MoveMedia(ctx context.Context, addr netip.Addr) error {
	return call.reinviteAt(ctx, addr, media.SendRecv)
}

// reinvite sends an in-dialog INVITE with a new SDP version, ACKs the 2xx and
// applies the answer. sipgo has no re-INVITE API, so it is built by hand.
func (call *Call) reinvite(ctx context.Context, dir media.Direction) error {
	return call.reinviteAt(ctx, netip.MustParseAddr(loopback), dir)
}

// reinviteAt is reinvite with c= addr.
func (call *Call) reinviteAt(ctx context.Context, addr netip.Addr, dir media.Direction) error {
	call.reqMu.Lock()
	defer call.reqMu.Unlock()
	req := sip.NewRequest(sip.INVITE, call.remoteTarget())
	n := call.rtp.negotiated()
	req.SetBody(call.localSDPAt(addr, dir, []media.Codec{n.Codec}, n.DTMF, n.DTMFPayloadType))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	res, err := call.dlg.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("re-invite %s: %w", dir, err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("re-invite %s: %w", dir, statusError(res))
	}
	// The ACK of a re-INVITE carries the re-INVITE's CSeq number (RFC 3261 §13.2.2.4);
	// dialog buildReq keeps the last CSeq for ACK.
	if err := call.dlg.WriteRequest(sip.NewRequest(sip.ACK, call.remoteTarget())); err != nil {
		return fmt.Errorf("ack re-invite: %w", err)
	}
	remote, err := media.ParseSDP(res.Body())
	if err != nil {
		return fmt.Errorf("re-invite answer: %w", err)
	}
	call.remote.Store(remote)
	return nil
}

// SendINFO sends one digit as SIP INFO. contentType is "application/dtmf-relay"
// (body "Signal=5\r\nDuration=160\r\n") or "application/dtmf" (body "5").
func (call *Call) SendINFO(ctx context.Context, digit rune, contentType string) error {
	var body string
	switch contentType {
	case "application/dtmf-relay":
		body = fmt.Sprintf("Signal=%c\r\nDuration=160\r\n", digit)
	case "application/dtmf":
		body = string(digit)
	default:
		return fmt.Errorf("info content type %q: want application/dtmf-relay or application/dtmf", contentType)
	}
	call.reqMu.Lock()
	defer call.reqMu.Unlock()
	req := sip.NewRequest(sip.INFO, call.remoteTarget())
	req.SetBody([]byte(body))
	req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	res, err := call.dlg.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("info %c: %w", digit, err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("info %c: %w", digit, &StatusError{Code: res.StatusCode, Reason: res.Reason})
	}
	return nil
}

// SendDTMF sends digit as an RFC 4733 event on the negotiated telephone-event
// payload type and returns once its last end packet is out (about 160 ms).
func (call *Call) SendDTMF(digit rune) error {
	return call.rtp.sendDTMF(digit)
}

// SendDigits sends each digit of s with SendDTMF, with gap silence between them.
func (call *Call) SendDigits(s string, gap time.Duration) error {
	for _, d := range s {
		if err := call.SendDTMF(d); err != nil {
			return err
		}
		time.Sleep(gap)
	}
	return nil
}

// remoteTarget is the server's Contact from the 200 (RFC 3261 §12.1.2).
func (call *Call) remoteTarget() sip.Uri {
	if ct := call.dlg.InviteResponse.Contact(); ct != nil {
		return *ct.Address.Clone()
	}
	return *call.dlg.InviteRequest.Recipient.Clone()
}

func (call *Call) remoteHangup() {
	call.hangOnce.Do(func() { close(call.hungUp) })
	call.stopMedia()
}

// stopMedia closes the RTP socket and forgets the call; received audio stays readable.
// Vanish is a phone that loses power or network mid-call: its RTP stops, no
// BYE is sent, and the call is forgotten (a BYE for it gets 481).
func (call *Call) Vanish() { call.stopMedia() }

func (call *Call) stopMedia() {
	call.stopOnce.Do(func() {
		call.rtp.close()
		if call.callID != "" {
			call.caller.forget(call.callID)
		}
	})
}

// abort releases a call that never got established.
func (call *Call) abort() {
	call.stopMedia()
	_ = call.dlg.Close()
}

package siptest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/hotline-dev/hotline/sip/media"
)

// DefaultDTMFPayloadType is the telephone-event payload type offered (RFC 4733 §7.1.1).
const DefaultDTMFPayloadType = 101

// DialOptions describe one test call.
type DialOptions struct {
	// Target is the request URI, e.g. "sip:12345@127.0.0.1:5060".
	Target string
	// From is the caller's address of record, e.g. "sip:13800000000@127.0.0.1".
	From string
	// Transport is "udp" (default) or "tcp".
	Transport string
	// Codecs are offered in this order; default PCMU, PCMA.
	Codecs []media.Codec
	// NoDTMF leaves telephone-event out of the offer (it is offered by default).
	NoDTMF bool
	// DTMFPayloadType is the telephone-event payload type offered; default 101.
	DTMFPayloadType uint8
	// SDP, when set, is sent verbatim as the INVITE body instead of the generated
	// offer (for example a G.729-only offer that must get 488).
	SDP []byte
	// NoSDP sends the INVITE without a body: the 200 carries the offer and the
	// ACK our answer (RFC 3264 §5, RFC 3261 §13.2.1).
	NoSDP bool
	// Audio is looped on the outgoing stream; nil sends silence. Either way a
	// packet goes out every 20 ms so media timeouts and latching see a live peer.
	Audio []int16
}

func (o *DialOptions) defaults() error {
	if o.Target == "" {
		return errors.New("dial: target is empty")
	}
	if o.From == "" {
		o.From = "sip:13800000000@" + loopback
	}
	if len(o.Codecs) == 0 {
		o.Codecs = []media.Codec{media.PCMU, media.PCMA}
	}
	if o.DTMFPayloadType == 0 {
		o.DTMFPayloadType = DefaultDTMFPayloadType
	}
	return nil
}

// Dial places a call and returns once it is answered and ACKed, with RTP
// flowing both ways. A non-2xx final response returns an error wrapping a
// *StatusError.
func (c *Caller) Dial(ctx context.Context, opts DialOptions) (*Call, error) {
	call, err := c.invite(ctx, &opts)
	if err != nil {
		return nil, err
	}
	if err := call.dlg.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		call.abort()
		return nil, inviteError(err)
	}
	if err := call.answered(ctx); err != nil {
		call.abort()
		return nil, err
	}
	return call, nil
}

// InviteAndCancel sends an INVITE and a CANCEL as soon as the first provisional
// response arrives (RFC 3261 §9.1: CANCEL only after a provisional). It returns
// the final status of the INVITE: 487 when the CANCEL won. When the server
// answered first, the call is ACKed and hung up with BYE and 200 is returned.
func (c *Caller) InviteAndCancel(ctx context.Context, opts DialOptions) (int, error) {
	call, err := c.invite(ctx, &opts)
	if err != nil {
		return 0, err
	}
	defer call.abort()
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	err = call.dlg.WaitAnswer(waitCtx, sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error {
		if r.IsProvisional() {
			cancel()
		}
		return nil
	}})
	res := call.dlg.InviteResponse
	if res == nil || res.IsProvisional() {
		return 0, fmt.Errorf("invite and cancel: no final response: %w", err)
	}
	if res.IsSuccess() {
		return res.StatusCode, call.ackAndBye(ctx)
	}
	if err != nil && !errors.Is(err, context.Canceled) && !isDialogResponse(err) {
		return res.StatusCode, fmt.Errorf("invite and cancel: %w", err)
	}
	return res.StatusCode, nil
}

// invite opens the RTP socket and sends the INVITE.
func (c *Caller) invite(ctx context.Context, opts *DialOptions) (*Call, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	dua, err := c.dialogUA(opts.Transport)
	if err != nil {
		return nil, err
	}
	req, err := newInvite(opts)
	if err != nil {
		return nil, err
	}
	call, err := newCall(c, opts)
	if err != nil {
		return nil, err
	}
	if body := call.offerBody(); body != nil {
		req.SetBody(body)
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	dlg, err := dua.WriteInvite(ctx, req)
	if err != nil {
		call.stopMedia()
		return nil, fmt.Errorf("send invite to %s: %w", opts.Target, err)
	}
	call.dlg = dlg
	call.callID = req.CallID().Value()
	c.track(call)
	return call, nil
}

func newInvite(opts *DialOptions) (*sip.Request, error) {
	var target, from sip.Uri
	if err := sip.ParseUri(opts.Target, &target); err != nil {
		return nil, fmt.Errorf("parse target %q: %w", opts.Target, err)
	}
	if err := sip.ParseUri(opts.From, &from); err != nil {
		return nil, fmt.Errorf("parse from %q: %w", opts.From, err)
	}
	req := sip.NewRequest(sip.INVITE, target)
	if opts.Transport == "tcp" {
		req.SetTransport("TCP")
	}
	fromHdr := &sip.FromHeader{Address: from, Params: sip.NewParams()}
	fromHdr.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(fromHdr)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: target.User, Host: target.Host}})
	return req, nil
}

// inviteError turns sipgo's non-2xx error into a StatusError.
func inviteError(err error) error {
	var dr *sipgo.ErrDialogResponse
	if errors.As(err, &dr) {
		return fmt.Errorf("invite: %w", statusError(dr.Res))
	}
	return fmt.Errorf("invite: %w", err)
}

func isDialogResponse(err error) bool {
	var dr *sipgo.ErrDialogResponse
	return errors.As(err, &dr)
}

// offerBody is the INVITE body: the override, none, or our generated offer.
func (call *Call) offerBody() []byte {
	switch {
	case call.opts.SDP != nil:
		return call.opts.SDP
	case call.opts.NoSDP:
		return nil
	}
	return call.localSDP(media.SendRecv, call.opts.Codecs, !call.opts.NoDTMF, call.opts.DTMFPayloadType)
}

func (call *Call) localSDP(dir media.Direction, codecs []media.Codec, dtmf bool, dtmfPT uint8) []byte {
	return call.localSDPAt(netip.MustParseAddr(loopback), dir, codecs, dtmf, dtmfPT)
}

// localSDPAt is localSDP with another c= address.
func (call *Call) localSDPAt(addr netip.Addr, dir media.Direction, codecs []media.Codec, dtmf bool, dtmfPT uint8) []byte {
	call.sdpVersion++
	return media.BuildSDP(media.LocalSDP{
		Addr: addr, Port: call.rtp.localPort(),
		SessionID: call.sessionID, Version: call.sdpVersion,
		Codecs: codecs, DTMF: dtmf, DTMFPayloadType: dtmfPT, Direction: dir,
	})
}

// answered handles the 200: negotiate from its SDP, ACK (with our answer when
// the INVITE had no offer) and start RTP.
func (call *Call) answered(ctx context.Context) error {
	res := call.dlg.InviteResponse
	remote, err := media.ParseSDP(res.Body())
	if err != nil {
		_ = call.ackAndBye(ctx)
		return fmt.Errorf("sdp in 200: %w", err)
	}
	n, err := media.Negotiate(remote, call.opts.Codecs)
	if err != nil {
		_ = call.ackAndBye(ctx)
		return fmt.Errorf("negotiate with 200: %w", err)
	}
	n.DTMF = n.DTMF && !call.opts.NoDTMF
	var body []byte
	if call.opts.NoSDP {
		body = call.localSDP(media.SendRecv, []media.Codec{n.Codec}, n.DTMF, n.DTMFPayloadType)
	}
	if err := call.ack(ctx, body); err != nil {
		return err
	}
	call.remote.Store(remote)
	call.rtp.start(n, call.opts.Audio)
	return nil
}

func (call *Call) ack(ctx context.Context, body []byte) error {
	res := call.dlg.InviteResponse
	target := call.dlg.InviteRequest.Recipient
	if ct := res.Contact(); ct != nil {
		target = ct.Address
	}
	ack := sip.NewRequest(sip.ACK, *target.Clone())
	if body != nil {
		ack.SetBody(body)
		ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	if err := call.dlg.WriteAck(ctx, ack); err != nil {
		return fmt.Errorf("send ack: %w", err)
	}
	return nil
}

// ackAndBye ends a call we do not want (answered after CANCEL, bad SDP).
func (call *Call) ackAndBye(ctx context.Context) error {
	if err := call.ack(ctx, nil); err != nil {
		return err
	}
	byeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := call.dlg.Bye(byeCtx); err != nil {
		return fmt.Errorf("send bye: %w", err)
	}
	return nil
}

func newSessionID() uint64 {
	return rand.Uint64N(1 << 62)
}

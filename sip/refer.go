package sip

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Blind transfer by the agent (S10): the agent's phone sends REFER
// (RFC 3515) in the dialog of its leg. The Refer-To URI is never dialled:
// its user part is only a key the allowlist (Options.TransferTarget) resolves
// to a destination, and the connector routes the caller there.

// Kinds of transfer destination (TransferDestination.Kind).
const (
	TransferToAgent  = "agent"  // ring another agent; Value is the agent id
	TransferToQueue  = "queue"  // queue again; Value is the category
	TransferToNumber = "number" // dial a configured specialist number; Value is the number
)

// TransferDestination is where an accepted blind transfer sends the caller.
type TransferDestination struct {
	Kind  string // TransferToAgent, TransferToQueue or TransferToNumber
	Value string
}

func (d TransferDestination) valid() bool {
	switch d.Kind {
	case TransferToAgent, TransferToQueue, TransferToNumber:
		return d.Value != ""
	}
	return false
}

// TransferTargetFunc resolves target, the user part of the Refer-To sent by
// agentID's phone (e.g. "queue-complaint", "1002"), against the allowlist of
// transfer destinations (S10). A target not on it returns an error wrapping
// ErrTransferForbidden (403 to the phone); any other error is a failed
// lookup (500).
type TransferTargetFunc func(ctx context.Context, agentID, target string) (TransferDestination, error)

// ErrTransferForbidden: the Refer-To target is not an allowed destination.
var ErrTransferForbidden = errors.New("transfer target not allowed")

// REFER results (label "result" of hotline_sip_refers_total).
const (
	referAccepted       = "accepted"        // 202, NOTIFY, the caller is handed to the connector
	referForbidden      = "forbidden"       // 403: caller's REFER, target not allowed, scheme, repeat
	referBadRequest     = "bad_request"     // 400 (or 500 out of order): missing or malformed Refer-To
	referNotImplemented = "not_implemented" // 501: attended transfer (Replaces) or other embedded headers
	referNoDialog       = "no_dialog"       // 481: no dialog, or the leg has ended
	referFailed         = "failed"          // 500: the allowlist lookup failed
)

const (
	transferLookupTimeout = 2 * time.Second
	notifyTimeout         = 4 * time.Second
	maxTransferTarget     = 64
)

// transferByeWait is how long the agent's phone has to send BYE after the
// final NOTIFY before we end the leg ourselves.
var transferByeWait = 3 * time.Second

// referError is a refused REFER: response status, reason phrase, metric result.
type referError struct {
	status         int
	reason, result string
}

func forbidden(reason string) *referError {
	return &referError{sip.StatusForbidden, reason, referForbidden}
}
func badRefer(reason string) *referError {
	return &referError{sip.StatusBadRequest, reason, referBadRequest}
}
func notImpl(reason string) *referError { return &referError{501, reason, referNotImplemented} }
func referFailure(reason string) *referError {
	return &referError{sip.StatusInternalServerError, reason, referFailed}
}

// Transfers delivers the destination of the agent's accepted blind transfer
// (S10), at most once and always before Done is closed: the leg then ends
// (the agent's BYE, or ours after transferByeWait) and the caller is to be
// routed to the destination. The channel has a buffer of one.
func (l *AgentLeg) Transfers() <-chan TransferDestination { return l.transfers }

// TransferredTo is the destination of the accepted blind transfer, if any.
func (l *AgentLeg) TransferredTo() (TransferDestination, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.transfer == nil {
		return TransferDestination{}, false
	}
	return *l.transfer, true
}

// onRefer routes a REFER: the agent leg's dialog takes it; a caller's REFER
// is refused (never act on a caller-supplied Refer-To); anything else has
// no dialog (RFC 3261 §12.2.2).
func (s *Server) onRefer(req *sip.Request, tx sip.ServerTransaction) {
	if l := s.legs.byRequest(req); l != nil {
		l.refer(req, tx)
		return
	}
	if c := s.calls.byRequest(req); c != nil {
		c.log.Warn("refer from the caller refused", "refer_to", referToText(req))
		s.refuseRefer(req, tx, forbidden("Forbidden"))
		return
	}
	s.refuseRefer(req, tx, &referError{sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", referNoDialog})
}

func (s *Server) refuseRefer(req *sip.Request, tx sip.ServerTransaction, e *referError) {
	s.metrics.refer(e.result)
	s.respond(tx, sip.NewResponseFromRequest(req, e.status, e.reason, nil))
}

// refer answers the agent's REFER: 202 once the allowlist resolved the
// target (RFC 3515 §2.4.2), then the final NOTIFY and the end of the leg.
func (l *AgentLeg) refer(req *sip.Request, tx sip.ServerTransaction) {
	d, rerr := l.resolveRefer(req)
	var notified chan struct{}
	if rerr == nil {
		notified, rerr = l.acceptTransfer(req, d)
	}
	if rerr != nil {
		l.log.Info("agent transfer refused", "status", rerr.status, "reason", rerr.reason, "refer_to", referToText(req))
		l.srv.refuseRefer(req, tx, rerr)
		return
	}
	l.srv.metrics.refer(referAccepted)
	l.log.Info("agent transfer accepted", "kind", d.Kind, "destination", d.Value)
	res := sip.NewResponseFromRequest(req, sip.StatusAccepted, "Accepted", nil)
	contact := l.srv.contact(l.advertise.String(), req.Transport())
	res.AppendHeader(&contact)
	l.srv.respond(tx, res)
	go l.completeTransfer(req.CSeq().SeqNo, notified)
}

// resolveRefer parses Refer-To and asks the allowlist for the destination.
func (l *AgentLeg) resolveRefer(req *sip.Request) (TransferDestination, *referError) {
	target, rerr := referTarget(req)
	if rerr != nil {
		return TransferDestination{}, rerr
	}
	if l.srv.xfer == nil {
		return TransferDestination{}, forbidden("Transfer Not Configured")
	}
	ctx, cancel := context.WithTimeout(context.Background(), transferLookupTimeout)
	defer cancel()
	d, err := l.srv.xfer(ctx, l.agentID, target)
	switch {
	case errors.Is(err, ErrTransferForbidden):
		return d, forbidden("Forbidden")
	case err != nil:
		l.log.Warn("transfer target lookup failed", "target", target, "error", err)
		return d, referFailure("Transfer Lookup Failed")
	case !d.valid():
		l.log.Error("transfer target lookup gave an invalid destination", "target", target, "kind", d.Kind)
		return d, referFailure("Transfer Lookup Failed")
	}
	return d, nil
}

// acceptTransfer records the transfer and hands it to the connector before
// anything can end the leg; one transfer per leg.
func (l *AgentLeg) acceptTransfer(req *sip.Request, d TransferDestination) (chan struct{}, *referError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.ended:
		return nil, &referError{sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", referNoDialog}
	case l.transfer != nil:
		return nil, forbidden("Already Transferred")
	case !l.inOrder(req):
		return nil, &referError{sip.StatusInternalServerError, "Out Of Order", referBadRequest}
	}
	l.transfer = &d
	l.notified = make(chan struct{})
	l.transfers <- d // buffer of one, sent once
	return l.notified, nil
}

// completeTransfer sends the final NOTIFY, then gives the agent's phone
// transferByeWait to hang up before we send BYE.
func (l *AgentLeg) completeTransfer(referCSeq uint32, notified chan struct{}) {
	err := l.notifyTransfer(referCSeq)
	close(notified)
	if err != nil {
		l.log.Info("transfer notify failed", "error", err)
	}
	t := time.NewTimer(transferByeWait)
	defer t.Stop()
	select {
	case <-l.done:
	case <-t.C:
		l.end(context.Background(), HungUpBySystem, "transferred")
	}
}

// notifyTransfer sends the NOTIFY that ends the implicit subscription (RFC
// 3515 §2.4.4–2.4.5, §2.4.6 id): the transfer is taken over, "SIP/2.0 200 OK".
func (l *AgentLeg) notifyTransfer(referCSeq uint32) error {
	target := l.dlg.InviteRequest.Recipient
	if c := l.dlg.InviteResponse.Contact(); c != nil {
		target = c.Address
	}
	req := sip.NewRequest(sip.NOTIFY, *target.Clone())
	req.AppendHeader(sip.NewHeader("Event", "refer;id="+strconv.FormatUint(uint64(referCSeq), 10)))
	req.AppendHeader(sip.NewHeader("Subscription-State", "terminated;reason=noresource"))
	contact := l.srv.contact(l.advertise.String(), l.dlg.InviteRequest.Transport())
	req.AppendHeader(&contact)
	req.AppendHeader(sip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	req.SetBody([]byte("SIP/2.0 200 OK\r\n"))
	ctx, cancel := context.WithTimeout(context.Background(), notifyTimeout)
	defer cancel()
	res, err := l.dlg.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("notify answered %d %s", res.StatusCode, sanitize(res.Reason))
	}
	return nil
}

// awaitNotify waits for a pending transfer's final NOTIFY (bounded by
// notifyTimeout), so our BYE never overtakes it.
func (l *AgentLeg) awaitNotify(ctx context.Context) {
	l.mu.Lock()
	ch := l.notified
	l.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// referTarget extracts the transfer target from the single Refer-To (RFC
// 3515 §2.1: name-addr or addr-spec, compact form "r"): the user part of a
// SIP URI or the number of a tel URI, with URI and header parameters dropped.
func referTarget(req *sip.Request) (string, *referError) {
	hs := append(req.GetHeaders("Refer-To"), req.GetHeaders("r")...)
	if len(hs) != 1 {
		return "", badRefer("Exactly One Refer-To Required") // RFC 3515 §2.4.1
	}
	var u sip.Uri
	if rt, ok := hs[0].(*sip.ReferToHeader); ok {
		u = rt.Address
	} else if _, err := sip.ParseAddressValue(hs[0].Value(), &u, nil); err != nil {
		return "", badRefer("Malformed Refer-To")
	}
	return uriTarget(u)
}

// uriTarget checks a Refer-To URI and returns its target key.
func uriTarget(u sip.Uri) (string, *referError) {
	if len(u.Headers) > 0 {
		for _, h := range u.Headers {
			if strings.EqualFold(h.K, "Replaces") {
				return "", notImpl("Attended Transfer Not Supported") // RFC 3891
			}
		}
		return "", notImpl("Refer-To Headers Not Supported") // never build a request from them
	}
	for _, p := range u.UriParams {
		if strings.EqualFold(p.K, "method") && !strings.EqualFold(p.V, "INVITE") {
			return "", notImpl("Only INVITE References Supported") // RFC 3515 §2.4.2
		}
	}
	var user string
	switch strings.ToLower(u.Scheme) {
	case "sip", "sips":
		if u.Host == "" {
			return "", badRefer("Malformed Refer-To")
		}
		user = u.User
	case "tel":
		user = u.Raw()
	case "":
		return "", badRefer("Malformed Refer-To")
	default:
		return "", forbidden("Refer-To Scheme Not Allowed")
	}
	user, _, _ = strings.Cut(user, ";") // user or tel parameters (RFC 3966)
	user, err := url.PathUnescape(user)
	if err != nil || !validTarget(user) {
		return "", badRefer("Malformed Refer-To User")
	}
	return user, nil
}

// validTarget allows what dial strings, agent ids and queue keys use.
func validTarget(s string) bool {
	if s == "" || len(s) > maxTransferTarget {
		return false
	}
	for _, r := range s {
		ok := r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune("+*#-._", r)
		if !ok {
			return false
		}
	}
	return true
}

// referToText is the Refer-To for logs, without line breaks and shortened.
func referToText(req *sip.Request) string {
	h := req.GetHeader("Refer-To")
	if h == nil {
		h = req.GetHeader("r")
	}
	if h == nil {
		return ""
	}
	return shortText(h.Value(), 120)
}

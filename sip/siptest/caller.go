// Package siptest is hotline's SIP test peer: a Go caller (Caller, Call) that
// places real calls over loopback with sipgo, sends RTP and DTMF and records the
// audio it hears, plus audio checks (RMS, Goertzel, Similarity), a runner for
// the SIPp scenarios in scenarios/ and a baresip harness (StartBaresip) that
// plays an agent's softphone. End-to-end tests use it against the hotline
// server; it depends on no part of the server except the pure sip/media helpers.
package siptest

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// loopback is the only address the test peer binds: tests run over loopback.
const loopback = "127.0.0.1"

// StatusError is a non-2xx final response to an INVITE (or re-INVITE, INFO).
type StatusError struct {
	Code   int
	Reason string
	// Warning is the response's Warning header value, if any (RFC 3261 §20.43).
	Warning string
}

// Error implements error.
func (e *StatusError) Error() string {
	return fmt.Sprintf("sip status %d %s", e.Code, e.Reason)
}

// statusError describes a non-2xx final response.
func statusError(res *sip.Response) *StatusError {
	e := &StatusError{Code: res.StatusCode, Reason: res.Reason}
	if h := res.GetHeader("Warning"); h != nil {
		e.Warning = h.Value()
	}
	return e
}

// Caller is a SIP user agent that places test calls. One Caller can hold many
// calls at once; each Call owns its RTP socket. Close ends everything.
type Caller struct {
	name string
	log  *slog.Logger
	ua   *sipgo.UserAgent
	srv  *sipgo.Server
	udp  *net.UDPConn
	// dialog UAs per transport: UDP shares the listening socket (symmetric SIP),
	// TCP uses the outbound connection the server answers and sends BYE on.
	udpUA *sipgo.DialogUA
	tcpUA *sipgo.DialogUA

	mu    sync.Mutex
	calls map[string]*Call // by SIP Call-ID

	wg sync.WaitGroup
}

// NewCaller starts a user agent named name (used in From display names and
// User-Agent) listening for in-dialog requests on a random UDP port of 127.0.0.1.
// A nil log discards logs.
func NewCaller(name string, log *slog.Logger) (*Caller, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(name), sipgo.WithUserAgentHostname(loopback))
	if err != nil {
		return nil, fmt.Errorf("new user agent: %w", err)
	}
	c := &Caller{name: name, log: log.With("component", "siptest", "caller", name), ua: ua, calls: map[string]*Call{}}
	if err := c.listen(); err != nil {
		_ = ua.Close()
		return nil, err
	}
	return c, nil
}

func (c *Caller) listen() error {
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(loopback)})
	if err != nil {
		return fmt.Errorf("listen sip udp: %w", err)
	}
	c.udp = udp
	srv, err := sipgo.NewServer(c.ua, sipgo.WithServerLogger(c.log))
	if err != nil {
		return fmt.Errorf("new sip server: %w", err)
	}
	c.srv = srv
	srv.OnBye(c.onBye)
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	})
	port := udp.LocalAddr().(*net.UDPAddr).Port
	udpCli, err := sipgo.NewClient(c.ua, sipgo.WithClientHostname(loopback),
		sipgo.WithClientConnectionAddr(net.JoinHostPort(loopback, strconv.Itoa(port))))
	if err != nil {
		return fmt.Errorf("new udp client: %w", err)
	}
	tcpCli, err := sipgo.NewClient(c.ua, sipgo.WithClientHostname(loopback))
	if err != nil {
		return fmt.Errorf("new tcp client: %w", err)
	}
	c.udpUA = &sipgo.DialogUA{Client: udpCli, ContactHDR: sip.ContactHeader{
		Address: sip.Uri{Scheme: "sip", User: c.name, Host: loopback, Port: port}}}
	// Port 0: sipgo fills in the local port of the TCP connection (dialog_client.go).
	tcpContact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: c.name, Host: loopback,
		UriParams: sip.NewParams()}}
	tcpContact.Address.UriParams.Add("transport", "tcp")
	c.tcpUA = &sipgo.DialogUA{Client: tcpCli, ContactHDR: tcpContact}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := srv.ServeUDP(udp); err != nil && !errors.Is(err, net.ErrClosed) {
			c.log.Warn("serve udp ended", "error", err)
		}
	}()
	return c.waitListener(udp.LocalAddr().String())
}

// waitListener waits until sipgo registered the UDP listener: until then a
// request with that local address would try to bind it again (EADDRINUSE).
func (c *Caller) waitListener(addr string) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		if conn, _ := c.ua.TransportLayer().GetConnection("udp", addr); conn != nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sip udp listener %s not ready", addr)
		}
		time.Sleep(time.Millisecond)
	}
}

// Addr is the UDP address the caller receives in-dialog requests on.
func (c *Caller) Addr() *net.UDPAddr {
	return c.udp.LocalAddr().(*net.UDPAddr)
}

// Close hangs up nothing: it closes the calls' RTP sockets, the listener and the
// user agent, and waits for their goroutines.
func (c *Caller) Close() error {
	c.mu.Lock()
	calls := make([]*Call, 0, len(c.calls))
	for _, call := range c.calls {
		calls = append(calls, call)
	}
	c.mu.Unlock()
	for _, call := range calls {
		call.stopMedia()
	}
	err := c.udp.Close()
	if uerr := c.ua.Close(); err == nil {
		err = uerr
	}
	c.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (c *Caller) dialogUA(transport string) (*sipgo.DialogUA, error) {
	switch transport {
	case "", "udp":
		return c.udpUA, nil
	case "tcp":
		return c.tcpUA, nil
	}
	return nil, fmt.Errorf("transport %q: want udp or tcp", transport)
}

func (c *Caller) track(call *Call) {
	c.mu.Lock()
	c.calls[call.callID] = call
	c.mu.Unlock()
}

func (c *Caller) forget(callID string) {
	c.mu.Lock()
	delete(c.calls, callID)
	c.mu.Unlock()
}

// onBye is the server hanging up (RFC 3261 §15.1.2): answer 200 and end the call.
func (c *Caller) onBye(req *sip.Request, tx sip.ServerTransaction) {
	id := ""
	if h := req.CallID(); h != nil {
		id = h.Value()
	}
	c.mu.Lock()
	call := c.calls[id]
	c.mu.Unlock()
	if call == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	if err := call.dlg.ReadBye(req, tx); err != nil {
		c.log.Warn("answer bye", "call_id", id, "error", err)
	}
	call.remoteHangup()
}

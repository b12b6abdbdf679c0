package siptest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/sip/media"
	"github.com/pion/rtp"
)

const (
	frameSamples  = 160 // 20 ms at 8 kHz
	frameInterval = 20 * time.Millisecond
	// eventPackets is how many progress packets a DTMF event has: 5 × 20 ms =
	// 100 ms, then 3 end packets (RFC 4733 §2.5.1.4).
	eventPackets    = 5
	eventEndRepeats = 3
	eventVolume     = 10 // -10 dBm0
)

// errMediaStopped is returned by SendDTMF after the call's media ended.
var errMediaStopped = errors.New("media stopped")

// rxPacket is one received RTP packet with its arrival time.
type rxPacket struct {
	at     time.Time
	seq    uint16
	ssrc   uint32
	marker bool
	pt     uint8
	pcm    []int16 // decoded audio; nil for other payload types
}

type dtmfReq struct {
	event uint8
	done  chan struct{}
}

// rtpStream is a call's RTP socket: one goroutine sends a packet every 20 ms
// (audio or DTMF events), one records what arrives.
type rtpStream struct {
	conn *net.UDPConn

	mu        sync.Mutex
	neg       media.Negotiated
	rx        []rxPacket
	nonSilent int // decoded samples in frames louder than SilenceRMS

	dtmf    chan dtmfReq
	stop    chan struct{}
	started chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

func newRTPStream() (*rtpStream, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(loopback)})
	if err != nil {
		return nil, fmt.Errorf("open rtp socket: %w", err)
	}
	return &rtpStream{conn: conn, dtmf: make(chan dtmfReq), stop: make(chan struct{}), started: make(chan struct{})}, nil
}

func (s *rtpStream) localPort() int {
	return s.conn.LocalAddr().(*net.UDPAddr).Port
}

func (s *rtpStream) negotiated() media.Negotiated {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.neg
}

// start begins sending to n.Remote and recording; audio is looped (nil = silence).
func (s *rtpStream) start(n media.Negotiated, audio []int16) {
	s.mu.Lock()
	s.neg = n
	s.mu.Unlock()
	snd := &sender{
		conn: s.conn, neg: n, audio: audio,
		ssrc: rand.Uint32(), seq: uint16(rand.Uint32()), ts: rand.Uint32(),
	}
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.readLoop() }()
	go func() { defer s.wg.Done(); snd.run(s.stop, s.dtmf) }()
	close(s.started)
}

func (s *rtpStream) close() {
	s.once.Do(func() {
		close(s.stop)
		_ = s.conn.Close()
		s.wg.Wait()
	})
}

func (s *rtpStream) sendDTMF(digit rune) error {
	ev, ok := media.DigitEvent(digit)
	if !ok {
		return fmt.Errorf("send dtmf %q: not a dtmf digit", digit)
	}
	select {
	case <-s.started:
	default:
		return fmt.Errorf("send dtmf %q: call not answered", digit)
	}
	if n := s.negotiated(); !n.DTMF {
		return fmt.Errorf("send dtmf %q: telephone-event not negotiated", digit)
	}
	req := dtmfReq{event: ev, done: make(chan struct{})}
	select {
	case s.dtmf <- req:
	case <-s.stop:
		return fmt.Errorf("send dtmf %q: %w", digit, errMediaStopped)
	}
	select {
	case <-req.done:
		return nil
	case <-s.stop:
		return fmt.Errorf("send dtmf %q: %w", digit, errMediaStopped)
	}
}

// readLoop records every RTP packet until the socket is closed. RTCP
// (RFC 5761 §4: second byte 200–204 after masking) and non-v2 packets are skipped.
func (s *rtpStream) readLoop() {
	buf := make([]byte, 1500)
	for {
		n, _, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		at := time.Now()
		if n < 12 || buf[0]>>6 != 2 || (buf[1]&0x7f >= 72 && buf[1]&0x7f <= 76) {
			continue
		}
		var p rtp.Packet
		if err := p.Unmarshal(buf[:n]); err != nil {
			continue
		}
		s.record(at, &p)
	}
}

func (s *rtpStream) record(at time.Time, p *rtp.Packet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := rxPacket{at: at, seq: p.SequenceNumber, ssrc: p.SSRC, marker: p.Marker, pt: p.PayloadType}
	if p.PayloadType == s.neg.Codec.PayloadType {
		rp.pcm = s.neg.Codec.Decode(make([]int16, 0, len(p.Payload)), p.Payload)
		if RMS(rp.pcm) > SilenceRMS {
			s.nonSilent += len(rp.pcm)
		}
	}
	s.rx = append(s.rx, rp)
}

// sender owns the outgoing stream state; only its goroutine touches it.
type sender struct {
	conn  *net.UDPConn
	neg   media.Negotiated
	audio []int16
	pos   int
	ssrc  uint32
	seq   uint16
	ts    uint32
	buf   []byte
	frame []int16
}

// run sends frame n at start + n·20 ms (no drifting ticker) until stop.
func (s *sender) run(stop <-chan struct{}, dtmf <-chan dtmfReq) {
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var ev *dtmfReq
	evTS, evSent := uint32(0), 0
	for n := 1; ; n++ {
		select {
		case <-stop:
			return
		case <-timer.C:
		}
		if ev == nil {
			select {
			case r := <-dtmf:
				ev, evTS, evSent = &r, s.ts, 0
			default:
			}
		}
		if ev != nil {
			if s.sendEvent(ev.event, evTS, evSent) {
				close(ev.done)
				ev = nil
			}
			evSent++
		} else {
			s.sendAudio()
		}
		s.ts += frameSamples
		timer.Reset(time.Until(start.Add(time.Duration(n) * frameInterval)))
	}
}

// sendEvent sends packet i of an RFC 4733 event: the same timestamp for all,
// marker on the first (§2.5.1.3), growing duration, then the end packet three
// times (§2.5.1.4). It reports whether the event is complete.
func (s *sender) sendEvent(event uint8, ts uint32, i int) bool {
	if i < eventPackets {
		e := media.DTMFEvent{Event: event, Volume: eventVolume, Duration: uint16((i + 1) * frameSamples)}
		s.write(s.neg.DTMFPayloadType, i == 0, ts, e.Marshal())
		return false
	}
	e := media.DTMFEvent{Event: event, End: true, Volume: eventVolume, Duration: eventPackets * frameSamples}
	for range eventEndRepeats {
		s.write(s.neg.DTMFPayloadType, false, ts, e.Marshal())
	}
	return true
}

func (s *sender) sendAudio() {
	if cap(s.frame) < frameSamples {
		s.frame = make([]int16, frameSamples)
	}
	frame := s.frame[:frameSamples]
	for i := range frame {
		frame[i] = 0
		if len(s.audio) > 0 {
			frame[i] = s.audio[s.pos]
			s.pos = (s.pos + 1) % len(s.audio)
		}
	}
	s.write(s.neg.Codec.PayloadType, false, s.ts, s.neg.Codec.Encode(nil, frame))
}

func (s *sender) write(pt uint8, marker bool, ts uint32, payload []byte) {
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, Marker: marker,
		SequenceNumber: s.seq, Timestamp: ts, SSRC: s.ssrc}, Payload: payload}
	s.seq++
	if cap(s.buf) < 1500 {
		s.buf = make([]byte, 1500)
	}
	n, err := p.MarshalTo(s.buf[:1500])
	if err != nil {
		return
	}
	// Write errors (ICMP port unreachable after the server hung up) are expected
	// at the end of a call; the stream just keeps its pace until stopped.
	_, _ = s.conn.WriteToUDPAddrPort(s.buf[:n], s.neg.Remote)
}

package siptest

import (
	"net"
	"testing"
	"time"

	"github.com/hotline-dev/hotline/sip/media"
	"github.com/hotline-dev/hotline/sip/siptest/poll"
	"github.com/pion/rtp"
)

// The tap records the audio sent to its port, decoded, and nothing sent to
// another port or that is not audio (a telephone event).
func TestRTPTap(t *testing.T) {
	if testing.Short() {
		t.Skip("opens a packet socket (root), which -short leaves out")
	}
	dst, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tap, err := TapRTP(dst.LocalAddr().(*net.UDPAddr).Port)
	if err != nil {
		t.Fatalf("%v (the e2e tests that hear what SIPp heard run as root)", err)
	}
	defer tap.Close()
	src, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tone := Tone(700, 400*time.Millisecond, 8000)
	to := dst.LocalAddr().(*net.UDPAddr)
	send := func(to *net.UDPAddr, pt uint8, seq uint16, payload []byte) {
		t.Helper()
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, SSRC: 7}, Payload: payload}
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.WriteToUDP(b, to); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	for i := 0; i*160 < len(tone); i++ {
		send(to, media.PCMU.PayloadType, uint16(i), media.PCMU.Encode(nil, tone[i*160:(i+1)*160]))
		send(other.LocalAddr().(*net.UDPAddr), media.PCMU.PayloadType, uint16(i), media.PCMU.Encode(nil, Tone(300, 20*time.Millisecond, 8000)))
	}
	send(to, 101, 99, []byte{3, 0x80, 0, 160}) // an RFC 4733 event: not audio
	poll.Until(t, "20 audio packets tapped", func() bool { return tap.Packets() >= 20 })
	time.Sleep(100 * time.Millisecond)
	got := tap.ReceivedSince(start)
	if tap.Packets() != 20 || len(got) != len(tone) {
		t.Fatalf("tapped %d packets, %d samples; want 20 packets of the tone, %d samples", tap.Packets(), len(got), len(tone))
	}
	if share := Goertzel(got, 8000, 700); share < 0.9 {
		t.Fatalf("tapped audio is not the 700 Hz tone: share %.2f", share)
	}
	if len(tap.ReceivedSince(time.Now())) != 0 {
		t.Fatal("audio received in the future")
	}
}

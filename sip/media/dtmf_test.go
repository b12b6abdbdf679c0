package media

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseDTMFEvent(t *testing.T) {
	cases := []struct {
		name    string
		payload []byte
		want    DTMFEvent
		err     error
	}{
		{"digit 5 start", []byte{5, 10, 0, 160}, DTMFEvent{Event: 5, Volume: 10, Duration: 160}, nil},
		{"# end", []byte{11, 0x80 | 7, 0x03, 0x20}, DTMFEvent{Event: 11, End: true, Volume: 7, Duration: 800}, nil},
		{"R bit ignored", []byte{1, 0x40 | 0x3F, 0xFF, 0xFF}, DTMFEvent{Event: 1, Volume: 63, Duration: 65535}, nil},
		{"flash event 16 parsed", []byte{16, 0x80, 0, 1}, DTMFEvent{Event: 16, End: true, Duration: 1}, nil},
		{"empty", nil, DTMFEvent{}, ErrBadDTMF},
		{"three bytes", []byte{1, 2, 3}, DTMFEvent{}, ErrBadDTMF},
		{"two event blocks", []byte{1, 0, 0, 160, 2, 0, 0, 160}, DTMFEvent{}, ErrBadDTMF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDTMFEvent(tc.payload)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error = %v, want %v", err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("ParseDTMFEvent = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDTMFEventMarshal(t *testing.T) {
	cases := []struct {
		name string
		ev   DTMFEvent
		want []byte
	}{
		{"start", DTMFEvent{Event: 9, Volume: 10, Duration: 160}, []byte{9, 10, 0, 160}},
		{"end", DTMFEvent{Event: 10, End: true, Volume: 10, Duration: 1280}, []byte{10, 0x8A, 0x05, 0x00}},
		{"volume masked to 6 bits", DTMFEvent{Event: 0, Volume: 0xFF}, []byte{0, 0x3F, 0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.ev.Marshal(); !bytes.Equal(got, tc.want) {
				t.Fatalf("Marshal = % x, want % x", got, tc.want)
			}
		})
	}
}

func TestEventDigitTable(t *testing.T) {
	keys := "0123456789*#ABCD"
	for i, k := range keys {
		if d, ok := EventDigit(uint8(i)); !ok || d != k {
			t.Errorf("EventDigit(%d) = %q, %v; want %q", i, d, ok, k)
		}
		if e, ok := DigitEvent(k); !ok || e != uint8(i) {
			t.Errorf("DigitEvent(%q) = %d, %v; want %d", k, e, ok, i)
		}
	}
	if e, ok := DigitEvent('c'); !ok || e != 14 {
		t.Errorf("DigitEvent('c') = %d, %v; want 14", e, ok)
	}
	for _, ev := range []uint8{16, 17, 255} {
		if d, ok := EventDigit(ev); ok {
			t.Errorf("EventDigit(%d) = %q, want not a digit", ev, d)
		}
	}
	for _, r := range []rune{'E', 'x', ' ', '٣'} {
		if e, ok := DigitEvent(r); ok {
			t.Errorf("DigitEvent(%q) = %d, want not a DTMF key", r, e)
		}
	}
}

// pkt is one telephone-event packet as the detector sees it.
type pkt struct {
	ssrc, ts uint32
	payload  []byte
}

func ev(event uint8, end bool, dur uint16) []byte {
	return DTMFEvent{Event: event, End: end, Volume: 10, Duration: dur}.Marshal()
}

// sequence is the RFC 4733 §2.5.1 packet train for one key: start, continuations and
// three end packets, all with the same timestamp.
func sequence(ssrc, ts uint32, event uint8) []pkt {
	return []pkt{
		{ssrc, ts, ev(event, false, 160)}, {ssrc, ts, ev(event, false, 320)}, {ssrc, ts, ev(event, false, 480)},
		{ssrc, ts, ev(event, true, 640)}, {ssrc, ts, ev(event, true, 640)}, {ssrc, ts, ev(event, true, 640)},
	}
}

func TestDTMFDetector(t *testing.T) {
	cases := []struct {
		name string
		pkts []pkt
		want string
	}{
		{"normal event with triple end", sequence(1, 1000, 5), "5"},
		{"lost end packets", sequence(1, 1000, 7)[:3], "7"},
		{"lost first packet", sequence(1, 1000, 3)[1:], "3"},
		{"only an end packet", sequence(1, 1000, 11)[4:5], "#"},
		{"same digit twice, different timestamps",
			append(sequence(1, 1000, 2), sequence(1, 2600, 2)...), "22"},
		{"retransmitted ends after the next digit started",
			append(append(sequence(1, 1000, 1)[:4], sequence(1, 2600, 9)[:2]...), sequence(1, 1000, 1)[4:]...), "19"},
		{"two streams with the same timestamp", append(sequence(1, 1000, 4), sequence(2, 1000, 6)...), "46"},
		{"non-DTMF event ignored", append(sequence(1, 1000, 16), sequence(1, 2600, 0)...), "0"},
		{"all keys", keyTrain("0123456789*#ABCD"), "0123456789*#ABCD"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var d DTMFDetector
			var got []rune
			for _, p := range tc.pkts {
				r, ok, err := d.Feed(p.ssrc, p.ts, p.payload)
				if err != nil {
					t.Fatalf("Feed: %v", err)
				}
				if ok {
					got = append(got, r)
				}
			}
			if string(got) != tc.want {
				t.Fatalf("digits = %q, want %q", string(got), tc.want)
			}
		})
	}
}

func keyTrain(keys string) []pkt {
	var ps []pkt
	for i, k := range keys {
		e, _ := DigitEvent(k)
		ps = append(ps, sequence(7, uint32(1000+1600*i), e)...)
	}
	return ps
}

func TestDTMFDetectorGarbage(t *testing.T) {
	cases := []struct {
		name    string
		payload []byte
	}{
		{"empty", nil},
		{"short", []byte{1, 2}},
		{"long", []byte{1, 0, 0, 160, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var d DTMFDetector
			if _, ok, err := d.Feed(1, 1000, tc.payload); !errors.Is(err, ErrBadDTMF) || ok {
				t.Fatalf("Feed(garbage) = ok %v, err %v; want ErrBadDTMF", ok, err)
			}
			// A rejected packet must not consume the event's key.
			if r, ok, err := d.Feed(1, 1000, ev(8, false, 160)); err != nil || !ok || r != '8' {
				t.Fatalf("Feed after garbage = %q, %v, %v; want '8'", r, ok, err)
			}
		})
	}
}

// Memory stays bounded: after more than dtmfMemory newer events an old key is forgotten.
func TestDTMFDetectorBoundedMemory(t *testing.T) {
	var d DTMFDetector
	for i := range 100 {
		if _, ok, _ := d.Feed(1, uint32(i*1600), ev(1, false, 160)); !ok {
			t.Fatalf("event %d not reported", i)
		}
	}
	if d.n != dtmfMemory {
		t.Fatalf("remembered %d keys, want %d", d.n, dtmfMemory)
	}
	if _, ok, _ := d.Feed(1, 0, ev(1, true, 640)); !ok {
		t.Fatal("key from 100 events ago still remembered")
	}
	if _, ok, _ := d.Feed(1, 99*1600, ev(1, true, 640)); ok {
		t.Fatal("most recent key forgotten")
	}
}

package media

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrBadDTMF marks a telephone-event payload that is not one 4-byte event block.
var ErrBadDTMF = errors.New("bad telephone-event payload")

// DTMFEvent is one RFC 4733 §2.3 telephone-event payload:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     event     |E|R| volume    |          duration             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type DTMFEvent struct {
	Event    uint8  // event code; 0–15 are the DTMF keys (RFC 4733 §3.2)
	End      bool   // E bit: last packet(s) of the event
	Volume   uint8  // power level in -dBm0, 0–63
	Duration uint16 // in RTP timestamp units since the event's timestamp
}

const (
	dtmfPayloadLen = 4
	dtmfEndBit     = 0x80
	dtmfVolumeMask = 0x3F
)

// ParseDTMFEvent parses a telephone-event payload of exactly one event block. Event codes
// above 15 (tones, flash) are parsed too; EventDigit tells whether one is a DTMF key.
// The reserved R bit is ignored (RFC 4733 §2.3.3).
func ParseDTMFEvent(payload []byte) (DTMFEvent, error) {
	if len(payload) != dtmfPayloadLen {
		return DTMFEvent{}, fmt.Errorf("%w: %d bytes, want %d", ErrBadDTMF, len(payload), dtmfPayloadLen)
	}
	return DTMFEvent{
		Event:    payload[0],
		End:      payload[1]&dtmfEndBit != 0,
		Volume:   payload[1] & dtmfVolumeMask,
		Duration: binary.BigEndian.Uint16(payload[2:]),
	}, nil
}

// Marshal encodes e as a 4-byte payload, R bit zero and volume masked to 6 bits.
func (e DTMFEvent) Marshal() []byte {
	b := make([]byte, dtmfPayloadLen)
	b[0] = e.Event
	b[1] = e.Volume & dtmfVolumeMask
	if e.End {
		b[1] |= dtmfEndBit
	}
	binary.BigEndian.PutUint16(b[2:], e.Duration)
	return b
}

// dtmfKeys maps event codes 0–15 to keys (RFC 4733 §3.2, table 7).
const dtmfKeys = "0123456789*#ABCD"

// EventDigit returns the key for a DTMF event code: 0–9, *, #, A–D.
func EventDigit(event uint8) (rune, bool) {
	if int(event) >= len(dtmfKeys) {
		return 0, false
	}
	return rune(dtmfKeys[event]), true
}

// DigitEvent returns the event code for a DTMF key; lower-case a–d are accepted.
func DigitEvent(r rune) (uint8, bool) {
	if r >= 'a' && r <= 'd' {
		r -= 'a' - 'A'
	}
	for i, k := range dtmfKeys {
		if k == r {
			return uint8(i), true
		}
	}
	return 0, false
}

// dtmfMemory is how many recent events a DTMFDetector remembers. Retransmissions of an
// event arrive within its ~200 ms, long before eight newer events could.
const dtmfMemory = 8

type dtmfKey struct {
	ssrc, timestamp uint32
}

// DTMFDetector turns a stream of telephone-event packets into digits, one per event.
// An event is identified by its SSRC and RTP timestamp (RFC 4733 §2.5.1: all packets of
// one event share the timestamp), not by the marker bit, which may be lost. The zero
// value is ready; a detector is not safe for concurrent use.
type DTMFDetector struct {
	seen [dtmfMemory]dtmfKey
	n    int // number of valid entries in seen, up to dtmfMemory
	next int // ring index of the slot to overwrite next
}

// Feed takes one telephone-event packet. It returns the digit on the first packet seen
// of a new event, whatever its position (start, continuation or end), so lost packets do
// not lose digits; later packets of that event, including the retransmitted end packets,
// return ok == false. Non-DTMF events (code > 15) are remembered but return ok == false.
// A malformed payload returns an error wrapping ErrBadDTMF and changes nothing.
func (d *DTMFDetector) Feed(ssrc, timestamp uint32, payload []byte) (digit rune, ok bool, err error) {
	ev, err := ParseDTMFEvent(payload)
	if err != nil {
		return 0, false, err
	}
	k := dtmfKey{ssrc, timestamp}
	if d.remembers(k) {
		return 0, false, nil
	}
	d.remember(k)
	digit, ok = EventDigit(ev.Event)
	return digit, ok, nil
}

func (d *DTMFDetector) remembers(k dtmfKey) bool {
	for _, s := range d.seen[:d.n] {
		if s == k {
			return true
		}
	}
	return false
}

func (d *DTMFDetector) remember(k dtmfKey) {
	d.seen[d.next] = k
	d.next = (d.next + 1) % dtmfMemory
	d.n = min(d.n+1, dtmfMemory)
}

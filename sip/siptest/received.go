package siptest

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// PacketStats summarises the RTP packets a call received.
type PacketStats struct {
	Packets      int // all RTP packets (audio, events, anything else)
	AudioPackets int // packets of the negotiated audio codec
	// SeqGaps counts packets whose sequence number is not the previous one + 1
	// within the same SSRC (loss, reordering or duplicates).
	SeqGaps     int
	Markers     int // packets with the marker bit
	SSRCChanges int // times the SSRC differed from the previous packet's
	// InterArrivalP50 and P99 are percentiles of the gaps between consecutive
	// audio packet arrivals: about 20 ms for a well-paced sender.
	InterArrivalP50 time.Duration
	InterArrivalP99 time.Duration
}

// Received is all audio decoded so far (8 kHz PCM), in arrival order.
func (call *Call) Received() []int16 {
	return call.ReceivedSince(time.Time{})
}

// ReceivedSince is the audio of packets that arrived at or after t.
func (call *Call) ReceivedSince(t time.Time) []int16 {
	s := call.rtp
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int16
	for _, p := range s.rx {
		if p.pcm != nil && !p.at.Before(t) {
			out = append(out, p.pcm...)
		}
	}
	return out
}

// NonSilentDuration is how much received audio was louder than SilenceRMS,
// counted per packet.
func (call *Call) NonSilentDuration() time.Duration {
	s := call.rtp
	s.mu.Lock()
	defer s.mu.Unlock()
	return samplesDuration(s.nonSilent)
}

// WaitAudio waits until at least minDuration of non-silent audio has arrived.
func (call *Call) WaitAudio(ctx context.Context, minDuration time.Duration) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		got := call.NonSilentDuration()
		if got >= minDuration {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %v of audio, got %v: %w", minDuration, got, ctx.Err())
		case <-tick.C:
		}
	}
}

// PacketStats computes statistics over every packet received so far.
func (call *Call) PacketStats() PacketStats {
	s := call.rtp
	s.mu.Lock()
	defer s.mu.Unlock()
	var st PacketStats
	var gaps []time.Duration
	var prev, prevAudio *rxPacket
	for i := range s.rx {
		p := &s.rx[i]
		st.Packets++
		if p.marker {
			st.Markers++
		}
		if prev != nil && prev.ssrc != p.ssrc {
			st.SSRCChanges++
		} else if prev != nil && p.seq != prev.seq+1 {
			st.SeqGaps++
		}
		if p.pcm != nil {
			st.AudioPackets++
			if prevAudio != nil {
				gaps = append(gaps, p.at.Sub(prevAudio.at))
			}
			prevAudio = p
		}
		prev = p
	}
	st.InterArrivalP50 = percentile(gaps, 0.50)
	st.InterArrivalP99 = percentile(gaps, 0.99)
	return st
}

// percentile is the nearest-rank percentile q (0..1) of ds; 0 when empty.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func samplesDuration(n int) time.Duration {
	return time.Duration(n) * time.Second / sampleRate
}

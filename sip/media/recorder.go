package media

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Recording format (S19): 8 kHz, 16-bit little-endian PCM, two channels,
// caller left, agent right; a canonical 44-byte RIFF/WAVE header.
const (
	recRate       = 8000
	recFrameBytes = 4 // one stereo sample frame
	wavHeaderSize = 44
	// recTolerance is how far (in samples) a channel's position from its RTP
	// timestamps may stray from its arrival time before the channel is placed
	// by arrival again (a new stream, a restarted clock, a long stall).
	recTolerance = 120 * recRate / 1000
	// recLag is how far behind the wall clock the writer keeps samples open
	// for packets that arrive late.
	recLag = 2 * recTolerance
	// recMaxAhead bounds the samples held in memory beyond the written part.
	recMaxAhead = 10 * recRate
	// recFlushEvery is how often the writer moves settled samples to the
	// file. Every recorded call has a writer: at 100 ms, a thousand bridged
	// calls woke ten thousand goroutines a second, 9 % of the server's CPU.
	recFlushEvery = 500 * time.Millisecond
)

// Recorder writes both directions of a bridged call to a stereo WAV file
// (S19). The two channels share one clock started by NewRecorder: each
// channel is anchored where its first packet arrived and advanced by its RTP
// timestamps, so jitter does not tear the audio, while loss, silence and hold
// stay silent gaps and the channels stay in sync. The file grows while the
// call goes on: a writer goroutine moves settled samples through a buffered
// writer; relaying goroutines only copy samples under a short lock.
type Recorder struct {
	path       string
	start      time.Time
	f          *os.File
	w          *bufio.Writer
	quit, done chan struct{}
	closeOnce  sync.Once
	closeErr   error
	frames     atomic.Int64  // stereo frames handed to the file
	dropped    atomic.Uint64 // samples that arrived after their place was written
	err        error         // first write error; owned by the writer
	out        []byte        // the writer's scratch

	mu      sync.Mutex
	closed  bool
	chans   [2]recChannel
	flushed int64   // frames already handed to the file
	pending []int16 // interleaved frames from flushed on
}

// recChannel maps one channel's RTP timestamps to positions on the clock.
type recChannel struct {
	anchored bool
	ssrc     uint32
	ts0      uint32
	pos0     int64
}

// NewRecorder creates (or truncates) the WAV file at path and starts the
// recording clock.
func NewRecorder(path string) (*Recorder, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, fmt.Errorf("create recording: %w", err)
	}
	r := &Recorder{path: path, start: time.Now(), f: f, w: bufio.NewWriterSize(f, 32<<10),
		quit: make(chan struct{}), done: make(chan struct{})}
	if _, err := r.w.Write(wavHeader(0)); err != nil {
		f.Close()
		return nil, fmt.Errorf("write recording header %s: %w", path, err)
	}
	go r.run()
	return r, nil
}

// Path is the file being written.
func (r *Recorder) Path() string { return r.path }

// Duration is the audio written so far; after Close, the whole recording.
func (r *Recorder) Duration() time.Duration {
	return time.Duration(r.frames.Load()) * time.Second / recRate
}

// Dropped is the number of samples discarded because they arrived after
// their place in the file was written (more than about 240 ms late).
func (r *Recorder) Dropped() uint64 { return r.dropped.Load() }

// Close writes what is left (up to now: a silent tail stays silent), fixes
// the RIFF and data sizes in the header and closes the file. It is
// idempotent; later writes are ignored.
func (r *Recorder) Close() error {
	r.closeOnce.Do(func() {
		close(r.quit)
		<-r.done
		r.mu.Lock()
		r.closed = true
		end := max(r.flushed+int64(len(r.pending)/2), r.clock(time.Now()))
		b := r.take(end)
		r.mu.Unlock()
		r.emit(b)
		r.closeErr = r.finish()
	})
	return r.closeErr
}

// finish flushes the buffer, rewrites the header with the final sizes and
// closes the file.
func (r *Recorder) finish() error {
	err := r.err
	if err == nil {
		err = r.w.Flush()
	}
	if err == nil {
		data := uint32(min(r.frames.Load()*recFrameBytes, 1<<32-1-36))
		_, err = r.f.WriteAt(wavHeader(data), 0)
	}
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("finish recording %s: %w", r.path, err)
	}
	return nil
}

// clock is the sample position of t on the recording's clock.
func (r *Recorder) clock(t time.Time) int64 {
	return int64(max(t.Sub(r.start), 0) / (time.Second / recRate))
}

// write places decoded samples of channel ch that arrived at `at`.
func (r *Recorder) write(ch int, ssrc, ts uint32, pcm []int16, at time.Time) {
	arrival := r.clock(at)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.put(ch, r.chans[ch].place(ssrc, ts, arrival), pcm)
}

// place returns the position of a packet: by its timestamp relative to the
// channel's anchor, or by its arrival when that strays too far.
func (c *recChannel) place(ssrc, ts uint32, arrival int64) int64 {
	if c.anchored && c.ssrc == ssrc {
		pos := c.pos0 + int64(int32(ts-c.ts0))
		if d := pos - arrival; d > -recTolerance && d < recTolerance {
			return pos
		}
	}
	*c = recChannel{anchored: true, ssrc: ssrc, ts0: ts, pos0: arrival}
	return arrival
}

// put copies samples into the pending frames; called with mu held.
func (r *Recorder) put(ch int, pos int64, pcm []int16) {
	if late := r.flushed - pos; late > 0 {
		skip := min(late, int64(len(pcm)))
		r.dropped.Add(uint64(skip))
		pcm, pos = pcm[skip:], r.flushed
	}
	end := pos - r.flushed + int64(len(pcm))
	if end > recMaxAhead {
		r.dropped.Add(uint64(len(pcm)))
		return
	}
	if need := int(end) * 2; need > len(r.pending) {
		old := len(r.pending)
		r.pending = slices.Grow(r.pending, need-old)[:need]
		clear(r.pending[old:])
	}
	// The frames as pairs, so the loop indexes once per sample and the
	// compiler drops the bounds checks: this runs for every recorded packet.
	frames := unsafe.Slice((*[2]int16)(unsafe.Pointer(unsafe.SliceData(r.pending))), len(r.pending)/2)
	frames = frames[pos-r.flushed:][:len(pcm)]
	ch &= 1
	for i := range frames {
		frames[i][ch] = pcm[i]
	}
}

// run moves settled samples to the file until Close.
func (r *Recorder) run() {
	defer close(r.done)
	t := time.NewTicker(recFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-r.quit:
			return
		case now := <-t.C:
			r.mu.Lock()
			b := r.take(r.clock(now) - recLag)
			r.mu.Unlock()
			r.emit(b)
		}
	}
}

// take converts the frames before upTo to file bytes (silence where no
// channel had audio) and drops them from pending; called with mu held by the
// only goroutine that writes the file.
func (r *Recorder) take(upTo int64) []byte {
	n := upTo - r.flushed
	if n <= 0 {
		return nil
	}
	have := min(n, int64(len(r.pending)/2))
	r.out = r.out[:0]
	if hostLittleEndian && have > 0 {
		// WAV samples are little-endian, as the host's: one copy.
		r.out = append(r.out, unsafe.Slice((*byte)(unsafe.Pointer(&r.pending[0])), have*recFrameBytes)...)
	} else {
		for _, v := range r.pending[:have*2] {
			r.out = binary.LittleEndian.AppendUint16(r.out, uint16(v))
		}
	}
	r.out = append(r.out, make([]byte, (n-have)*recFrameBytes)...)
	r.pending = r.pending[:copy(r.pending, r.pending[have*2:])]
	r.flushed = upTo
	return r.out
}

// hostLittleEndian: int16 samples in memory are already WAV's byte order.
var hostLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// emit writes bytes taken from pending to the buffered file.
func (r *Recorder) emit(b []byte) {
	if len(b) == 0 || r.err != nil {
		return
	}
	if _, err := r.w.Write(b); err != nil {
		r.err = err
		return
	}
	r.frames.Add(int64(len(b) / recFrameBytes))
}

// wavHeader is the canonical PCM WAVE header for data bytes of 8 kHz 16-bit
// stereo.
func wavHeader(data uint32) []byte {
	le32, le16 := binary.LittleEndian.AppendUint32, binary.LittleEndian.AppendUint16
	h := make([]byte, 0, wavHeaderSize)
	h = le32(append(h, "RIFF"...), 36+data)
	h = append(h, "WAVEfmt "...)
	h = le32(h, 16)                    // fmt chunk size
	h = le16(h, 1)                     // PCM
	h = le16(h, 2)                     // channels
	h = le32(h, recRate)               // sample rate
	h = le32(h, recRate*recFrameBytes) // byte rate
	h = le16(h, recFrameBytes)         // block align
	h = le16(h, 16)                    // bits per sample
	return le32(append(h, "data"...), data)
}

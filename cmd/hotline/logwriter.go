package main

import (
	"io"
	"sync"
	"time"
)

// logWriter collects log lines in memory and writes them in one system call
// every logFlushEvery. Written straight to stderr, every line was a blocking
// write(2) under slog's handler mutex: at a few hundred calls per second the
// goroutines queued on that mutex, and an M blocked in write holds its P,
// whose timers (the RTP pacer's among them) wait until sysmon takes the P
// back. A full buffer is written at once by the writer that filled it, so a
// burst slows the loggers instead of growing without bound; order is kept.
type logWriter struct {
	out io.Writer

	wmu sync.Mutex // serialises writes to out
	mu  sync.Mutex // guards buf and closed
	buf []byte
	// spare is the buffer not in use, swapped with buf by flush (under wmu).
	spare  []byte
	closed bool

	stop chan struct{}
	done chan struct{}
}

const (
	logFlushEvery = 20 * time.Millisecond
	logBufferMax  = 1 << 20
)

func newLogWriter(out io.Writer) *logWriter {
	l := &logWriter{out: out, stop: make(chan struct{}), done: make(chan struct{})}
	go l.run()
	return l
}

// Write queues p (a whole log line from slog). After Close it writes through.
func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.wmu.Lock()
		defer l.wmu.Unlock()
		return l.out.Write(p)
	}
	l.buf = append(l.buf, p...)
	full := len(l.buf) >= logBufferMax
	l.mu.Unlock()
	if full {
		l.flush()
	}
	return len(p), nil
}

func (l *logWriter) run() {
	defer close(l.done)
	t := time.NewTicker(logFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.flush()
		}
	}
}

// flush writes what is queued in one write.
func (l *logWriter) flush() {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	out := l.buf
	l.buf = l.spare[:0]
	l.mu.Unlock()
	if len(out) > 0 {
		_, _ = l.out.Write(out) // a log that cannot be written has nowhere to say so
	}
	l.spare = out[:0]
}

// Close writes what is queued; later lines are written through.
func (l *logWriter) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	l.flush()
	return nil
}

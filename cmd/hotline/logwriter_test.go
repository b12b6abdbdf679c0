package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the flusher and the test.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *syncBuffer) snapshot() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String(), s.writes
}

// Lines from many goroutines all arrive, each whole, in far fewer writes
// than lines; Close writes the rest, and lines after Close still arrive.
func TestLogWriterBatchesAndKeepsEveryLine(t *testing.T) {
	out := &syncBuffer{}
	w := newLogWriter(out)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				fmt.Fprintf(w, "g=%d i=%d\n", g, i)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "after close\n")
	got, writes := out.snapshot()
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 8*500+1 {
		t.Fatalf("%d lines, want %d", len(lines), 8*500+1)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		seen[l] = true
	}
	for g := range 8 {
		for i := range 500 {
			if !seen[fmt.Sprintf("g=%d i=%d", g, i)] {
				t.Fatalf("line g=%d i=%d missing or torn", g, i)
			}
		}
	}
	if lines[len(lines)-1] != "after close" {
		t.Errorf("last line %q, want the one written after Close", lines[len(lines)-1])
	}
	if writes >= len(lines)/2 {
		t.Errorf("%d writes for %d lines: not batched", writes, len(lines))
	}
}

// A line is written within a few flush periods without Close.
func TestLogWriterFlushesOnItsOwn(t *testing.T) {
	out := &syncBuffer{}
	w := newLogWriter(out)
	defer w.Close()
	fmt.Fprintf(w, "hello\n")
	deadline := time.Now().Add(50 * logFlushEvery)
	for time.Now().Before(deadline) {
		if got, _ := out.snapshot(); got == "hello\n" {
			return
		}
		time.Sleep(logFlushEvery / 2)
	}
	got, _ := out.snapshot()
	t.Fatalf("after %v the output is %q, want the line", 50*logFlushEvery, got)
}

// A full buffer is written by the writer that filled it: memory stays
// bounded however fast lines come.
func TestLogWriterBufferStaysBounded(t *testing.T) {
	out := &syncBuffer{}
	w := newLogWriter(out)
	line := strings.Repeat("x", 1023) + "\n"
	total := 3 * logBufferMax / len(line)
	for range total {
		fmt.Fprint(w, line)
		w.mu.Lock()
		n := len(w.buf)
		w.mu.Unlock()
		if n >= logBufferMax {
			t.Fatalf("%d bytes queued, want fewer than %d", n, logBufferMax)
		}
	}
	w.Close()
	if got, _ := out.snapshot(); len(got) != total*len(line) {
		t.Fatalf("%d bytes written, want %d", len(got), total*len(line))
	}
}

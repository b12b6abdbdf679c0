package tickets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hotline-dev/hotline/configs"
)

// Spool file names inside WriterOptions.SpoolDir.
const (
	spoolFile      = "records.jsonl"     // records waiting for the database
	deadLetterFile = "dead-letter.jsonl" // records the database refused for good
)

// Record kinds, also the "kind" label of the metrics.
const (
	kindCall     = "call"
	kindCallback = "callback"
	kindAnswered = "answered" // a call record with its draft ticket (S12)
)

// spoolEntry is one line of the spool: a record and its kind.
type spoolEntry struct {
	Kind     string                   `json:"kind"`
	Call     *CallRecord              `json:"call,omitempty"`
	Callback *configs.CallbackRequest `json:"callback,omitempty"`
	Draft    *DraftFacts              `json:"draft,omitempty"` // with Call, kind answered
}

// deadLetter is one line of the dead-letter file: the raw spool line, why
// the database refused it and, when it said so, its SQLSTATE.
type deadLetter struct {
	At       time.Time       `json:"at"`
	Reason   string          `json:"reason"`
	SQLState string          `json:"sqlstate,omitempty"`
	Line     json.RawMessage `json:"line,omitempty"`
	Raw      string          `json:"raw,omitempty"` // when the line is not JSON
}

// spool is an append-only JSON-lines file of records that could not be
// written yet. Appends are fsync'd before they are acknowledged; the drainer
// removes written lines by writing the rest to a temporary file and renaming
// it over the spool, so a crash leaves either the old or the new file.
type spool struct {
	mu      sync.Mutex
	dir     string
	pending int
	since   time.Time // when the spool last went from empty to not empty
}

func openSpool(dir string) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create spool dir: %w", err)
	}
	s := &spool{dir: dir}
	// Temporary files of a rewrite that a crash interrupted: the spool
	// itself is still whole, so they are only litter.
	stale, _ := filepath.Glob(s.path(spoolFile + ".*.tmp"))
	for _, name := range stale {
		if err := os.Remove(name); err != nil {
			return nil, fmt.Errorf("remove stale spool file: %w", err)
		}
	}
	data, err := s.read()
	if err != nil {
		return nil, err
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		// A crash cut the last append short: end that line so the next
		// append does not run into it; the drainer rejects the fragment.
		if err := s.appendBytes([]byte("\n")); err != nil {
			return nil, err
		}
	}
	s.pending = len(splitLines(data))
	if s.pending > 0 {
		s.since = time.Now()
	}
	return s, nil
}

func (s *spool) path(name string) string { return filepath.Join(s.dir, name) }

// read returns the spool's content; a missing file is an empty spool.
func (s *spool) read() ([]byte, error) {
	data, err := os.ReadFile(s.path(spoolFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read spool: %w", err)
	}
	return data, nil
}

// add appends one entry durably.
func (s *spool) add(e spoolEntry) error {
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode spool entry: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.appendBytes(append(line, '\n')); err != nil {
		return err
	}
	if s.pending == 0 {
		s.since = time.Now()
	}
	s.pending++
	return nil
}

// appendBytes writes b at the end of the spool and fsyncs file and folder;
// on failure it cuts the file back so no half line stays behind.
func (s *spool) appendBytes(b []byte) error {
	return appendDurably(s.path(spoolFile), b)
}

func appendDurably(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open spool: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat spool: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Truncate(info.Size())
		return fmt.Errorf("write spool: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Truncate(info.Size())
		return fmt.Errorf("sync spool: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// snapshot returns the lines waiting now.
func (s *spool) snapshot() ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := s.read()
	if err != nil {
		return nil, err
	}
	return splitLines(data), nil
}

// commit removes the first done lines of the spool (those of a snapshot that
// were written or rejected); lines appended since the snapshot stay.
func (s *spool) commit(done int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := s.read()
	if err != nil {
		return err
	}
	lines := splitLines(data)
	rest := lines[min(done, len(lines)):]
	if len(rest) == 0 {
		if err := os.Remove(s.path(spoolFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove spool: %w", err)
		}
		s.pending, s.since = 0, time.Time{}
		return syncDir(s.dir)
	}
	if err := s.replace(append(bytes.Join(rest, []byte("\n")), '\n')); err != nil {
		return err
	}
	s.pending = len(rest)
	return nil
}

// replace swaps the spool for a file holding data, crash-safely.
func (s *spool) replace(data []byte) error {
	tmp, err := os.CreateTemp(s.dir, spoolFile+".*.tmp")
	if err != nil {
		return fmt.Errorf("rewrite spool: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("rewrite spool: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("rewrite spool: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("rewrite spool: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path(spoolFile)); err != nil {
		return fmt.Errorf("rewrite spool: %w", err)
	}
	return syncDir(s.dir)
}

// deadLetter keeps a line the database will never accept in the dead-letter
// file, for a person to inspect: nothing is dropped silently.
func (s *spool) deadLetter(line []byte, reason error) error {
	e := deadLetter{At: time.Now().UTC(), Reason: reason.Error(), SQLState: sqlState(reason)}
	if json.Valid(line) {
		e.Line = line
	} else {
		e.Raw = string(line)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode dead letter: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return appendDurably(s.path(deadLetterFile), append(b, '\n'))
}

func (s *spool) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// backlog returns the number of waiting lines and since when there were any.
func (s *spool) backlog() (int, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending, s.since
}

// decodeEntry parses and validates one spool line.
func decodeEntry(line []byte) (spoolEntry, error) {
	var e spoolEntry
	if err := json.Unmarshal(line, &e); err != nil {
		return e, fmt.Errorf("%w: spool line: %w", errInvalidRecord, err)
	}
	switch {
	case e.Kind == kindCall && e.Call != nil:
		return e, e.Call.validate()
	case e.Kind == kindCallback && e.Callback != nil:
		return e, validateCallback(*e.Callback)
	case e.Kind == kindAnswered && e.Call != nil && e.Draft != nil:
		if err := e.Call.validate(); err != nil {
			return e, err
		}
		return e, e.Draft.validate()
	}
	return e, fmt.Errorf("%w: spool line of kind %q without its record", errInvalidRecord, e.Kind)
}

func splitLines(data []byte) [][]byte {
	var lines [][]byte
	for _, l := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			lines = append(lines, l)
		}
	}
	return lines
}

// syncDir makes a create, rename or remove in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync spool dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync spool dir: %w", err)
	}
	return nil
}

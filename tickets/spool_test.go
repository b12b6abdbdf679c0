package tickets

import (
	"os"
	"path/filepath"
	"testing"
)

func readSpoolLines(t *testing.T, s *spool) [][]byte {
	t.Helper()
	lines, err := s.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestSpoolCommitKeepsLaterAppends(t *testing.T) {
	s, err := openSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	add := func(id string) {
		c := testCall(id)
		if err := s.add(spoolEntry{Kind: kindCall, Call: &c}); err != nil {
			t.Fatal(err)
		}
	}
	add("a")
	add("b")
	snap := readSpoolLines(t, s)
	add("c") // arrives while the drainer writes a and b
	if err := s.commit(len(snap)); err != nil {
		t.Fatal(err)
	}
	left := readSpoolLines(t, s)
	if len(left) != 1 || s.count() != 1 {
		t.Fatalf("after commit: %d lines, count %d; want 1", len(left), s.count())
	}
	e, err := decodeEntry(left[0])
	if err != nil || e.Call.ID != "c" {
		t.Fatalf("remaining entry %+v (%v), want call c", e, err)
	}
}

func TestOpenSpoolRecoversFromACrash(t *testing.T) {
	tests := []struct {
		name     string
		content  string
		stale    bool
		wantLine int
	}{
		{"empty folder", "", false, 0},
		{"whole lines", "{\"kind\":\"call\"}\n{\"kind\":\"call\"}\n", false, 2},
		{"cut-off last append", "{\"kind\":\"call\"}\n{\"kind\":\"ca", false, 2},
		{"interrupted rewrite", "{\"kind\":\"call\"}\n", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.content != "" {
				if err := os.WriteFile(filepath.Join(dir, spoolFile), []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			tmp := filepath.Join(dir, spoolFile+".123.tmp")
			if tt.stale {
				if err := os.WriteFile(tmp, []byte("half"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s, err := openSpool(dir)
			if err != nil {
				t.Fatal(err)
			}
			if s.count() != tt.wantLine {
				t.Fatalf("pending = %d, want %d", s.count(), tt.wantLine)
			}
			c := testCall("next")
			if err := s.add(spoolEntry{Kind: kindCall, Call: &c}); err != nil {
				t.Fatal(err)
			}
			lines := readSpoolLines(t, s)
			if e, err := decodeEntry(lines[len(lines)-1]); err != nil || e.Call.ID != "next" {
				t.Fatalf("the append after recovery is damaged: %q (%v)", lines[len(lines)-1], err)
			}
			if _, err := os.Stat(tmp); !os.IsNotExist(err) {
				t.Fatalf("stale temporary file left: %v", err)
			}
		})
	}
}

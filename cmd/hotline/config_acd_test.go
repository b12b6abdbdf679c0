package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// acd.ring_all names categories of the IVR menu (S3); anything else is one
// clear line naming the key.
func TestConfigRingAll(t *testing.T) {
	tests := []struct {
		name    string
		ringAll string
		want    []string
		wantErr string
	}{
		{name: "default: one agent at a time everywhere", ringAll: "", want: nil},
		{name: "one category", ringAll: "ring_all: [inquiry]", want: []string{"inquiry"}},
		{name: "emergency too", ringAll: "ring_all: [inquiry, emergency]", want: []string{"inquiry", "emergency"}},
		{name: "unknown category", ringAll: "ring_all: [inquery]",
			wantErr: `acd.ring_all: unknown category "inquery": use inquiry, complaint, emergency, business`},
		{name: "listed twice", ringAll: "ring_all: [business, business]",
			wantErr: `acd.ring_all: category "business" listed twice`},
		{name: "not a list", ringAll: "ring_all: inquiry", wantErr: "cannot unmarshal"},
	}
	base, err := os.ReadFile(filepath.Join(repoRoot(t), "configs", "hotline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			yaml := string(base)
			if tt.ringAll != "" {
				yaml = strings.Replace(yaml, "  ring_all: []", "  "+tt.ringAll, 1)
				if yaml == string(base) {
					t.Fatal("configs/hotline.yaml has no acd.ring_all line to replace")
				}
			}
			for name, body := range map[string]string{"hotline.yaml": yaml, "calendar.yaml": calendarOpen} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := LoadConfig(filepath.Join(dir, "hotline.yaml"))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.ACD.RingAll, tt.want) {
				t.Fatalf("ring_all = %v, want %v", cfg.ACD.RingAll, tt.want)
			}
		})
	}
}

// agents.pause_reasons and agents.wrap_up_until_submitted (S12) come from
// hotline.yaml; a bad reason is one clear line naming the key.
func TestConfigAgents(t *testing.T) {
	tests := []struct {
		name     string
		agents   string
		want     []string
		wantHold bool
		wantErr  string
	}{
		{name: "the shipped file", want: []string{"break", "meal", "training", "meeting"}, wantHold: true},
		{name: "a centre's own", agents: "agents: {pause_reasons: [break, prayer], wrap_up_until_submitted: false}",
			want: []string{"break", "prayer"}},
		{name: "empty", agents: "agents: {pause_reasons: []}", wantErr: "agents.pause_reasons: list 1 to 20 reasons"},
		{name: "not a word", agents: "agents: {pause_reasons: [Coffee Break]}", wantErr: `agents.pause_reasons: "Coffee Break"`},
		{name: "the system's own", agents: "agents: {pause_reasons: [not_responding]}", wantErr: "is set by the system"},
		{name: "twice", agents: "agents: {pause_reasons: [meal, meal]}", wantErr: `"meal" listed twice`},
	}
	base, err := os.ReadFile(filepath.Join(repoRoot(t), "configs", "hotline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(base), "agents:")
	end := strings.Index(string(base), "recording:")
	if start < 0 || end < start {
		t.Fatal("configs/hotline.yaml has no agents section before recording")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			yaml := string(base)
			if tt.agents != "" {
				yaml = yaml[:start] + tt.agents + "\n\n" + yaml[end:]
			}
			for name, body := range map[string]string{"hotline.yaml": yaml, "calendar.yaml": calendarOpen} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := LoadConfig(filepath.Join(dir, "hotline.yaml"))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.Agents.PauseReasons, tt.want) || cfg.Agents.WrapUpUntilSubmitted != tt.wantHold {
				t.Fatalf("agents = %+v, want %v hold %v", cfg.Agents, tt.want, tt.wantHold)
			}
		})
	}
}

package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hotline-dev/hotline/ivr"
)

// loadShipped loads configs/hotline.yaml with old replaced by new (old must
// be in it) beside an open calendar.
func loadShipped(t *testing.T, old, new string) (Config, error) {
	t.Helper()
	base, err := os.ReadFile(filepath.Join(repoRoot(t), "configs", "hotline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(string(base), old, new, 1)
	if old != "" && yaml == string(base) {
		t.Fatalf("configs/hotline.yaml has no %q to replace", old)
	}
	dir := t.TempDir()
	for name, body := range map[string]string{"hotline.yaml": yaml, "calendar.yaml": calendarOpen} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return LoadConfig(filepath.Join(dir, "hotline.yaml"))
}

// The shipped ivr section is the code's defaults (English on key 8, for
// international numbers), and a language key that a menu uses is refused
// with one line naming the key.
func TestConfigLanguages(t *testing.T) {
	cfg, err := loadShipped(t, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.IVR.PriorityNumbers) == 0 {
		cfg.IVR.PriorityNumbers = nil // "[]" in the file
	}
	if want := ivr.DefaultConfig(); !reflect.DeepEqual(cfg.IVR, want) {
		t.Errorf("configs/hotline.yaml ivr:\n %+v\nwant the defaults\n %+v", cfg.IVR, want)
	}
	_, err = loadShipped(t, `key: "8"`, `key: "3"`)
	if err == nil || !strings.Contains(err.Error(), `other_languages[0]: key "3" is already used in menu`) {
		t.Errorf("language key 3: error %v, want it refused as a menu key", err)
	}
	_, err = loadShipped(t, `language: en`, `language: en
      langauge: fr`)
	if err == nil || !strings.Contains(err.Error(), "langauge") {
		t.Errorf("misspelt key: error %v, want the strict decoder to name it", err)
	}
}

// Every prompt the flow can play is in the library in every language it
// speaks: the home language under plain names, the others as "en/menu".
func TestPromptLibraryHasEveryLanguage(t *testing.T) {
	cfg := ivr.DefaultConfig()
	lib, err := loadPrompts(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range cfg.SpokenLanguages() {
		for _, name := range append(ivr.PromptNames(), ivr.SayDigits("0123456789")...) {
			id := name
			if lang != cfg.Language {
				id = ivr.PromptID(lang, name)
			}
			if p, ok := lib[id]; !ok || p.Frames() == 0 {
				t.Errorf("library lacks %s (%s)", id, lang)
			}
		}
	}
	if len(cfg.SpokenLanguages()) != 2 {
		t.Errorf("spoken languages %v, want zh-CN and en", cfg.SpokenLanguages())
	}
}

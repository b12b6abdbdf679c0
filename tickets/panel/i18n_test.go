package panel

import (
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hotline-dev/hotline/tickets"
	"github.com/hotline-dev/hotline/tickets/api"
)

// Both catalogues hold the same keys, none empty, and every key the
// templates and scripts use is in them.
func TestCataloguesComplete(t *testing.T) {
	cats := map[string]map[string]string{}
	for _, lang := range languages {
		c, err := loadCatalogue(lang)
		if err != nil {
			t.Fatal(err)
		}
		cats[lang] = c
	}
	zh, en := cats["zh-CN"], cats["en"]
	for k, v := range zh {
		if _, ok := en[k]; !ok {
			t.Errorf("en lacks %q", k)
		}
		if v == "" {
			t.Errorf("zh-CN %q is empty", k)
		}
	}
	for k, v := range en {
		if _, ok := zh[k]; !ok {
			t.Errorf("zh-CN lacks %q", k)
		}
		if v == "" {
			t.Errorf("en %q is empty", k)
		}
	}
	used := usedKeys(t)
	if len(used) < 100 {
		t.Fatalf("found only %d keys in use: the scan is broken", len(used))
	}
	for _, k := range used {
		if _, ok := zh[k]; !ok {
			t.Errorf("key %q is used but not in the catalogues", k)
		}
	}
	for _, d := range DefaultDashboards {
		if _, ok := zh[d.Title]; !ok {
			t.Errorf("dashboard title %q not in the catalogues", d.Title)
		}
	}
	// Every catalogue key is used somewhere (no dead strings).
	inUse := map[string]bool{}
	for _, k := range used {
		inUse[k] = true
	}
	for _, d := range DefaultDashboards {
		inUse[d.Title] = true
	}
	for code := range serverCodes(t) {
		inUse[msgPrefix+code] = true // rendered by code (common.js codeText)
	}
	for _, k := range slices.Sorted(maps.Keys(zh)) {
		if !inUse[k] {
			t.Errorf("catalogue key %q is never used", k)
		}
	}
}

// msgPrefix marks the catalogue keys of the server's message codes.
const msgPrefix = "msg."

// serverCodes are every code the server can answer with: the ticket
// store's field messages (the S13 form, ID numbers, the panel's acts) and
// the API's own; tickets.TestEveryMessageCodeIsListed and the API's tests
// check that nothing else is ever sent. Each maps to its English text.
func serverCodes(t *testing.T) map[string]string {
	t.Helper()
	codes := map[string]string{}
	for _, table := range []map[string]string{tickets.Messages(), api.Messages()} {
		for code, text := range table {
			if prev, dup := codes[code]; dup && prev != text {
				t.Errorf("code %q has two texts: %q and %q", code, prev, text)
			}
			codes[code] = text
		}
	}
	if len(codes) < 50 {
		t.Fatalf("only %d server codes: the tables are not read", len(codes))
	}
	return codes
}

// Every message code the server can send (a field to correct, a refusal)
// has its text in both catalogues, so the panel shows it in Chinese by
// default and in English by the switch; a catalogue's placeholders are
// among those of the code; no catalogue holds a code the server lacks.
func TestCataloguesHoldEveryServerCode(t *testing.T) {
	codes := serverCodes(t)
	placeholder := regexp.MustCompile(`\{[a-z_]+\}`)
	for _, lang := range languages {
		cat, err := loadCatalogue(lang)
		if err != nil {
			t.Fatal(err)
		}
		for _, code := range slices.Sorted(maps.Keys(codes)) {
			s, ok := cat[msgPrefix+code]
			if !ok {
				t.Errorf("%s lacks %q (server text %q)", lang, msgPrefix+code, codes[code])
				continue
			}
			for _, p := range placeholder.FindAllString(s, -1) {
				if !strings.Contains(codes[code], p) {
					t.Errorf("%s %q uses %s, which the server's code does not fill", lang, msgPrefix+code, p)
				}
			}
		}
		for k := range cat {
			if code, ok := strings.CutPrefix(k, msgPrefix); ok {
				if _, known := codes[code]; !known {
					t.Errorf("%s has %q, but the server has no code %q", lang, k, code)
				}
			}
		}
	}
}

var (
	templateKey = regexp.MustCompile(`\{\{t "([^"]+)"\}\}`)
	// A whole key only: t('msg.' + code) is the server's codes, checked
	// by TestCataloguesHoldEveryServerCode.
	scriptKey = regexp.MustCompile(`\bt\('([^']+)'\s*[,)]`)
)

// usedKeys scans the templates for {{t "key"}} and the scripts for t('key').
func usedKeys(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	scan := func(glob string, re *regexp.Regexp) {
		names, err := fs.Glob(files, glob)
		if err != nil || len(names) == 0 {
			t.Fatalf("no files %s: %v", glob, err)
		}
		for _, n := range names {
			b, _ := fs.ReadFile(files, n)
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				seen[m[1]] = true
			}
		}
	}
	scan("templates/*.html", templateKey)
	scan("static/*.js", scriptKey)
	return slices.Sorted(maps.Keys(seen))
}

// The CSP allows no inline code: the templates hold no inline script or
// style, no style attribute and no event-handler attribute.
func TestTemplatesHaveNoInlineCode(t *testing.T) {
	bad := []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`), // a script with a body
		regexp.MustCompile(`<style`),
		regexp.MustCompile(`\sstyle=`),
		regexp.MustCompile(`\son[a-z]+=`),
		regexp.MustCompile(`javascript:`),
	}
	names, _ := fs.Glob(files, "templates/*.html")
	for _, n := range names {
		b, _ := fs.ReadFile(files, n)
		for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAll(b, -1) {
			if !regexp.MustCompile(`\ssrc="/panel/static/`).Match(tag) {
				t.Errorf("%s: script without a file: %s", n, tag)
			}
		}
		for _, re := range bad {
			if loc := re.FindIndex(b); loc != nil {
				t.Errorf("%s: inline code %q", n, b[loc[0]:min(loc[1]+20, len(b))])
			}
		}
	}
	// The scripts never write data as HTML.
	js, _ := fs.Glob(files, "static/*.js")
	for _, n := range js {
		b, _ := fs.ReadFile(files, n)
		if loc := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(`).FindIndex(b); loc != nil {
			t.Errorf("%s: %s", n, b[loc[0]:loc[1]])
		}
	}
}

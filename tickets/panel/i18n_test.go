package panel

import (
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"testing"
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
	for _, k := range slices.Sorted(maps.Keys(zh)) {
		if !inUse[k] {
			t.Errorf("catalogue key %q is never used", k)
		}
	}
}

var (
	templateKey = regexp.MustCompile(`\{\{t "([^"]+)"\}\}`)
	scriptKey   = regexp.MustCompile(`\bt\('([^']+)'`)
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

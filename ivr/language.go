package ivr

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// LanguageOption is a language a caller may switch to (Config.OtherLanguages).
type LanguageOption struct {
	// Language names a prompt folder, ivr/prompts/<language>.
	Language string `yaml:"language"`
	// Key switches the call to Language during the greeting or a menu. The
	// greeting offers it in that language ("For English, press" "eight"),
	// so it is one digit 0-9, and no menu key: it means the same everywhere.
	Key string `yaml:"key"`
	// CallerPrefixes pick Language at once for numbers starting with one of
	// them (international callers: "00", "+"); the greeting is then said in it.
	CallerPrefixes []string `yaml:"caller_prefixes"`
}

// Ways a call's language was chosen (label "source" of language_choices_total).
const (
	languageByKey    = "key"
	languageByPrefix = "prefix"
)

// Bounds on the prefix lists: the config is input like any other.
const (
	maxPrefixes  = 64
	maxPrefixLen = 16
)

// prefixPattern is what a number prefix may hold: digits after an optional "+".
var prefixPattern = regexp.MustCompile(`^\+?[0-9]*$`)

// PromptID is the library name of prompt name in lang for a call that speaks
// another language than Config.Language, whose prompts keep their plain
// names: "en/menu".
func PromptID(lang, name string) string { return lang + "/" + name }

// SpokenLanguages lists Language and then every other language a caller may
// choose: the prompt sets the media library must hold.
func (c Config) SpokenLanguages() []string {
	out := []string{c.Language}
	for _, o := range c.OtherLanguages {
		if !slices.Contains(out, o.Language) {
			out = append(out, o.Language)
		}
	}
	return out
}

// validateLanguages checks other_languages and home_prefixes.
func (c Config) validateLanguages() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	keys := map[string]string{} // key → the menu that uses it
	for _, m := range []struct {
		field string
		items []MenuItem
	}{{"menu", c.Menu}, {"after_hours_menu", c.AfterHoursMenu}} {
		for _, it := range m.items {
			if keys[it.Key] == "" {
				keys[it.Key] = m.field
			}
		}
	}
	prefixes := map[string]string{} // prefix → the list that has it
	checkPrefixes := func(field string, list []string) {
		if len(list) > maxPrefixes {
			add("%s has %d prefixes, at most %d", field, len(list), maxPrefixes)
			return
		}
		for i, p := range list {
			f := fmt.Sprintf("%s[%d]", field, i)
			switch {
			case p == "" || len(p) > maxPrefixLen || !prefixPattern.MatchString(p):
				add("%s: prefix %q must be 1 to %d characters, digits after an optional \"+\"", f, p, maxPrefixLen)
			case prefixes[p] != "":
				add("%s: prefix %q is also in %s", f, p, prefixes[p])
			default:
				prefixes[p] = f
			}
		}
	}
	checkPrefixes("home_prefixes", c.HomePrefixes)
	seen := map[string]bool{c.Language: true}
	for i, o := range c.OtherLanguages {
		f := fmt.Sprintf("other_languages[%d]", i)
		switch {
		case !slices.Contains(Languages(), o.Language):
			add("%s: language %q has no prompts: use one of %s", f, o.Language, strings.Join(Languages(), ", "))
		case o.Language == c.Language:
			add("%s: language %q is already `language`, the one callers hear first", f, o.Language)
		case seen[o.Language]:
			add("%s: language %q is listed twice", f, o.Language)
		default:
			for _, name := range []string{c.Greeting, PromptLanguageOffer} {
				if !hasPrompt(o.Language, name) {
					add("%s: no prompt %q in ivr/prompts/%s", f, name, o.Language)
				}
			}
		}
		seen[o.Language] = true
		switch {
		case len(o.Key) != 1 || o.Key[0] < '0' || o.Key[0] > '9':
			add("%s: key %q must be one digit 0-9 (the greeting says it as a number)", f, o.Key)
		case keys[o.Key] != "":
			add("%s: key %q is already used in %s: a language key must mean the same everywhere", f, o.Key, keys[o.Key])
		default:
			keys[o.Key] = f
		}
		checkPrefixes(f+".caller_prefixes", o.CallerPrefixes)
	}
	return errs
}

// languages is a Flow's compiled language choice.
type languages struct {
	home     string          // Config.Language
	keys     map[rune]string // language key → language
	order    string          // the language keys in config order
	prefixes []langPrefix    // longest first
	offers   []string        // prompt ids the greeting appends (the other languages' offers)
}

type langPrefix struct{ prefix, lang string }

func compileLanguages(c Config) languages {
	l := languages{home: c.Language, keys: map[rune]string{}}
	for _, p := range c.HomePrefixes {
		l.prefixes = append(l.prefixes, langPrefix{p, c.Language})
	}
	for _, o := range c.OtherLanguages {
		k := rune(o.Key[0])
		l.keys[k] = o.Language
		l.order += o.Key
		l.offers = append(l.offers, PromptID(o.Language, PromptLanguageOffer), PromptID(o.Language, numPrompt(int(k-'0'))))
		for _, p := range o.CallerPrefixes {
			l.prefixes = append(l.prefixes, langPrefix{p, o.Language})
		}
	}
	slices.SortStableFunc(l.prefixes, func(a, b langPrefix) int { return len(b.prefix) - len(a.prefix) })
	return l
}

// byCaller is the language a caller number picks: that of the longest
// matching prefix, else the home language.
func (l languages) byCaller(caller string) string {
	for _, p := range l.prefixes {
		if strings.HasPrefix(caller, p.prefix) {
			return p.lang
		}
	}
	return l.home
}

// startLanguage sets the call's first language from the caller's number.
func (r *visit) startLanguage() {
	r.lang = r.f.langs.home
	if lang := r.f.langs.byCaller(r.call.Caller()); lang != r.lang {
		r.setLanguage(lang, languageByPrefix)
	}
}

func (r *visit) setLanguage(lang, source string) {
	r.lang = lang
	r.f.m.languages.WithLabelValues(lang, source).Inc()
	r.log.Info("caller language", "language", lang, "source", source)
}

// languageKeys are the keys that switch the call's language now: all of
// them while the call speaks the home language, none once switched.
func (r *visit) languageKeys() string {
	if r.lang != r.f.langs.home {
		return ""
	}
	return r.f.langs.order
}

// switchByKey switches the language if key is a language key now.
func (r *visit) switchByKey(key rune) bool {
	if key == 0 || !strings.ContainsRune(r.languageKeys(), key) {
		return false
	}
	r.setLanguage(r.f.langs.keys[key], languageByKey)
	return true
}

// ids turns prompt names into the library's names in the call's language.
func (r *visit) ids(names []string) []string {
	if r.lang == r.f.langs.home {
		return slices.Clone(names)
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = PromptID(r.lang, n)
	}
	return out
}

// greeting is the S2 greeting in the call's language; a caller still in
// the home language also hears each other language offered in its own
// words ("For English, press 8"), as Chinese hotlines do.
func (r *visit) greeting() []string {
	out := r.ids([]string{r.f.cfg.Greeting})
	if r.lang == r.f.langs.home {
		out = append(out, r.f.langs.offers...)
	}
	return out
}

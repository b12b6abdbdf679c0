package panel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"

	"github.com/hotline-dev/hotline/tickets/api"
)

// Languages of the panel; the first is the default.
var languages = []string{"zh-CN", "en"}

// langCookie holds the language the person chose (not personal data; set
// by the page's script, so no GET changes anything on the server).
const langCookie = "hotline_lang"

// pageSet is the templates of one language.
type pageSet struct {
	lang string
	tmpl *template.Template
}

// loadPages parses the templates once per language, each with a t that
// looks strings up in that language's catalogue.
func loadPages() (map[string]*pageSet, error) {
	out := map[string]*pageSet{}
	for _, lang := range languages {
		cat, err := loadCatalogue(lang)
		if err != nil {
			return nil, err
		}
		t := template.New(lang).Funcs(template.FuncMap{"t": func(key string) (string, error) {
			s, ok := cat[key]
			if !ok {
				return "", fmt.Errorf("no string %q in catalogue %s", key, lang)
			}
			return s, nil
		}})
		if t, err = t.ParseFS(files, "templates/*.html"); err != nil {
			return nil, fmt.Errorf("panel templates: %w", err)
		}
		out[lang] = &pageSet{lang: lang, tmpl: t}
	}
	return out, nil
}

// loadCatalogue reads i18n/<lang>.json: a flat map of key to string.
func loadCatalogue(lang string) (map[string]string, error) {
	b, err := fs.ReadFile(files, "i18n/"+lang+".json")
	if err != nil {
		return nil, fmt.Errorf("panel catalogue %s: %w", lang, err)
	}
	var cat map[string]string
	if err := json.Unmarshal(b, &cat); err != nil {
		return nil, fmt.Errorf("panel catalogue %s: %w", lang, err)
	}
	return cat, nil
}

// pageData is what a page template is given; the scripts read it from the
// body's data attributes (no inline script).
type pageData struct {
	Lang       string
	OtherLang  string
	Agent      string
	Role       string
	Supervisor bool
	Grafana    []link
}

// langOf is the request's language: the cookie's when it names one, else
// the default (zh-CN).
func langOf(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil {
		for _, l := range languages {
			if c.Value == l {
				return l
			}
		}
	}
	return languages[0]
}

// render executes page name into a buffer first, so a failure is a clean 500.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, d pageData) {
	d.Lang = langOf(r)
	d.OtherLang = languages[0]
	if d.Lang == languages[0] {
		d.OtherLang = languages[1]
	}
	var buf bytes.Buffer
	if err := h.pages[d.Lang].tmpl.ExecuteTemplate(&buf, name, d); err != nil {
		h.log.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// principal authenticates r; false means an answer was already written
// (503 when the session store is unreachable) or nobody signed in (then
// w is untouched and who is zero).
func (h *Handler) principal(w http.ResponseWriter, r *http.Request) (api.Principal, bool, bool) {
	who, ok, err := h.auth.Authenticate(r)
	if err != nil {
		h.log.Warn("authenticate", "err", err)
		http.Error(w, "sessions unavailable, try again", http.StatusServiceUnavailable)
		return api.Principal{}, false, true
	}
	return who, ok, false
}

// showAgentPage serves the agent's panel, or the sign-in form to a
// browser without a session: GET /panel/.
func (h *Handler) showAgentPage(w http.ResponseWriter, r *http.Request) {
	who, ok, answered := h.principal(w, r)
	switch {
	case answered:
	case !ok:
		h.render(w, r, http.StatusOK, "login.html", pageData{})
	default:
		h.render(w, r, http.StatusOK, "agent.html", pageData{Agent: who.Agent, Role: who.Role,
			Supervisor: who.Supervisor(), Grafana: h.grafana})
	}
}

// showWallPage serves the supervisors' live wall: GET /panel/wall. An
// agent gets 403; a browser without a session is sent to sign in.
func (h *Handler) showWallPage(w http.ResponseWriter, r *http.Request) {
	who, ok, answered := h.principal(w, r)
	switch {
	case answered:
	case !ok:
		http.Redirect(w, r, "/panel/", http.StatusSeeOther)
	case !who.Supervisor():
		h.render(w, r, http.StatusForbidden, "forbidden.html", pageData{Agent: who.Agent, Role: who.Role})
	default:
		h.render(w, r, http.StatusOK, "wall.html", pageData{Agent: who.Agent, Role: who.Role,
			Supervisor: true, Grafana: h.grafana})
	}
}

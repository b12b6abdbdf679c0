package panel

import (
	"embed"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hotline-dev/hotline/tickets/api"
)

//go:embed static templates i18n
var files embed.FS

// Authenticator tells who signed in on a request; *api.Sessions is one.
type Authenticator interface {
	Authenticate(r *http.Request) (api.Principal, bool, error)
}

// Dashboard is a Grafana dashboard the wall links to.
type Dashboard struct {
	UID   string
	Title string // a key of the catalogues
}

// Options are the panel's dependencies.
type Options struct {
	Auth Authenticator // required
	Hub  *Hub          // required; run it with Hub.Run
	// GrafanaURL is the base URL of Grafana for the wall's links; empty: no links.
	GrafanaURL string
	Dashboards []Dashboard
	Logger     *slog.Logger
}

// Handler serves the panel under /panel/ and redirects / to it.
type Handler struct {
	auth    Authenticator
	hub     *Hub
	pages   map[string]*pageSet
	grafana []link
	log     *slog.Logger
	mux     *http.ServeMux
}

// link is a Grafana dashboard's address with its title key.
type link struct {
	URL   string
	Title string
}

// New returns the panel's handler. It panics on a missing dependency or a
// bad embedded template or catalogue: those are build mistakes.
func New(opts Options) *Handler {
	if opts.Auth == nil || opts.Hub == nil {
		panic("panel: Auth and Hub are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	pages, err := loadPages()
	if err != nil {
		panic(err)
	}
	h := &Handler{auth: opts.Auth, hub: opts.Hub, pages: pages,
		log: opts.Logger.With("component", "tickets.panel")}
	if base := strings.TrimRight(opts.GrafanaURL, "/"); base != "" {
		for _, d := range opts.Dashboards {
			h.grafana = append(h.grafana, link{URL: base + "/d/" + url.PathEscape(d.UID), Title: d.Title})
		}
	}
	h.mux = h.routes()
	return h
}

// ValidateGrafanaURL checks the configured base URL of Grafana.
func ValidateGrafanaURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("panel.grafana_url: give an http or https URL without query, such as https://grafana.example.org")
	}
	return nil
}

func (h *Handler) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/panel/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /panel/{$}", h.showAgentPage)
	mux.HandleFunc("GET /panel/wall", h.showWallPage)
	mux.HandleFunc("GET /panel/events", h.streamEvents)
	mux.HandleFunc("GET /panel/i18n/{file}", h.serveCatalogue)
	mux.HandleFunc("GET /panel/static/{file}", h.serveStatic)
	mux.HandleFunc("GET /panel/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found", http.StatusNotFound)
	})
	return mux
}

// ServeHTTP adds the security headers to every response of the panel.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.URL.Path == "/panel/events" {
		h.mux.ServeHTTP(w, r) // a stream: its time is its life, not a figure
		return
	}
	start := time.Now()
	h.mux.ServeHTTP(w, r)
	// r.Pattern is one of the registered routes, a closed set.
	route := r.Pattern
	if route == "" {
		route = "unmatched"
	}
	h.hub.metrics.pages.WithLabelValues(route).Observe(time.Since(start).Seconds())
}

// contentSecurityPolicy allows scripts, styles and media from this origin
// only: no inline script, style or event attribute (all are files here),
// no framing (clickjacking), no plugins.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"media-src 'self'; connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; " +
	"frame-ancestors 'none'; object-src 'none'"

// DefaultDashboards are the dashboards of configs/grafana/dashboards the
// wall links to (their uids; titles are catalogue keys).
var DefaultDashboards = []Dashboard{
	{UID: "hotline-live-queues", Title: "grafana.live_queues"},
	{UID: "hotline-service-standard", Title: "grafana.service_standard"},
}

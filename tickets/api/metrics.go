package api

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus metrics of the API (namespace "hotline",
// subsystem "api"). Labels come from closed sets: the registered route
// patterns, HTTP status codes and fixed reasons.
type Metrics struct {
	requests      *prometheus.CounterVec   // by route and status code
	duration      *prometheus.HistogramVec // by route
	loginFailures *prometheus.CounterVec   // by reason
	csrfRejected  *prometheus.CounterVec   // by reason
}

// Reasons of loginFailures and csrfRejected.
const (
	reasonBadCredentials  = "bad_credentials"
	reasonRateLimited     = "rate_limited"
	reasonNoPanelPassword = "no_panel_password"
	reasonToken           = "token"
	reasonOrigin          = "origin"
)

// NewMetrics creates the metrics and registers them on reg; with a nil reg
// it registers nothing.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "api", Name: "requests_total",
			Help: "API requests by route pattern and HTTP status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "hotline", Subsystem: "api", Name: "request_duration_seconds",
			Help:    "API request latency by route pattern.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}, []string{"route"}),
		loginFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "api", Name: "login_failures_total",
			Help: "Refused sign-ins: bad_credentials, rate_limited or no_panel_password.",
		}, []string{"reason"}),
		csrfRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "api", Name: "csrf_rejections_total",
			Help: "Requests refused by the CSRF checks: token or origin.",
		}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.loginFailures, m.csrfRejected)
	}
	return m
}

func (m *Metrics) observe(route string, code int, seconds float64) {
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route).Observe(seconds)
}

package sip

import "github.com/prometheus/client_golang/prometheus"

// Results of a REGISTER (label "result" of hotline_sip_registrations_total).
const (
	regOK               = "ok"                 // binding added or refreshed (200)
	regUnregister       = "unregister"         // binding removed (200, Expires 0)
	regQuery            = "query"              // bindings listed (200, no Contact)
	regChallenged       = "challenged"         // no credentials for our realm yet (401)
	regUnauthorized     = "unauthorized"       // wrong credentials, unknown or disabled user (401)
	regStale            = "stale"              // our nonce for this source, expired or replay history forgotten (401 stale=true)
	regReplay           = "replay"             // nonce-count not increased (401)
	regBadNonce         = "bad_nonce"          // nonce made up, another source's or another node's: not counted (401 stale=true)
	regBanned           = "banned"             // source IP banned (403)
	regForbidden        = "forbidden"          // To user is not the authenticated user (403)
	regIntervalTooBrief = "interval_too_brief" // 423 with Min-Expires
	regBadRequest       = "bad_request"        // malformed Contact, Expires or credentials (400)
	regError            = "error"              // directory or Redis unavailable (503)
)

// RegistrarMetrics are the registrar's Prometheus metrics (subsystem "sip").
type RegistrarMetrics struct {
	registrations *prometheus.CounterVec
}

// NewRegistrarMetrics creates the metrics and registers them on reg (nil
// registers nothing).
func NewRegistrarMetrics(reg prometheus.Registerer) *RegistrarMetrics {
	m := &RegistrarMetrics{
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "sip", Name: "registrations_total",
			Help: "REGISTER requests by result (ok, unregister, query, challenged, unauthorized, stale, replay, bad_nonce, banned, forbidden, interval_too_brief, bad_request, error).",
		}, []string{"result"}),
	}
	for _, r := range []string{regOK, regUnregister, regQuery, regChallenged, regUnauthorized, regStale,
		regReplay, regBadNonce, regBanned, regForbidden, regIntervalTooBrief, regBadRequest, regError} {
		m.registrations.WithLabelValues(r) // export zeros, so rates work from the start
	}
	if reg != nil {
		reg.MustRegister(m.registrations)
	}
	return m
}

func (m *RegistrarMetrics) registration(result string) {
	m.registrations.WithLabelValues(result).Inc()
}

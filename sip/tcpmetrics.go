package sip

import "github.com/prometheus/client_golang/prometheus"

// ConnMetrics are the SIP stream listeners' metrics (TCP and TLS), labelled by
// transport ("tcp", "tls").
type ConnMetrics struct {
	open         *prometheus.GaugeVec
	connections  *prometheus.CounterVec
	closedBy     *prometheus.CounterVec
	acceptErrors *prometheus.CounterVec
}

// NewConnMetrics creates the metrics and registers them on reg (nil registers nothing).
func NewConnMetrics(reg prometheus.Registerer) *ConnMetrics {
	m := &ConnMetrics{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "hotline", Subsystem: "sip", Name: "connections_open",
			Help: "Open SIP stream connections accepted by this node.",
		}, []string{"transport"}),
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "sip", Name: "connections_total",
			Help: "Incoming SIP stream connections by result (accepted, refused_source_cap, refused_global_cap).",
		}, []string{"transport", "result"}),
		closedBy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "sip", Name: "connections_closed_total",
			Help: "SIP stream connections closed by the server, by reason (read_timeout, idle_timeout, bad_framing, too_large).",
		}, []string{"transport", "reason"}),
		acceptErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "sip", Name: "accept_errors_total",
			Help: "Failed accepts on the SIP stream listeners (retried with backoff).",
		}, []string{"transport"}),
	}
	for _, tr := range []string{"tcp", "tls"} {
		m.open.WithLabelValues(tr)
		m.acceptErrors.WithLabelValues(tr)
		for _, r := range []string{connAccepted, connRefusedSource, connRefusedGlobal} {
			m.connections.WithLabelValues(tr, r)
		}
		for _, r := range []string{closeReadTimeout, closeIdleTimeout, closeBadFraming, closeTooLarge} {
			m.closedBy.WithLabelValues(tr, r)
		}
	}
	if reg != nil {
		reg.MustRegister(m.open, m.connections, m.closedBy, m.acceptErrors)
	}
	return m
}

func (m *ConnMetrics) opened(transport string, delta float64) {
	m.open.WithLabelValues(transport).Add(delta)
}

func (m *ConnMetrics) connection(transport, result string) {
	m.connections.WithLabelValues(transport, result).Inc()
}

func (m *ConnMetrics) closed(transport, reason string) {
	m.closedBy.WithLabelValues(transport, reason).Inc()
}

func (m *ConnMetrics) acceptFailed(transport string) { m.acceptErrors.WithLabelValues(transport).Inc() }

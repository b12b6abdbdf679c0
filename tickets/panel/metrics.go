package panel

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the panel's live-update figures.
type Metrics struct {
	clients prometheus.Gauge
	sent    prometheus.Counter
	dropped prometheus.Counter
	fanout  prometheus.Histogram
}

// NewMetrics registers the panel's metrics on reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		clients: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "hotline", Subsystem: "panel",
			Name: "clients", Help: "Open live-update streams (panels and walls) on this node."}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "hotline", Subsystem: "panel",
			Name: "events_sent_total", Help: "Events queued to open panels."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "hotline", Subsystem: "panel",
			Name: "slow_clients_dropped_total", Help: "Panels dropped because they did not read their events in time."}),
		fanout: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "hotline", Subsystem: "panel",
			Name: "fanout_seconds", Help: "Time to hand one event to every panel that may see it.",
			Buckets: []float64{0.00001, 0.0001, 0.001, 0.01, 0.1}}),
	}
	if reg != nil {
		reg.MustRegister(m.clients, m.sent, m.dropped, m.fanout)
	}
	return m
}

package panel

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the panel's live-update figures.
type Metrics struct {
	clients prometheus.Gauge
	sent    prometheus.Counter
	dropped prometheus.Counter
	fanout  prometheus.Histogram
	delay   prometheus.Histogram
	pages   *prometheus.HistogramVec
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
		// The 0.5 s boundary is the panels' target: a state change visible
		// within half a second.
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "hotline", Subsystem: "panel",
			Name: "event_delay_seconds", Help: "From an event's time in Redis to its write to a panel's connection.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}}),
		pages: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "hotline", Subsystem: "panel",
			Name: "request_duration_seconds", Help: "Time to serve the panel's pages and files, by route.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}}, []string{"route"}),
	}
	if reg != nil {
		reg.MustRegister(m.clients, m.sent, m.dropped, m.fanout, m.delay, m.pages)
	}
	return m
}

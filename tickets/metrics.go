package tickets

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the Prometheus metrics of package tickets (namespace "hotline",
// subsystem "tickets"). Labels come from the closed set of record kinds.
type Metrics struct {
	written     *prometheus.CounterVec
	spooled     *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	writeErrors *prometheus.CounterVec
	pending     prometheus.Gauge
}

// NewMetrics creates the metrics and registers them on reg; with a nil reg
// it registers nothing (for tests and tools).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hotline", Subsystem: "tickets", Name: name, Help: help,
		}, []string{"kind"})
	}
	m := &Metrics{
		written:     counter("records_written_total", "Records (call, callback) written to PostgreSQL."),
		spooled:     counter("records_spooled_total", "Records put in the on-disk spool because PostgreSQL could not take them."),
		rejected:    counter("records_rejected_total", "Records PostgreSQL refused for good, kept in the spool's rejected file."),
		writeErrors: counter("write_errors_total", "Failed attempts to write a record to PostgreSQL."),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "hotline", Subsystem: "tickets", Name: "records_pending",
			Help: "Records in the spool waiting for PostgreSQL.",
		}),
	}
	for _, kind := range []string{kindCall, kindCallback} {
		m.written.WithLabelValues(kind)
		m.spooled.WithLabelValues(kind)
		m.rejected.WithLabelValues(kind)
		m.writeErrors.WithLabelValues(kind)
	}
	if reg != nil {
		reg.MustRegister(m.written, m.spooled, m.rejected, m.writeErrors, m.pending)
	}
	return m
}

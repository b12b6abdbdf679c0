package main

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// nodeCollector exports the node's own state for the supervisors' node
// health panel and the "node not ready" alert: build, draining, readiness
// and the dependencies as the last background check saw them (a scrape
// never pings PostgreSQL or Redis itself).
type nodeCollector struct {
	h                            *health
	build, up, draining, readyDs *prometheus.Desc
	version, revision            string
}

func newNodeCollector(h *health) *nodeCollector {
	version, revision := buildVersion()
	return &nodeCollector{h: h, version: version, revision: revision,
		build: prometheus.NewDesc("hotline_build_info",
			"Always 1; the labels name the running build.", []string{"version", "revision", "goversion"}, nil),
		up: prometheus.NewDesc("hotline_node_dependency_up",
			"1 when the node's last check reached the dependency (postgresql, redis), else 0.", []string{"dependency"}, nil),
		draining: prometheus.NewDesc("hotline_node_draining",
			"1 while the node drains (takes no new calls), else 0.", nil, nil),
		readyDs: prometheus.NewDesc("hotline_node_ready",
			"1 when the node takes calls (/readyz answers 200), else 0.", nil, nil),
	}
}

// buildVersion is the main module's version and VCS revision, "unknown"
// when the binary was built without them.
func buildVersion() (version, revision string) {
	version, revision = "unknown", "unknown"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	if v := bi.Main.Version; v != "" {
		version = v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && s.Value != "" {
			revision = s.Value
		}
	}
	return
}

// Describe implements prometheus.Collector.
func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.build, c.up, c.draining, c.readyDs} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.h.readiness()
	bit := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	ch <- prometheus.MustNewConstMetric(c.build, prometheus.GaugeValue, 1, c.version, c.revision, runtime.Version())
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, bit(r.PostgreSQL == stateOK), "postgresql")
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, bit(r.Redis == stateOK), "redis")
	ch <- prometheus.MustNewConstMetric(c.draining, prometheus.GaugeValue, bit(r.Draining))
	ch <- prometheus.MustNewConstMetric(c.readyDs, prometheus.GaugeValue, bit(r.Ready))
}

package sip

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// GuardCollector exports the UDP guard's counters on each scrape
// (hotline_sip_guard_datagrams_total); register it with the server's
// other metrics.
func (s *Server) GuardCollector() prometheus.Collector { return newGuardCollector(s) }

// guardCollector exports the SIP UDP guard's counters on scrape.
type guardCollector struct {
	srv  *Server
	desc *prometheus.Desc
}

func newGuardCollector(s *Server) *guardCollector {
	return &guardCollector{srv: s, desc: prometheus.NewDesc("hotline_sip_guard_datagrams_total",
		"UDP datagrams seen by the SIP guard, by what happened to them.", []string{"result"}, nil)}
}

func (g *guardCollector) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *guardCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range g.srv.GuardStats() {
		for result, n := range map[string]uint64{
			"received": st.Received.Load(), "delivered": st.Delivered.Load(), "keepalive": st.KeepAlives.Load(),
			"oversized": st.Oversized.Load(), "rate_limited": st.RateLimited.Load(), "banned": st.Banned.Load(),
			"dropped": st.Dropped.Load(),
		} {
			ch <- prometheus.MustNewConstMetric(g.desc, prometheus.CounterValue, float64(n), result)
		}
		for _, status := range RejectedStatuses() {
			ch <- prometheus.MustNewConstMetric(g.desc, prometheus.CounterValue, float64(st.Rejected(status)),
				"rejected_"+strconv.Itoa(status))
		}
	}
}

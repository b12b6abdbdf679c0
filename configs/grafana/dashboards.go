// Package grafana builds the supervisors' two Grafana dashboards as code
// (grafana-foundation-sdk). `go generate ./configs/grafana` writes them to
// dashboards/*.json, which Grafana's provisioning loads; the JSON is
// committed and a test fails when it differs from what this code builds.
package grafana

//lint:file-ignore SA1019 the classic dashboard schema is what Grafana's file provisioning loads in every release a centre runs; the v2 schema needs Grafana 12 with a feature flag

//go:generate go run ./gen

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/gauge"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// DatasourceUID is the provisioned Prometheus datasource's fixed uid
// (provisioning/datasources/hotline.yaml): the dashboards name it, so they
// import with no ${DS_…} placeholder to fill in.
const DatasourceUID = "hotline-prometheus"

// File is one generated dashboard: its file name under dashboards/ and JSON.
type File struct {
	Name string
	JSON []byte
}

// Files builds both dashboards.
func Files() ([]File, error) {
	var out []File
	for _, d := range []struct {
		name string
		b    *dashboard.DashboardBuilder
	}{{"live-queues.json", liveQueues()}, {"service-standard.json", serviceStandard()}} {
		built, err := d.b.Build()
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", d.name, err)
		}
		numberPanels(&built)
		b, err := json.MarshalIndent(built, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", d.name, err)
		}
		out = append(out, File{Name: d.name, JSON: append(b, '\n')})
	}
	return out, nil
}

// numberPanels gives rows and panels distinct ids in layout order, so links
// and Grafana's panel views stay stable across regenerations.
func numberPanels(d *dashboard.Dashboard) {
	for i := range d.Panels {
		id := uint32(i + 1)
		switch p := d.Panels[i]; {
		case p.Panel != nil:
			p.Panel.Id = cog.ToPtr(id)
		case p.RowPanel != nil:
			p.RowPanel.Id = id
		}
	}
}

func datasource() dashboard.DataSourceRef {
	return dashboard.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr(DatasourceUID)}
}

// query is an instant query (the figure now), or a range query for a graph.
func query(ref, expr, legend string, instant bool) *prometheus.DataqueryBuilder {
	q := prometheus.NewDataqueryBuilder().RefId(ref).Expr(expr).LegendFormat(legend).Datasource(datasource())
	if instant {
		return q.Instant()
	}
	return q.Range()
}

// steps are a panel's colour thresholds: green below the first value.
func steps(values ...float64) *dashboard.ThresholdsConfigBuilder {
	colors := []string{"green", "orange", "red"}
	s := []dashboard.Threshold{{Color: colors[0]}}
	for i, v := range values {
		s = append(s, dashboard.Threshold{Value: cog.ToPtr(v), Color: colors[min(i+1, len(colors)-1)]})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(s)
}

// rising are thresholds for a figure that is good when high (service level).
func rising(bad, ok float64) *dashboard.ThresholdsConfigBuilder {
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps([]dashboard.Threshold{
		{Color: "red"}, {Value: cog.ToPtr(bad), Color: "orange"}, {Value: cog.ToPtr(ok), Color: "green"}})
}

func lastValue() *common.ReduceDataOptionsBuilder {
	return common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(false)
}

func statPanel(title, unit string, w, h uint32, th *dashboard.ThresholdsConfigBuilder, qs ...*prometheus.DataqueryBuilder) *stat.PanelBuilder {
	p := stat.NewPanelBuilder().Title(title).Unit(unit).Span(w).Height(h).Datasource(datasource()).
		ReduceOptions(lastValue()).ColorMode(common.BigValueColorModeBackground).GraphMode(common.BigValueGraphModeNone).
		Thresholds(th)
	if unit == "short" {
		p.Decimals(0) // counts of callers, agents and tickets
	}
	for _, q := range qs {
		p.WithTarget(q)
	}
	return p
}

func graph(title, unit string, w, h uint32, qs ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().Title(title).Unit(unit).Span(w).Height(h).Datasource(datasource()).Min(0).
		FillOpacity(10).LineWidth(2)
	for _, q := range qs {
		p.WithTarget(q)
	}
	return p
}

func gaugePanel(title string, w, h uint32, q *prometheus.DataqueryBuilder) *gauge.PanelBuilder {
	return gauge.NewPanelBuilder().Title(title).Unit("percentunit").Min(0).Max(1).Span(w).Height(h).
		Datasource(datasource()).ReduceOptions(lastValue()).Thresholds(rising(0.7, 0.8)).WithTarget(q)
}

func board(uid, title, from, refresh string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).Uid(uid).Tags([]string{"hotline"}).
		Refresh(refresh).Time(from, "now").Timezone(common.TimeZoneBrowser).Editable()
}

package grafana

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The committed JSON is what the code builds: run `go generate
// ./configs/grafana` after changing a dashboard.
func TestCommittedDashboardsAreGenerated(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("%d dashboards, want 2", len(files))
	}
	for _, f := range files {
		committed, err := os.ReadFile(filepath.Join("dashboards", f.Name))
		if err != nil {
			t.Fatalf("%v (run go generate ./configs/grafana)", err)
		}
		if !bytes.Equal(committed, f.JSON) {
			t.Errorf("dashboards/%s differs from the generator's output: run go generate ./configs/grafana", f.Name)
		}
	}
}

// Each dashboard has its fixed uid and title, every query names the
// provisioned datasource, and nothing asks for a ${DS_…} input.
func TestDashboardsUseTheProvisionedDatasource(t *testing.T) {
	want := map[string]string{"live-queues.json": "Hotline — live queues", "service-standard.json": "Hotline — service standard"}
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.Contains(string(f.JSON), "${DS_") {
			t.Errorf("%s has a ${DS_…} placeholder", f.Name)
		}
		var d struct {
			UID    string `json:"uid"`
			Title  string `json:"title"`
			Panels []struct {
				Type    string `json:"type"`
				Targets []struct {
					Expr       string `json:"expr"`
					Datasource struct {
						UID string `json:"uid"`
					} `json:"datasource"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(f.JSON, &d); err != nil {
			t.Fatal(err)
		}
		if d.Title != want[f.Name] || !strings.HasPrefix(d.UID, "hotline-") {
			t.Errorf("%s: uid %q title %q", f.Name, d.UID, d.Title)
		}
		n := 0
		for _, p := range d.Panels {
			for _, q := range p.Targets {
				n++
				if q.Datasource.UID != DatasourceUID || q.Expr == "" {
					t.Errorf("%s: query %q on datasource %q", f.Name, q.Expr, q.Datasource.UID)
				}
			}
		}
		if n < 10 {
			t.Errorf("%s: %d queries", f.Name, n)
		}
	}
}

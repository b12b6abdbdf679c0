package grafana

import (
	"os"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"
)

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// The provisioned datasource has the uid the dashboards name, and the
// compose stack mounts the provisioning, the dashboards where the provider
// reads them and the Prometheus files.
func TestProvisioningMatchesDashboardsAndCompose(t *testing.T) {
	var ds struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
		} `yaml:"datasources"`
	}
	readYAML(t, "provisioning/datasources/hotline.yaml", &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].UID != DatasourceUID || ds.Datasources[0].Type != "prometheus" {
		t.Fatalf("datasources = %+v, want one prometheus with uid %s", ds.Datasources, DatasourceUID)
	}
	var dash struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, "provisioning/dashboards/hotline.yaml", &dash)
	var compose struct {
		Services map[string]struct {
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	readYAML(t, "../compose.yaml", &compose)
	wantMounts := map[string][]string{
		"grafana": {"./grafana/provisioning:/etc/grafana/provisioning:ro",
			"./grafana/dashboards:" + dash.Providers[0].Options.Path + ":ro"},
		"prometheus": {"./prometheus:/etc/prometheus:ro"},
	}
	for svc, mounts := range wantMounts {
		for _, m := range mounts {
			if !slices.Contains(compose.Services[svc].Volumes, m) {
				t.Errorf("compose service %s does not mount %s (has %v)", svc, m, compose.Services[svc].Volumes)
			}
		}
	}
	for _, svc := range []string{"postgres", "redis", "hotline", "prometheus", "grafana"} {
		if _, ok := compose.Services[svc]; !ok {
			t.Errorf("compose has no %s", svc)
		}
	}
}

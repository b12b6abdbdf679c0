package configs

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"
)

// promtool runs Debian's promtool on the shipped Prometheus files.
func promtool(t *testing.T, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil && testing.Short() {
		t.Skip("promtool is not installed (the fast lane does not need it)")
	}
	if err != nil {
		t.Fatal("promtool is not installed: run scripts/services.sh tools (make test does)")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = "prometheus"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool %v: %v\n%s", args, err, out)
	}
}

func TestPrometheusRulesCheck(t *testing.T) {
	promtool(t, "check", "rules", "hotline.rules.yml")
	promtool(t, "check", "config", "prometheus.yml")
}

func TestPrometheusRulesUnitTests(t *testing.T) {
	promtool(t, "test", "rules", "hotline.rules.test.yml")
}

// Every alert has a unit test that expects it to fire.
func TestEveryAlertHasAUnitTest(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	var tests struct {
		Tests []struct {
			Alerts []struct {
				Name string `yaml:"alertname"`
				Exp  []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, filepath.Join("prometheus", "hotline.rules.yml"), &rules)
	readYAML(t, filepath.Join("prometheus", "hotline.rules.test.yml"), &tests)
	var fired []string
	for _, tc := range tests.Tests {
		for _, a := range tc.Alerts {
			if len(a.Exp) > 0 {
				fired = append(fired, a.Name)
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if !slices.Contains(fired, r.Alert) {
				t.Errorf("alert %s has no unit test in which it fires", r.Alert)
			}
		}
	}
	if n < 8 {
		t.Fatalf("%d alerts in hotline.rules.yml, want the 8 of the supervisor view", n)
	}
}

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

// Command gen writes the dashboards built by package grafana to
// configs/grafana/dashboards (run by `go generate ./configs/grafana`).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hotline-dev/hotline/configs/grafana"
)

func main() {
	files, err := grafana.Files()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join("dashboards", f.Name), f.JSON, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
}

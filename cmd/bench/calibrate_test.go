package main

import (
	"os"
	"strings"
	"testing"
)

func TestCalibration(t *testing.T) {
	dir := t.TempDir()
	c, err := measureCalibration(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Each probe did its work: a UDP round on loopback and a file creation
	// cost CPU, and none takes a millisecond-scale share of an idle core.
	if c.UDPPacketUS <= 0 || c.UDPPacketUS > 1000 {
		t.Errorf("UDP send+receive %.2f µs, want within (0, 1000]", c.UDPPacketUS)
	}
	if c.FileCreateUS <= 0 || c.FileCreateUS > 100000 {
		t.Errorf("file create %.1f µs, want within (0, 100000]", c.FileCreateUS)
	}
	if c.SortMS <= 0 {
		t.Errorf("sort %.2f ms, want > 0", c.SortMS)
	}
	// The probe's files are gone.
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("calibration left %d entries in %s", len(left), dir)
	}
	if s := c.String(); !strings.Contains(s, "µs") {
		t.Errorf("String() = %q", s)
	}
	t.Logf("%s", c)
}

package grafana

import (
	"image/color"
	"math"
	"testing"
)

// A stat tile takes its threshold's colour; a query without data is grey.
func TestRenderColoursByThreshold(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	img, err := Render(files[0].JSON, func(expr string, graph bool) []Series {
		switch expr {
		case `max by (category) (hotline_agents_queue_length)`: // first stat: red from 10
			return []Series{{Labels: map[string]string{"category": "inquiry"}, Value: 12}}
		case `max by (category) (hotline_agents_queue_oldest_wait_seconds)`:
			return []Series{{Labels: map[string]string{"category": "inquiry"}, Value: math.NaN()}}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The first panel sits at grid (0, 1); its tile starts below the title.
	x, y := margin+300, 50+rowHeight+70
	if got := img.RGBAAt(x, y); got != named["red"] {
		t.Errorf("waiting callers tile at (%d,%d) = %v, want red", x, y, got)
	}
	x = margin + 8*colWidth + 300
	if got := img.RGBAAt(x, y); got != colNoData {
		t.Errorf("oldest wait tile without data = %v, want %v", got, colNoData)
	}
	if img.Bounds().Dx() != 24*colWidth+2*margin || img.RGBAAt(1, 1) != (color.RGBA{0x11, 0x12, 0x17, 0xff}) {
		t.Errorf("picture %v, background %v", img.Bounds(), img.RGBAAt(1, 1))
	}
}

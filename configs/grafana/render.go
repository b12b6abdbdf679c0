package grafana

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// Results answers a panel query: its value now, or for a graph its samples.
type Results func(expr string, graph bool) []Series

// Series is one result of a panel query: its labels, its value now and,
// for a graph, its samples.
type Series struct {
	Labels map[string]string
	Value  float64
	Points []Point
}

// Point is one sample of a range query.
type Point struct {
	T time.Time
	V float64
}

// Render draws a dashboard's panels with the given query results, in the
// dashboard's grid and Grafana's dark colours, for documentation where
// Grafana itself does not run. Graph panels draw their samples, stat and
// gauge panels their values coloured by the panel's thresholds.
func Render(dashboardJSON []byte, results Results) (*image.RGBA, error) {
	var d renderDashboard
	if err := json.Unmarshal(dashboardJSON, &d); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	fonts, err := loadFonts()
	if err != nil {
		return nil, err
	}
	rows := uint32(0)
	for _, p := range d.Panels {
		rows = max(rows, p.GridPos.Y+p.GridPos.H)
	}
	const top = 50
	img := image.NewRGBA(image.Rect(0, 0, 24*colWidth+2*margin, top+int(rows)*rowHeight+margin))
	fill(img, img.Bounds(), colBackground)
	text(img, fonts.title, margin, 34, colText, d.Title)
	for _, p := range d.Panels {
		r := image.Rect(margin+int(p.GridPos.X)*colWidth, top+int(p.GridPos.Y)*rowHeight,
			margin+int(p.GridPos.X+p.GridPos.W)*colWidth-gap, top+int(p.GridPos.Y+p.GridPos.H)*rowHeight-gap)
		if p.Type == "row" {
			text(img, fonts.label, r.Min.X, r.Max.Y-6, colText, p.Title)
			continue
		}
		var series []labelled
		for _, q := range p.Targets {
			for _, s := range results(q.Expr, p.Type == "timeseries") {
				series = append(series, labelled{legend(q.LegendFormat, s.Labels), s})
			}
		}
		order(series)
		fill(img, r, colPanel)
		text(img, fonts.label, r.Min.X+8, r.Min.Y+20, colText, p.Title)
		body := image.Rect(r.Min.X+6, r.Min.Y+28, r.Max.X-6, r.Max.Y-6)
		if p.Type == "timeseries" {
			drawGraph(img, fonts, body, series)
		} else {
			drawValues(img, fonts, body, p, series)
		}
	}
	return img, nil
}

const (
	colWidth  = 66
	rowHeight = 30
	margin    = 16
	gap       = 6
)

var (
	colBackground = color.RGBA{0x11, 0x12, 0x17, 0xff}
	colPanel      = color.RGBA{0x18, 0x1b, 0x1f, 0xff}
	colText       = color.RGBA{0xcc, 0xcc, 0xdc, 0xff}
	colDim        = color.RGBA{0x8e, 0x8e, 0x9e, 0xff}
	colGrid       = color.RGBA{0x2c, 0x30, 0x36, 0xff}
	colNoData     = color.RGBA{0x3a, 0x3d, 0x44, 0xff}
	named         = map[string]color.RGBA{"green": {0x37, 0x87, 0x2d, 0xff}, "orange": {0xc4, 0x64, 0x0a, 0xff},
		"red": {0xc4, 0x16, 0x2a, 0xff}}
	lineColours = []color.RGBA{{0x73, 0xbf, 0x69, 0xff}, {0xf2, 0xcc, 0x0c, 0xff}, {0x8a, 0xb8, 0xff, 0xff},
		{0xff, 0x78, 0x0a, 0xff}, {0xf2, 0x49, 0x5c, 0xff}, {0x56, 0x94, 0xf2, 0xff}}
)

type renderDashboard struct {
	Title  string        `json:"title"`
	Panels []renderPanel `json:"panels"`
}

type renderPanel struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos struct {
		X, Y, W, H uint32
	} `json:"gridPos"`
	Targets []struct {
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
	} `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit       string   `json:"unit"`
			Decimals   *float64 `json:"decimals"`
			Thresholds struct {
				Steps []struct {
					Value *float64 `json:"value"`
					Color string   `json:"color"`
				} `json:"steps"`
			} `json:"thresholds"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

type labelled struct {
	name string
	s    Series
}

type faces struct {
	title, label, small font.Face
	values              []font.Face // largest first
}

func loadFonts() (faces, error) {
	reg, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return faces{}, err
	}
	bold, err := opentype.Parse(gobold.TTF)
	if err != nil {
		return faces{}, err
	}
	face := func(f *opentype.Font, size float64) font.Face {
		fc, _ := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
		return fc
	}
	return faces{title: face(bold, 24), label: face(bold, 15), small: face(reg, 13),
		values: []font.Face{face(bold, 28), face(bold, 20), face(bold, 14)}}, nil
}

// legend fills a legend format's {{label}} fields; a label the query does
// not return is left out.
func legend(format string, labels map[string]string) string {
	out := format
	for k, v := range labels {
		out = strings.ReplaceAll(out, "{{"+k+"}}", v)
	}
	for {
		i := strings.Index(out, "{{")
		j := strings.Index(out, "}}")
		if i < 0 || j < i {
			return strings.TrimSpace(out)
		}
		out = out[:i] + out[j+2:]
	}
}

// order sorts series by name, histogram buckets by their bound.
func order(series []labelled) {
	sort.SliceStable(series, func(i, j int) bool {
		a, aok := bound(series[i].s.Labels)
		b, bok := bound(series[j].s.Labels)
		if aok && bok {
			return a < b
		}
		return series[i].name < series[j].name
	})
}

func bound(labels map[string]string) (float64, bool) {
	le, ok := labels["le"]
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(le, 64)
	return v, err == nil
}

// format writes v in the panel's unit and decimals, as Grafana would.
func (p renderPanel) format(v float64) string {
	if math.IsNaN(v) {
		return "No data"
	}
	if d := p.FieldConfig.Defaults.Decimals; d != nil && p.FieldConfig.Defaults.Unit == "short" {
		return fmt.Sprintf("%.*f", int(*d), v)
	}
	switch p.FieldConfig.Defaults.Unit {
	case "percentunit":
		return trim(fmt.Sprintf("%.1f", v*100)) + "%"
	case "s":
		if v >= 120 {
			return trim(fmt.Sprintf("%.1f", v/60)) + " min"
		}
		return trim(fmt.Sprintf("%.1f", v)) + " s"
	case "bool_yes_no":
		if v != 0 {
			return "Yes"
		}
		return "No"
	case "dateTimeAsIsoNoDateIfToday":
		if v == 0 {
			return "none listed"
		}
		return time.UnixMilli(int64(v)).UTC().Format(time.DateOnly)
	}
	return trim(fmt.Sprintf("%.2f", v))
}

func trim(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// thresholdColour is the colour of the last step at or below v.
func (p renderPanel) thresholdColour(v float64) color.RGBA {
	if math.IsNaN(v) {
		return colNoData
	}
	c := colNoData
	for _, s := range p.FieldConfig.Defaults.Thresholds.Steps {
		if s.Value == nil || v >= *s.Value {
			c = named[s.Color]
		}
	}
	return c
}

func drawValues(img *image.RGBA, f faces, r image.Rectangle, p renderPanel, series []labelled) {
	if len(series) == 0 {
		text(img, f.values[0], r.Min.X+8, r.Min.Y+r.Dy()/2+10, colDim, "No data")
		return
	}
	w := r.Dx() / len(series)
	for i, s := range series {
		tile := image.Rect(r.Min.X+i*w, r.Min.Y, r.Min.X+(i+1)*w-4, r.Max.Y)
		fill(img, tile, p.thresholdColour(s.s.Value))
		if p.Type == "gauge" && !math.IsNaN(s.s.Value) {
			bar := tile
			bar.Min.Y = bar.Max.Y - 8
			fill(img, bar, colGrid)
			bar.Max.X = bar.Min.X + int(float64(bar.Dx())*math.Min(math.Max(s.s.Value, 0), 1))
			fill(img, bar, colText)
		}
		text(img, f.small, tile.Min.X+6, tile.Min.Y+15, colText, s.name)
		v := p.format(s.s.Value)
		face := f.values[len(f.values)-1]
		for _, fc := range f.values {
			if font.MeasureString(fc, v).Ceil() <= tile.Dx()-12 {
				face = fc
				break
			}
		}
		text(img, face, tile.Min.X+6, tile.Max.Y-14, color.RGBA{0xff, 0xff, 0xff, 0xff}, v)
	}
}

func drawGraph(img *image.RGBA, f faces, r image.Rectangle, series []labelled) {
	plot := image.Rect(r.Min.X+40, r.Min.Y+4, r.Max.X-4, r.Max.Y-22)
	var t0, t1 time.Time
	top := 1.0
	for _, s := range series {
		for _, p := range s.s.Points {
			if t0.IsZero() || p.T.Before(t0) {
				t0 = p.T
			}
			if p.T.After(t1) {
				t1 = p.T
			}
			if !math.IsNaN(p.V) {
				top = math.Max(top, p.V)
			}
		}
	}
	top = math.Ceil(top * 1.1)
	for i := 0; i <= 4; i++ {
		y := plot.Max.Y - i*plot.Dy()/4
		fill(img, image.Rect(plot.Min.X, y, plot.Max.X, y+1), colGrid)
		text(img, f.small, r.Min.X, y+4, colDim, trim(fmt.Sprintf("%.1f", top*float64(i)/4)))
	}
	span := t1.Sub(t0).Seconds()
	if span <= 0 {
		span = 1
	}
	x := 0
	for i, s := range series {
		c := lineColours[i%len(lineColours)]
		var px, py int
		for j, p := range s.s.Points {
			nx := plot.Min.X + int(p.T.Sub(t0).Seconds()/span*float64(plot.Dx()))
			ny := plot.Max.Y - int(p.V/top*float64(plot.Dy()))
			if j > 0 {
				line(img, px, py, nx, ny, c)
			}
			px, py = nx, ny
		}
		fill(img, image.Rect(plot.Min.X+x, r.Max.Y-12, plot.Min.X+x+10, r.Max.Y-4), c)
		text(img, f.small, plot.Min.X+x+14, r.Max.Y-3, colText, s.name)
		x += 24 + font.MeasureString(f.small, s.name).Ceil()
	}
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

func text(img *image.RGBA, face font.Face, x, y int, c color.Color, s string) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: face, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// line draws a 2-pixel line from (x0, y0) to (x1, y1).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	steps := max(abs(x1-x0), abs(y1-y0), 1)
	for i := 0; i <= steps; i++ {
		x := x0 + (x1-x0)*i/steps
		y := y0 + (y1-y0)*i/steps
		fill(img, image.Rect(x, y-1, x+2, y+1), c)
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

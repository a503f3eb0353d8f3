package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// writePlot draws requests/s per variant: a bar for the median of rounds,
// HS256 and ES256 in two groups, and a dot for each round.
func writePlot(path string, r *results) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("tokenguard GET /v1/verify: requests/s, %d CPUs, wrk -t%d -c%d, %d × %.0f s rounds interleaved",
		r.Machine.CPUs, r.Settings.Threads, r.Settings.Connections, r.Settings.Rounds, r.Settings.DurationSeconds)
	p.Y.Label.Text = "requests/s (bar: median of rounds, dots: each round)"
	p.Add(plotter.NewGrid())

	groups := []struct {
		alg   string
		color color.RGBA
	}{
		{"HS256", color.RGBA{R: 0x4c, G: 0x72, B: 0xb0, A: 0xff}},
		{"ES256", color.RGBA{R: 0xdd, G: 0x84, B: 0x52, A: 0xff}},
	}
	var names []string
	var dots plotter.XYs
	var tops plotter.XYs
	var topLabels []string
	highest := 0.0
	for _, g := range groups {
		var values plotter.Values
		xmin := float64(len(names))
		for _, v := range r.Throughput {
			if v.Alg != g.alg {
				continue
			}
			x := float64(len(names))
			name := g.alg + "\n" + v.Mode
			if v.CacheSize > 0 {
				name += "+cache"
			}
			if v.Mode == referenceMode {
				name += "\n(signatures only)"
			}
			names = append(names, name)
			values = append(values, v.RequestsPerSec)
			label := "not measured"
			if v.GoodRounds > 0 {
				label = fmt.Sprintf("%.1fk", v.RequestsPerSec/1000)
			}
			tops = append(tops, plotter.XY{X: x, Y: v.RequestsPerSec})
			topLabels = append(topLabels, label)
			for i, rr := range v.Rounds {
				if rr.Error == "" {
					// Spread the dots a little so that equal rounds stay visible.
					dots = append(dots, plotter.XY{X: x + 0.08*float64(i-(len(v.Rounds)-1)/2), Y: rr.RequestsPerSec})
					highest = math.Max(highest, rr.RequestsPerSec)
				}
			}
		}
		if len(values) == 0 {
			continue
		}
		bars, err := plotter.NewBarChart(values, vg.Points(36))
		if err != nil {
			return err
		}
		bars.XMin = xmin
		bars.Color = g.color
		bars.LineStyle.Width = 0
		p.Add(bars)
		names = append(names, "") // a gap between the groups
	}
	if len(names) == 0 {
		return nil
	}
	p.NominalX(names[:len(names)-1]...)
	if len(dots) > 0 {
		sc, err := plotter.NewScatter(dots)
		if err != nil {
			return err
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: color.Black, Radius: vg.Points(2), Shape: draw.CircleGlyph{}}
		p.Add(sc)
	}
	labels, err := plotter.NewLabels(plotter.XYLabels{XYs: tops, Labels: topLabels})
	if err != nil {
		return err
	}
	for i := range labels.TextStyle {
		labels.TextStyle[i].XAlign = text.XCenter
	}
	labels.Offset = vg.Point{Y: vg.Points(6)}
	p.Add(labels)

	p.Y.Min, p.Y.Max = 0, math.Max(highest*1.15, 1)
	p.Y.Tick.Marker = plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		step := niceStep(hi / 6)
		var ts []plot.Tick
		for v := 0.0; v <= hi; v += step {
			ts = append(ts, plot.Tick{Value: v, Label: thousands(v)})
		}
		return ts
	})
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return p.Save(10*vg.Inch, 5.5*vg.Inch, path)
}

// niceStep rounds a raw tick step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*pow {
			return m * pow
		}
	}
	return 10 * pow
}

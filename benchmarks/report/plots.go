package report

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/oodlab/dos/sampling"
)

// Figure is one or more plots laid out on a grid, saved as one image.
type Figure struct {
	// Panels are the plots, row-major.
	Panels []*plot.Plot
	// Cols is the number of panels per row (at least 1).
	Cols int
	// PanelWidth and PanelHeight are the size of one panel.
	PanelWidth, PanelHeight vg.Length
}

// newFigure makes a figure with the default panel size.
func newFigure(cols int, panels ...*plot.Plot) *Figure {
	return &Figure{Panels: panels, Cols: cols, PanelWidth: 5 * vg.Inch, PanelHeight: 3.75 * vg.Inch}
}

// Save writes the figure to path; the extension picks the format: .svg or
// .png.
func (f *Figure) Save(path string) error {
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	var buf bytes.Buffer
	if err := f.Encode(&buf, format); err != nil {
		return fmt.Errorf("report: %s: %w", path, err)
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// Encode writes the figure to w as "svg" or "png" (PNG at 144 dpi).
func (f *Figure) Encode(w io.Writer, format string) error {
	if len(f.Panels) == 0 {
		return fmt.Errorf("figure has no panels")
	}
	cols := max(f.Cols, 1)
	cols = min(cols, len(f.Panels))
	rows := (len(f.Panels) + cols - 1) / cols
	width, height := f.PanelWidth*vg.Length(cols), f.PanelHeight*vg.Length(rows)
	var canvas vg.CanvasWriterTo
	switch format {
	case "svg":
		canvas = vgsvg.New(width, height)
	case "png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(144))}
	default:
		return fmt.Errorf("image format %q: want svg or png", format)
	}
	grid := make([][]*plot.Plot, rows)
	for r := range grid {
		grid[r] = make([]*plot.Plot, cols)
		for c := range cols {
			if i := r*cols + c; i < len(f.Panels) {
				grid[r][c] = f.Panels[i]
			}
		}
	}
	dc := draw.New(canvas)
	// White background (PNG canvases start transparent).
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	cs := plot.Align(grid, tiles, dc)
	for r := range grid {
		for c, p := range grid[r] {
			if p != nil {
				p.Draw(cs[r][c])
			}
		}
	}
	_, err := canvas.WriteTo(w)
	return err
}

// series is one line: mean over seeds of a per-epoch value.
type series struct {
	name string
	xys  plotter.XYs
	// marks are the points of xys computed from degenerate scores.
	marks plotter.XYs
}

// epochMeans averages value(e) over the runs per epoch, ignoring NaN and
// missing values (ok false).
func epochMeans(runs []RunResult, value func(EpochRecord) (float64, bool)) plotter.XYs {
	sum := map[int]float64{}
	n := map[int]int{}
	for _, r := range runs {
		for _, e := range r.Epochs {
			v, ok := value(e)
			if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			sum[e.Epoch] += v
			n[e.Epoch]++
		}
	}
	var epochs []int
	for ep := range n {
		epochs = append(epochs, ep)
	}
	slices.Sort(epochs)
	xys := make(plotter.XYs, len(epochs))
	for i, ep := range epochs {
		xys[i] = plotter.XY{X: float64(ep), Y: sum[ep] / float64(n[ep])}
	}
	return xys
}

// methodSeries makes one series per method (paper order), or per method and
// variant when the runs have variants ("Energy (lr=0.02)"), of the mean over
// seeds of value per epoch; those without data are left out. With flag, the
// points of epochs where flag holds for some run's record are the series'
// marks.
func methodSeries(runs []RunResult, value func(EpochRecord) (float64, bool), flag func(EpochRecord) bool) []series {
	keys, byKey := groupRuns(runs)
	var out []series
	for _, k := range keys {
		xys := epochMeans(byKey[k], value)
		if len(xys) == 0 {
			continue
		}
		s := series{name: VariantName(k.method, k.variant), xys: xys}
		if flag != nil {
			flagged := map[int]bool{}
			for _, r := range byKey[k] {
				for _, e := range r.Epochs {
					if flag(e) {
						flagged[e.Epoch] = true
					}
				}
			}
			for _, p := range xys {
				if flagged[int(p.X)] {
					s.marks = append(s.marks, p)
				}
			}
		}
		out = append(out, s)
	}
	return out
}

// degenerateLegend labels the marks of points computed from degenerate scores.
const degenerateLegend = dagger + " degenerate scores (marked ×)"

// newLinePlot is an empty panel for lines: title, axis labels, a grid and the legend on top.
func newLinePlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	return p
}

// addLines draws series on p, each in the colour colour gives its name, labelled with its name
// and suffix in the legend; dashed draws them dashed (the second group of a panel that compares
// two per method).
func addLines(p *plot.Plot, ss []series, colour map[string]int, suffix string, dashed bool) error {
	for _, s := range ss {
		l, err := plotter.NewLine(s.xys)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		l.Color = seriesColor(colour[s.name])
		l.Width = vg.Points(1.5)
		if dashed {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(l)
		p.Legend.Add(s.name+suffix, l)
	}
	return nil
}

// diagnostic reads the diagnostic key of an epoch record, for methodSeries.
func diagnostic(key string) func(EpochRecord) (float64, bool) {
	return func(e EpochRecord) (float64, bool) { v, ok := e.Diagnostics[key]; return v, ok }
}

// linePlot draws series as lines with a legend; series i gets colour i.
func linePlot(title, xlabel, ylabel string, ss []series) (*plot.Plot, error) {
	p := newLinePlot(title, xlabel, ylabel)
	var marked *plotter.Scatter
	for i, s := range ss {
		l, err := plotter.NewLine(s.xys)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		l.Color = seriesColor(i)
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(s.name, l)
		if len(s.marks) > 0 {
			sc, err := plotter.NewScatter(s.marks)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.name, err)
			}
			sc.GlyphStyle = draw.GlyphStyle{Color: seriesColor(i), Radius: vg.Points(5), Shape: draw.CrossGlyph{}}
			p.Add(sc)
			if marked == nil {
				marked = &plotter.Scatter{XYs: s.marks, GlyphStyle: draw.GlyphStyle{Color: color.Black, Radius: vg.Points(5), Shape: draw.CrossGlyph{}}}
			}
		}
	}
	n := len(ss)
	if marked != nil {
		p.Legend.Add(degenerateLegend, marked)
		n++
	}
	headroom(p, n)
	return p, nil
}

// headroom raises the top of the y axis so that a legend of n entries at
// the top does not cover the data.
func headroom(p *plot.Plot, n int) {
	if r := p.Y.Max - p.Y.Min; r > 0 {
		p.Y.Max += r * (0.06*float64(n) + 0.04)
	}
}

func figureTitle(runs []RunResult) string {
	return fmt.Sprintf("%s, %s", SetName(runs[0].Benchmark), runs[0].Network)
}

// TrainingCurves plots, per method (mean over seeds), the average ID-
// positive FPR95 over the OOD test sets and the ID test accuracy against
// the epoch: two panels side by side. Points whose FPR95 comes from
// degenerate scores (EpochRecord.Degenerate) are marked with a cross.
func TrainingCurves(runs []RunResult) (*Figure, error) {
	if _, _, err := checkRuns(runs); err != nil {
		return nil, err
	}
	fpr := methodSeries(runs, func(e EpochRecord) (float64, bool) { return 100 * e.FPR95, true },
		func(e EpochRecord) bool { return e.Degenerate })
	acc := methodSeries(runs, func(e EpochRecord) (float64, bool) { return 100 * e.TestAccuracy, true }, nil)
	if len(fpr) == 0 && len(acc) == 0 {
		return nil, fmt.Errorf("report: training curves: no run has epoch records")
	}
	t := figureTitle(runs)
	p1, err := linePlot("OOD detection during training ("+t+")", "epoch", "FPR95 ID-positive, mean of OOD sets (%)", fpr)
	if err != nil {
		return nil, fmt.Errorf("report: training curves: %w", err)
	}
	p2, err := linePlot("ID classification during training ("+t+")", "epoch", "ID test accuracy (%)", acc)
	if err != nil {
		return nil, fmt.Errorf("report: training curves: %w", err)
	}
	p2.Legend.Left = true // accuracy rises: the top left is free
	return newFigure(2, p1, p2), nil
}

// EpochTimes plots the wall time per epoch against the epoch, per method
// (mean over seeds).
func EpochTimes(runs []RunResult) (*Figure, error) {
	if _, _, err := checkRuns(runs); err != nil {
		return nil, err
	}
	ss := methodSeries(runs, func(e EpochRecord) (float64, bool) { return e.Seconds, e.Seconds > 0 }, nil)
	if len(ss) == 0 {
		return nil, fmt.Errorf("report: epoch times: no run records epoch seconds")
	}
	p, err := linePlot("Training time ("+figureTitle(runs)+")", "epoch", "wall time per epoch (s)", ss)
	if err != nil {
		return nil, fmt.Errorf("report: epoch times: %w", err)
	}
	p.Y.Min = 0
	return newFigure(1, p), nil
}

// DOSDiagnostics plots DOS's diagnostics over training, mean over seeds per
// method that records them: the K-means inertia (sampling.DiagInertia), and the mean
// p_abs of the picked outliers (sampling.DiagPAbsPicks, solid) against that of all
// candidates (sampling.DiagPAbsAll, dashed).
func DOSDiagnostics(runs []RunResult) (*Figure, error) {
	if _, _, err := checkRuns(runs); err != nil {
		return nil, err
	}
	inertia := methodSeries(runs, diagnostic(sampling.DiagInertia), nil)
	picks := methodSeries(runs, diagnostic(sampling.DiagPAbsPicks), nil)
	all := methodSeries(runs, diagnostic(sampling.DiagPAbsAll), nil)
	if len(inertia) == 0 && len(picks) == 0 && len(all) == 0 {
		return nil, fmt.Errorf("report: DOS diagnostics: no run records %s, %s or %s", sampling.DiagInertia, sampling.DiagPAbsPicks, sampling.DiagPAbsAll)
	}
	t := figureTitle(runs)
	p1, err := linePlot("K-means inertia of unit-sphere features ("+t+")", "epoch",
		"inertia (sum of sq. distances, unitless)", inertia)
	if err != nil {
		return nil, fmt.Errorf("report: DOS diagnostics: %w", err)
	}
	// Same colour per method, solid for picks and dashed for all candidates.
	colourOf := map[string]int{}
	for _, s := range picks {
		colourOf[s.name] = len(colourOf)
	}
	for _, s := range all {
		if _, ok := colourOf[s.name]; !ok {
			colourOf[s.name] = len(colourOf)
		}
	}
	p2 := newLinePlot("Absent-class probability of outliers ("+t+")", "epoch", "mean p_abs (probability, 0 to 1)")
	if err := addLines(p2, picks, colourOf, ": picked", false); err != nil {
		return nil, fmt.Errorf("report: DOS diagnostics: %w", err)
	}
	if err := addLines(p2, all, colourOf, ": all candidates", true); err != nil {
		return nil, fmt.Errorf("report: DOS diagnostics: %w", err)
	}
	headroom(p2, len(picks)+len(all))
	return newFigure(2, p1, p2), nil
}

// ScoreSet is a named set of detection scores.
type ScoreSet struct {
	// Name is the data set name, e.g. "cifar100", "svhn".
	Name string
	// Scores are the test scores, higher = more ID.
	Scores []float64
	// Warnings are the metrics' warnings of an OOD set's scores against the
	// ID scores (metrics.Result.Warnings): the panel's title says that the
	// scores are degenerate.
	Warnings []string
}

// HistogramOptions configures ScoreHistograms.
type HistogramOptions struct {
	// Bins is the number of bins per panel; 0 means 50.
	Bins int
	// ScoreLabel is the x-axis label; empty means "score (higher = more ID)".
	ScoreLabel string
	// Cols is the number of panels per row; 0 means 3.
	Cols int
}

// ScoreHistograms draws, for each OOD set, one panel with the normalised
// histograms (densities) of the ID scores and of that set's scores over a
// common range; the title of a set with warnings says "† degenerate scores".
func ScoreHistograms(id ScoreSet, ood []ScoreSet, opt HistogramOptions) (*Figure, error) {
	if len(id.Scores) == 0 {
		return nil, fmt.Errorf("report: score histograms: ID set %q has no scores", id.Name)
	}
	if len(ood) == 0 {
		return nil, fmt.Errorf("report: score histograms: no OOD sets")
	}
	bins := opt.Bins
	if bins <= 0 {
		bins = 50
	}
	xlabel := opt.ScoreLabel
	if xlabel == "" {
		xlabel = "score (higher = more ID)"
	}
	cols := opt.Cols
	if cols <= 0 {
		cols = 3
	}
	if err := finite(id); err != nil {
		return nil, err
	}
	var panels []*plot.Plot
	for _, o := range ood {
		if len(o.Scores) == 0 {
			return nil, fmt.Errorf("report: score histograms: OOD set %q has no scores", o.Name)
		}
		if err := finite(o); err != nil {
			return nil, err
		}
		lo := math.Min(slices.Min(id.Scores), slices.Min(o.Scores))
		hi := math.Max(slices.Max(id.Scores), slices.Max(o.Scores))
		if hi == lo {
			lo, hi = lo-0.5, hi+0.5
		}
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s (ID) vs %s (OOD)", SetName(id.Name), SetName(o.Name))
		if len(o.Warnings) > 0 {
			p.Title.Text += " " + dagger + " degenerate scores"
		}
		p.X.Label.Text = xlabel
		p.Y.Label.Text = "density (fraction of samples per unit score)"
		p.Legend.Top = true
		p.Legend.Left = true
		for k, s := range []ScoreSet{id, o} {
			h := density(s.Scores, lo, hi, bins)
			c := plotutil.Color(k)
			r, g, b, _ := c.RGBA()
			h.FillColor = color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: 110}
			h.LineStyle.Color = c
			h.LineStyle.Width = vg.Points(0.6)
			p.Add(h)
			role := "ID: "
			if k == 1 {
				role = "OOD: "
			}
			p.Legend.Add(fmt.Sprintf("%s%s (n = %d)", role, SetName(s.Name), len(s.Scores)), h)
		}
		headroom(p, 2)
		panels = append(panels, p)
	}
	return newFigure(cols, panels...), nil
}

func finite(s ScoreSet) error {
	for i, v := range s.Scores {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("report: score histograms: %s score %d is %v (want finite)", s.Name, i, v)
		}
	}
	return nil
}

// density bins xs over [lo, hi] into n bins with weights count/(N*width).
func density(xs []float64, lo, hi float64, n int) *plotter.Histogram {
	w := (hi - lo) / float64(n)
	hb := make([]plotter.HistogramBin, n)
	for i := range hb {
		hb[i].Min = lo + float64(i)*w
		hb[i].Max = lo + float64(i+1)*w
	}
	for _, x := range xs {
		i := int((x - lo) / w)
		i = min(max(i, 0), n-1)
		hb[i].Weight++
	}
	for i := range hb {
		hb[i].Weight /= float64(len(xs)) * w
	}
	return &plotter.Histogram{Bins: hb, Width: w, LineStyle: plotter.DefaultLineStyle}
}

// seriesColor is the colour of the i-th line: the Tableau 10 palette, whose ten colours stay
// distinct for the seven methods of a grid (plotutil's default palette repeats reds).
func seriesColor(i int) color.Color {
	palette := [...]color.NRGBA{
		{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff},
		{0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff},
		{0xbc, 0xbd, 0x22, 0xff}, {0x17, 0xbe, 0xcf, 0xff},
	}
	return palette[i%len(palette)]
}

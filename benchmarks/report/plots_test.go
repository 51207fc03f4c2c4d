package report

import (
	"bytes"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oodlab/dos/sampling"
)

// trainingRuns makes synthetic runs with per-epoch records.
func trainingRuns() []RunResult {
	var runs []RunResult
	for mi, m := range []string{"energy", "dos"} {
		for _, seed := range []int{3, 14} {
			r := RunResult{Method: m, Seed: seed, Network: "densenet", Benchmark: "cifar100", Status: StatusDone}
			for ep := 1; ep <= 10; ep++ {
				e := EpochRecord{
					Epoch:        ep,
					Loss:         2 / float64(ep),
					TestAccuracy: 0.3 + 0.04*float64(ep) + 0.001*float64(seed),
					FPR95:        0.9 - 0.05*float64(ep) - 0.1*float64(mi),
					Seconds:      60 + 30*float64(mi) + float64(seed%5),
				}
				if ep == 4 {
					e.FPR95 = math.NaN() // not measured: left out
				}
				if m == "dos" {
					e.Diagnostics = map[string]float64{
						sampling.DiagInertia:   100 - 3*float64(ep),
						sampling.DiagPAbsPicks: 0.1 + 0.02*float64(ep),
						sampling.DiagPAbsAll:   0.4 + 0.03*float64(ep),
					}
				}
				r.Epochs = append(r.Epochs, e)
			}
			runs = append(runs, r)
		}
	}
	return runs
}

// checkFigure renders f as PNG and SVG: the PNG must decode and have more
// than one colour; the SVG must contain each label.
func checkFigure(t *testing.T, name string, f *Figure, labels ...string) {
	t.Helper()
	var pb bytes.Buffer
	if err := f.Encode(&pb, "png"); err != nil {
		t.Fatalf("%s: png: %v", name, err)
	}
	img, err := png.Decode(&pb)
	if err != nil {
		t.Fatalf("%s: decoding the PNG: %v", name, err)
	}
	b := img.Bounds()
	if b.Dx() < 200 || b.Dy() < 200 {
		t.Errorf("%s: PNG is %dx%d", name, b.Dx(), b.Dy())
	}
	colours := map[[4]uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			colours[[4]uint32{r, g, bl, a}] = true
		}
	}
	if len(colours) < 3 {
		t.Errorf("%s: PNG has %d colours: blank", name, len(colours))
	}
	var sb bytes.Buffer
	if err := f.Encode(&sb, "svg"); err != nil {
		t.Fatalf("%s: svg: %v", name, err)
	}
	svg := sb.String()
	if !strings.HasPrefix(svg, "<?xml") || !strings.Contains(svg, "</svg>") {
		t.Errorf("%s: not an SVG document", name)
	}
	for _, l := range labels {
		if !strings.Contains(svg, l) {
			t.Errorf("%s: SVG lacks %q", name, l)
		}
	}
}

func TestTrainingCurves(t *testing.T) {
	f, err := TrainingCurves(trainingRuns())
	if err != nil {
		t.Fatal(err)
	}
	checkFigure(t, "training", f, "epoch", "FPR95 ID-positive, mean of OOD sets (%)", "ID test accuracy (%)", "DOS", "Energy")
}

func TestEpochTimes(t *testing.T) {
	f, err := EpochTimes(trainingRuns())
	if err != nil {
		t.Fatal(err)
	}
	checkFigure(t, "times", f, "epoch", "wall time per epoch (s)", "DOS", "Energy")
}

func TestDOSDiagnostics(t *testing.T) {
	f, err := DOSDiagnostics(trainingRuns())
	if err != nil {
		t.Fatal(err)
	}
	checkFigure(t, "dos", f, "epoch", "inertia (sum of sq. distances, unitless)",
		"mean p_abs (probability, 0 to 1)", "DOS: picked", "DOS: all candidates")
	runs := trainingRuns()[:2] // energy only: no diagnostics
	if _, err := DOSDiagnostics(runs); err == nil {
		t.Error("runs without diagnostics: want an error")
	}
}

func TestScoreHistograms(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	gen := func(n int, mu float64) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = mu + rng.NormFloat64()*0.1
		}
		return xs
	}
	id := ScoreSet{Name: "cifar100", Scores: gen(500, 0.8)}
	ood := []ScoreSet{{Name: "svhn", Scores: gen(300, 0.4)}, {Name: "lsun_c", Scores: gen(200, 0.5)}}
	f, err := ScoreHistograms(id, ood, HistogramOptions{Bins: 30, ScoreLabel: "score 1 - p_abs (higher = more ID)"})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Panels) != 2 {
		t.Fatalf("%d panels, want one per OOD set", len(f.Panels))
	}
	checkFigure(t, "hist", f, "score 1 - p_abs (higher = more ID)", "density (fraction of samples per unit score)",
		"ID: CIFAR-100 (n = 500)", "OOD: SVHN (n = 300)", "OOD: LSUN-C (n = 200)")

	// Densities integrate to one.
	h := density(id.Scores, 0, 2, 40)
	var area float64
	for _, b := range h.Bins {
		area += b.Weight * (b.Max - b.Min)
	}
	if math.Abs(area-1) > 1e-12 {
		t.Errorf("density area %v, want 1", area)
	}
	if _, err := ScoreHistograms(ScoreSet{Name: "x"}, ood, HistogramOptions{}); err == nil {
		t.Error("empty ID scores: want an error")
	}
	bad := ScoreSet{Name: "svhn", Scores: []float64{0.1, math.NaN()}}
	if _, err := ScoreHistograms(id, []ScoreSet{bad}, HistogramOptions{}); err == nil || !strings.Contains(err.Error(), "svhn score 1") {
		t.Errorf("NaN score: error %v", err)
	}
}

func TestFigureSave(t *testing.T) {
	f, err := EpochTimes(trainingRuns())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"t.svg", "t.png"} {
		p := filepath.Join(dir, name)
		if err := f.Save(p); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(p); err != nil || st.Size() < 1000 {
			t.Errorf("%s: %v, %v", name, st, err)
		}
	}
	if err := f.Save(filepath.Join(dir, "t.gif")); err == nil || !strings.Contains(err.Error(), "want svg or png") {
		t.Errorf("gif: error %v", err)
	}
}

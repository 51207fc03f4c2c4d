package report

import (
	"slices"
	"strings"
	"testing"

	"github.com/oodlab/dos/experiments/metrics"
	"github.com/oodlab/dos/experiments/store"
)

// scoredRuns are done runs of oe (K outputs, own score msp) and dos (K+1, own score absent) with
// post-hoc scores, and a missing dos run.
func scoredRuns() []RunResult {
	res := func(fpr, auroc float64) map[string]metrics.Result {
		return map[string]metrics.Result{"svhn": {FPR95: fpr, AUROC: auroc}, "lsun-c": {FPR95: fpr / 2, AUROC: auroc}}
	}
	var runs []RunResult
	for i, seed := range []int{3, 14} {
		f := 0.01 * float64(i)
		runs = append(runs,
			RunResult{Method: "oe", Seed: seed, Network: "densenet", Benchmark: "cifar100", Status: StatusDone, IDAccuracy: 0.7,
				Score: "msp", PerSet: res(0.4+f, 0.9), KNNK: 200, Scores: map[string]map[string]metrics.Result{
					"msp": res(0.4+f, 0.9), "maxlogit": res(0.3+f, 0.91), "energy": res(0.2+f, 0.92), "knn": res(0.5+f, 0.8)}},
			RunResult{Method: "dos", Seed: seed, Network: "densenet", Benchmark: "cifar100", Status: StatusDone, IDAccuracy: 0.75,
				Score: "absent", PerSet: res(0.1+f, 0.97), KNNK: 200, Scores: map[string]map[string]metrics.Result{
					"msp": res(0.6+f, 0.8), "maxlogit": res(0.5+f, 0.85), "energy": res(0.45+f, 0.86), "absent": res(0.1+f, 0.97),
					"knn": res(0.3+f, 0.9)}})
	}
	runs = append(runs, RunResult{Method: "dos", Seed: 42, Network: "densenet", Benchmark: "cifar100", Status: StatusMissing})
	return runs
}

func TestScoreNames(t *testing.T) {
	runs := scoredRuns()
	runs[0].Scores["zeta"] = nil
	runs[4].Scores = map[string]map[string]metrics.Result{"alpha": nil} // not done: ignored
	got := ScoreNames(runs)
	want := []string{"msp", "maxlogit", "energy", "absent", "knn", "zeta"}
	if !slices.Equal(got, want) {
		t.Errorf("ScoreNames = %v, want %v", got, want)
	}
}

// TestBuildScoreTable: a score's table is the main table of that score's metrics, with a row
// for the methods that have it; the own score's rows equal the main table's.
func TestBuildScoreTable(t *testing.T) {
	runs := scoredRuns()
	main, err := BuildTable(runs, TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	absent, err := BuildScoreTable(runs, "absent", TableOptions{Title: "Grid g"})
	if err != nil {
		t.Fatal(err)
	}
	if len(absent.Rows) != 1 || absent.Rows[0].Method != "dos" || absent.Rows[0].Runs != 3 || absent.Rows[0].Seeds != 2 {
		t.Fatalf("absent table rows %+v, want DOS alone with 2 of 3 runs done", absent.Rows)
	}
	if !slices.Equal(absent.Rows[0].FPR, main.Rows[1].FPR) || absent.Rows[0].AvgAUROC != main.Rows[1].AvgAUROC {
		t.Errorf("the own score's row %+v differs from the main table's %+v", absent.Rows[0], main.Rows[1])
	}
	if c := absent.Caption(); !strings.HasPrefix(c, "Grid g. Score: absent class") || !strings.Contains(c, "the own score of DOS") {
		t.Errorf("caption %q", c)
	}
	knn, err := BuildScoreTable(runs, "knn", TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(knn.Rows) != 2 {
		t.Fatalf("knn table has %d rows, want OE and DOS", len(knn.Rows))
	}
	// OE's knn FPR95 on svhn: seeds 0.50 and 0.51.
	if got := knn.Rows[0].FPR[slices.Index(knn.Sets, "svhn")]; got.N != 2 || !near(got.Mean, 50.5) {
		t.Errorf("OE knn FPR95 on SVHN %+v, want the mean of 50 and 51", got)
	}
	if c := knn.Caption(); !strings.Contains(c, "k = 200") || strings.Contains(c, "own score") {
		t.Errorf("knn caption %q", c)
	}
	if _, err := BuildScoreTable(runs, "nope", TableOptions{}); err == nil {
		t.Error("a score no run has: no error")
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// TestOutlierMeasures draws the diversity panel and one uncertainty panel per kind, with every
// method that records them.
func TestOutlierMeasures(t *testing.T) {
	var runs []RunResult
	for _, m := range []struct{ method, kind string }{{"oe", store.UncertaintyMSP}, {"ntom", store.UncertaintyPAbs},
		{"dos", store.UncertaintyPAbs}, {"poem", store.UncertaintyEnergy}, {"msp", ""}} {
		r := RunResult{Method: m.method, Seed: 3, Network: "mlp", Benchmark: "mnist@0-4", Status: StatusDone}
		for ep := 1; ep <= 4; ep++ {
			e := EpochRecord{Epoch: ep, Diagnostics: map[string]float64{}}
			if m.kind != "" {
				e.Diagnostics[store.DiagDiversity] = 10 + float64(ep)
				e.Diagnostics[store.DiagUncertaintyPrefix+m.kind] = 0.1 * float64(ep)
				e.Diagnostics[store.DiagReferenceUncertaintyPrefix+m.kind] = 0.2 * float64(ep)
			}
			r.Epochs = append(r.Epochs, e)
		}
		runs = append(runs, r)
	}
	if !HasOutlierMeasures(runs) || HasOutlierMeasures(runs[4:]) {
		t.Fatal("HasOutlierMeasures wrong")
	}
	f, err := OutlierMeasures(runs)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Panels) != 4 {
		t.Fatalf("%d panels, want diversity and p_abs, 1-msp, energy", len(f.Panels))
	}
	for i, want := range []string{"Diversity", ": p_abs", ": 1-msp", ": energy"} {
		if !strings.Contains(f.Panels[i].Title.Text, want) {
			t.Errorf("panel %d: %q, want %q in it", i, f.Panels[i].Title.Text, want)
		}
	}
	checkFigure(t, "outliers", f, "OE", "NTOM: outliers", "DOS: pool sample", "POEM: outliers", "Calinski-Harabasz")
	if _, err := OutlierMeasures(runs[4:]); err == nil {
		t.Error("no run with the measures: no error")
	}
}

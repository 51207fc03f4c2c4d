package report

import (
	"strings"
	"testing"

	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/metrics"
	"github.com/oodlab/dos/experiments/store"
)

// sweepCollection is what store.Collect gives for a grid that sweeps optim.lr and
// method.dos.n_init besides method and seed (no training: results made up per run).
func sweepCollection(t *testing.T) *store.Collection {
	t.Helper()
	g, err := config.ParseGrid("sweep.yaml", []byte(`name: sweep
base: {network: mlp, epochs: 4, optim: {milestones: [2]}, benchmark: {tests: [svhn, lsun-c]}}
axes:
  method: [energy, dos]
  seed: [3, 14]
  optim.lr: [0.02, 0.1]
  method.dos.n_init: [3, 5]
`))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := g.Expand(nil)
	if err != nil {
		t.Fatal(err)
	}
	st := &store.Store{Root: t.TempDir()}
	col := &store.Collection{}
	for i, r := range runs {
		d, err := st.Dir(g.Name, r)
		if err != nil {
			t.Fatal(err)
		}
		f := 10 + float64(i)
		res := &store.Results{RunID: d.ID, Method: r.Method.Name, Seed: r.Seed, IDAccuracy: 0.7, Epochs: r.Epochs,
			Sets: map[string]metrics.Result{"svhn": res(f, 90), "lsun-c": res(f+1, 89)}}
		epochs := []store.EpochRecord{{Epoch: 1, Loss: 1, Seconds: 2, FPR95: map[string]float64{"svhn": f / 100}},
			{Epoch: 2, Loss: 0.5, Seconds: 2, FPR95: map[string]float64{"svhn": f / 200}}}
		col.Runs = append(col.Runs, store.Collected{Run: r, Dir: d, Status: store.StatusDone, Results: res, Epochs: epochs})
	}
	return col
}

// TestSweepTable: a grid with an axis other than method and seed gives one table row per
// combination of method and swept values, averaged over seeds, and the plots one line each.
func TestSweepTable(t *testing.T) {
	runs := FromStore(sweepCollection(t))
	tab, err := BuildTable(runs, TableOptions{})
	if err != nil {
		t.Fatalf("BuildTable: %v", err)
	}
	// energy: lr 0.02 and 0.1 (n_init does not apply); dos: 2 lr x 2 n_init.
	if len(tab.Rows) != 6 {
		t.Fatalf("%d rows, want 6", len(tab.Rows))
	}
	md := tab.Markdown()
	for _, want := range []string{"| Energy | lr=0.02 | 2/2 |", "| Energy | lr=0.1 | 2/2 |", "| DOS | lr=0.02, n_init=3 | 2/2 |",
		"| DOS | lr=0.1, n_init=5 | 2/2 |", "| Method | Setting | n |", "|\n| :--- | :--- | ---: |"} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
	if cs := tab.CSV(); !strings.HasPrefix(cs, "method,setting,seeds,runs,") || !strings.Contains(cs, "\ndos,\"lr=0.1, n_init=5\",2,2,") {
		t.Errorf("CSV lacks the setting column:\n%s", cs)
	}
	if tex := tab.LaTeX(); !strings.Contains(tex, "DOS & lr=0.1, n\\_init=5 & 2/2") || !strings.Contains(tex, "{llrr") {
		t.Errorf("LaTeX lacks the setting column:\n%s", tex)
	}
	f, err := TrainingCurves(runs)
	if err != nil {
		t.Fatalf("TrainingCurves: %v", err)
	}
	checkFigure(t, "sweep", f, "Energy (lr=0.02)", "Energy (lr=0.1)", "DOS (lr=0.1, n_init=5)")
	// Two runs of the same method, seed and setting are still an error.
	dup := append(runs, runs[0])
	if _, err := BuildTable(dup, TableOptions{}); err == nil || !strings.Contains(err.Error(), "energy (lr=0.02) seed 3 appears twice") {
		t.Errorf("duplicate: %v", err)
	}
}

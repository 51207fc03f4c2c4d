package report

import (
	"strings"
	"testing"

	"github.com/oodlab/dos/experiments/metrics"
	"github.com/oodlab/dos/experiments/store"
)

// degenerateRuns is sixSetRuns with Energy seed 3 diverged on SVHN: every score the same, so
// FPR95 0 (the official strict '>'), the best number of the column, and AUROC 0.5.
func degenerateRuns() []RunResult {
	runs := sixSetRuns()
	bad := metrics.Result{FPR95: 0, FPR95OODPositive: 1, AUROC: 0.5,
		Warnings: metrics.NewWarnings("all 500 scores (200 ID, 300 OOD) equal 8500: the scores separate nothing")}
	sets := map[string]metrics.Result{}
	for k, v := range runs[2].PerSet {
		sets[k] = v
	}
	sets["svhn"] = bad
	runs = append(runs, RunResult{Method: "energy", Seed: 3, Name: "energy-s3-0123456789ab", Network: "densenet",
		Benchmark: "cifar100", PerSet: sets, IDAccuracy: 0.7, Status: StatusDone})
	return runs
}

// TestDegenerateMarks: a number computed from degenerate scores is marked with a dagger in
// every table format, never bold, explained in a note that names the run, the set and the
// warning; the averages that include it are marked too.
func TestDegenerateMarks(t *testing.T) {
	tab, err := BuildTable(degenerateRuns(), TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	md := tab.Markdown()
	// Energy's row: SVHN FPR95 0.0 and AUROC 50.0 marked, not bold; its averages marked.
	if !strings.Contains(md, "| Energy | 1/1 | 0.0† | 50.0† |") {
		t.Errorf("Markdown does not mark Energy's SVHN cells:\n%s", md)
	}
	if strings.Contains(md, "**0.0") {
		t.Errorf("Markdown bolds the degenerate 0.0:\n%s", md)
	}
	// The best sound SVHN FPR95 is DOS's 15.0 ± 1.4.
	if !strings.Contains(md, "**15.0 ± 1.4**") {
		t.Errorf("Markdown does not bold the best sound value:\n%s", md)
	}
	row := md[strings.Index(md, "| Energy |"):]
	row = row[:strings.Index(row, "\n")]
	if strings.Count(row, "†") != 4 {
		t.Errorf("Energy row %q: want 4 marks (SVHN FPR95 and AUROC, both averages)", row)
	}
	for _, want := range []string{"energy-s3-0123456789ab", "SVHN", "all 500 scores (200 ID, 300 OOD) equal 8500"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown note lacks %q:\n%s", want, md)
		}
	}
	if tex := tab.LaTeX(); !strings.Contains(tex, `0.0$^\dagger$`) || strings.Contains(tex, `\textbf{0.0`) || !strings.Contains(tex, "energy-s3-0123456789ab") {
		t.Errorf("LaTeX does not mark the degenerate cell or lacks the note:\n%s", tex)
	}
	if cs := tab.CSV(); !strings.Contains(cs, ",degenerate\n") || !strings.Contains(cs, "energy-s3-0123456789ab svhn: all 500 scores") {
		t.Errorf("CSV lacks the degenerate column:\n%s", cs)
	}
	c, err := CompareWithPaper(tab)
	if err != nil {
		t.Fatal(err)
	}
	if cm := c.Markdown(); !strings.Contains(cm, "0.0† / 20.6") || !strings.Contains(cm, "energy-s3-0123456789ab") {
		t.Errorf("comparison does not mark the degenerate cell:\n%s", cm)
	}
	// Without degenerate scores nothing is marked.
	tab, _ = BuildTable(sixSetRuns(), TableOptions{})
	if strings.Contains(tab.Markdown()+tab.LaTeX()+tab.CSV(), "†") || strings.Contains(tab.CSV(), "degenerate") {
		t.Error("sound scores are marked")
	}
}

// TestDegeneratePlots: the training curves mark the epochs whose FPR95 comes from degenerate
// scores, and a score histogram of degenerate scores says so in its title.
func TestDegeneratePlots(t *testing.T) {
	runs := trainingRuns()
	last := &runs[0].Epochs[len(runs[0].Epochs)-1]
	last.FPR95, last.Degenerate = 0, true
	f, err := TrainingCurves(runs)
	if err != nil {
		t.Fatal(err)
	}
	checkFigure(t, "training", f, "Energy", "DOS", degenerateLegend)
	f, err = TrainingCurves(trainingRuns())
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	if err := f.Encode(&sb, "svg"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sb.String(), "degenerate") {
		t.Error("sound runs: the training curves mention degenerate scores")
	}
	id := ScoreSet{Name: "cifar100", Scores: []float64{1, 1, 1}}
	ood := []ScoreSet{{Name: "svhn", Scores: []float64{1, 1}, Warnings: []string{"all 5 scores (3 ID, 2 OOD) equal 1"}}}
	f, err = ScoreHistograms(id, ood, HistogramOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkFigure(t, "hist", f, "SVHN (OOD) "+dagger+" degenerate scores")
}

// TestDegenerateEpochRecord: an epoch of metrics.jsonl whose scores were degenerate on some test
// set becomes a marked point of the training curves; a sound one does not.
func TestDegenerateEpochRecord(t *testing.T) {
	acc := 0.5
	sound := store.EpochRecord{Epoch: 2, TestAcc: &acc, FPR95: map[string]float64{"svhn": 0.4}}
	bad := sound
	bad.FPR95 = map[string]float64{"svhn": 0}
	bad.Warnings = map[string][]string{"svhn": {"all 5 scores (3 ID, 2 OOD) equal 1"}}
	if epochRecord(sound).Degenerate {
		t.Error("a sound epoch is marked degenerate")
	}
	if !epochRecord(bad).Degenerate {
		t.Error("an epoch with warnings is not marked degenerate")
	}
}

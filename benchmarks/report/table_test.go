package report

import (
	"encoding/csv"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oodlab/dos/experiments/metrics"
	"github.com/oodlab/dos/internal/assert"
)

// res makes a metrics.Result from percentages.
func res(fpr, auroc float64) metrics.Result {
	return metrics.Result{FPR95: fpr / 100, FPR95OODPositive: (fpr + 5) / 100, AUROC: auroc / 100}
}

// fixture is a fixed synthetic set of runs: DOS with 3 seeds, Energy with 2,
// MSP with 1, a method outside the paper with one done and one failed run,
// NTOM only running, given in a scrambled order.
func fixture(bench string) []RunResult {
	run := func(m string, seed int, status string, acc float64, sets map[string]metrics.Result) RunResult {
		return RunResult{Method: m, Seed: seed, Network: "densenet", Benchmark: bench,
			PerSet: sets, IDAccuracy: acc, Status: status}
	}
	return []RunResult{
		run("mymethod", 1, StatusDone, 0.70, map[string]metrics.Result{"svhn": res(50, 90), "lsun_c": res(40, 91), "textures": res(60, 85)}),
		run("dos", 3, StatusDone, 0.755, map[string]metrics.Result{"svhn": res(10, 97), "lsun_c": res(20, 96), "textures": res(30, 92)}),
		run("ntom", 3, StatusRunning, 0, nil),
		run("energy", 3, StatusDone, 0.69, map[string]metrics.Result{"svhn": res(20, 96), "lsun_c": res(26, 95), "textures": res(53, 88)}),
		run("dos", 14, StatusDone, 0.75, map[string]metrics.Result{"svhn": res(12, 97.5), "lsun_c": res(22, 96.2), "textures": res(35, 92.4)}),
		run("msp", 3, StatusDone, 0.756, map[string]metrics.Result{"svhn": res(83, 76), "lsun_c": res(78, 78), "textures": res(87, 70)}),
		run("energy", 14, StatusDone, 0.68, map[string]metrics.Result{"svhn": res(22, 96.6), "lsun_c": res(27, 95.2), "textures": res(54, 88.6)}),
		run("mymethod", 2, StatusFailed, 0, nil),
		run("dos", 42, StatusDone, 0.76, map[string]metrics.Result{"svhn": res(14, 97.3), "lsun_c": res(24, 96.6), "textures": res(40, 92.2)}),
	}
}

// checkGolden compares got with testdata/NAME (go test -update rewrites it).
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	assert.Golden(t, filepath.Join("testdata", name), got)
}

func TestSummarize(t *testing.T) {
	s := Summarize([]float64{1, 2, 3, 4})
	// mean 2.5; squared deviations 2.25+0.25+0.25+2.25 = 5; 5/(4-1).
	if s.N != 4 || s.Mean != 2.5 || math.Abs(s.Std-math.Sqrt(5.0/3)) > 1e-15 {
		t.Errorf("Summarize(1..4) = %+v, want mean 2.5, std sqrt(5/3)", s)
	}
	if s := Summarize([]float64{7}); s.Mean != 7 || s.Std != 0 || s.N != 1 {
		t.Errorf("one value: %+v", s)
	}
	if s := Summarize(nil); s.N != 0 || !math.IsNaN(s.Mean) {
		t.Errorf("no value: %+v", s)
	}
}

func TestBuildTableStats(t *testing.T) {
	tab, err := BuildTable(fixture("cifar100"), TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tab.Sets, ","); got != "svhn,lsun_c,textures" {
		t.Errorf("sets %s, want the paper's order svhn,lsun_c,textures", got)
	}
	var order []string
	for _, r := range tab.Rows {
		order = append(order, r.Method)
	}
	if got := strings.Join(order, ","); got != "msp,energy,ntom,dos,mymethod" {
		t.Errorf("row order %s, want msp,energy,ntom,dos,mymethod", got)
	}
	dos := tab.Rows[3]
	// DOS SVHN FPR95: 10, 12, 14 -> mean 12, sample std 2.
	near := func(what string, s Stat, mean, std float64, n int) {
		t.Helper()
		if s.N != n || math.Abs(s.Mean-mean) > 1e-9 || math.Abs(s.Std-std) > 1e-9 {
			t.Errorf("%s = %+v, want %v ± %v (n=%d)", what, s, mean, std, n)
		}
	}
	near("dos svhn fpr", dos.FPR[0], 12, 2, 3)
	// Per-seed averages 20, 23, 26 -> 23 ± 3.
	near("dos avg fpr", dos.AvgFPR, 23, 3, 3)
	// Accuracy 75.5, 75, 76 -> 75.5 ± 0.5.
	near("dos acc", dos.Accuracy, 75.5, 0.5, 3)
	// Energy AUROC SVHN 96, 96.6 -> 96.3 ± sqrt(0.18).
	near("energy svhn auroc", tab.Rows[1].AUROC[0], 96.3, math.Sqrt(0.18), 2)
	if r := tab.Rows[4]; r.Seeds != 1 || r.Runs != 2 {
		t.Errorf("mymethod seeds %d runs %d, want 1 and 2", r.Seeds, r.Runs)
	}
	if r := tab.Rows[2]; r.Seeds != 0 || r.FPR[0].N != 0 {
		t.Errorf("ntom (only running) should have no data: %+v", r)
	}
	// The OOD-positive convention reads the other field (+5 in the fixture).
	tab2, err := BuildTable(fixture("cifar100"), TableOptions{Convention: metrics.OODPositive})
	if err != nil {
		t.Fatal(err)
	}
	near("dos svhn fpr ood-positive", tab2.Rows[3].FPR[0], 17, 2, 3)
	if !strings.Contains(tab2.Caption(), "OOD-positive") || strings.Contains(tab.Caption(), "OOD-positive") {
		t.Error("the caption must name the convention")
	}
}

func TestTableGoldens(t *testing.T) {
	tab, err := BuildTable(fixture("cifar100"), TableOptions{Title: "Synthetic test results"})
	if err != nil {
		t.Fatal(err)
	}
	md, cs, tex := tab.Markdown(), tab.CSV(), tab.LaTeX()
	checkGolden(t, "table.md.golden", md)
	checkGolden(t, "table.csv.golden", cs)
	checkGolden(t, "table.tex.golden", tex)

	// Independent of the golden files: the best cells are bold.
	for _, want := range []string{"**12.0 ± 2.0**", "**97.3 ± 0.3**", "**75.6**", "**23.0 ± 3.0**"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks bold best cell %q", want)
		}
	}
	if !strings.Contains(tex, `\textbf{12.0 $\pm$ 2.0}`) || !strings.Contains(tex, `\toprule`) ||
		!strings.Contains(tex, `\multicolumn{2}{c}{LSUN-C}`) {
		t.Error("LaTeX lacks bold cell, booktabs rule or set group header")
	}
	recs, err := csv.NewReader(strings.NewReader(cs)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 6 || len(recs[0]) != 3+4*3+6 {
		t.Fatalf("CSV has %d rows of %d fields, want 6 of %d", len(recs), len(recs[0]), 3+4*3+6)
	}
	if recs[4][0] != "dos" || recs[4][3] != "12.0000" || recs[4][4] != "2.0000" {
		t.Errorf("CSV dos row %v", recs[4])
	}
	if recs[1][0] != "msp" || recs[1][4] != "" {
		t.Errorf("CSV: a single seed must leave the std empty: %v", recs[1])
	}
}

func sixSetRuns() []RunResult {
	sets := func(f, a float64) map[string]metrics.Result {
		m := map[string]metrics.Result{}
		for i, s := range []string{"svhn", "lsun_c", "dtd", "places365", "lsun_resize", "isun"} {
			m[s] = res(f+float64(i), a-float64(i)/10)
		}
		return m
	}
	return []RunResult{
		{Method: "dos", Seed: 3, Network: "densenet", Benchmark: "cifar100", PerSet: sets(14, 97), IDAccuracy: 0.752, Status: StatusDone},
		{Method: "dos", Seed: 14, Network: "densenet", Benchmark: "cifar100", PerSet: sets(16, 96), IDAccuracy: 0.758, Status: StatusDone},
		{Method: "oe", Seed: 3, Network: "densenet", Benchmark: "cifar100", PerSet: sets(40, 90), IDAccuracy: 0.744, Status: StatusDone},
		{Method: "mine", Seed: 3, Network: "densenet", Benchmark: "cifar100", PerSet: sets(30, 93), IDAccuracy: 0.7, Status: StatusDone},
	}
}

func TestCompareWithPaper(t *testing.T) {
	tab, err := BuildTable(sixSetRuns(), TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := CompareWithPaper(tab)
	if err != nil {
		t.Fatal(err)
	}
	md := c.Markdown()
	checkGolden(t, "compare.md.golden", md)
	checkGolden(t, "compare.csv.golden", c.CSV())
	checkGolden(t, "compare.tex.golden", c.LaTeX())
	// DOS SVHN: ours mean of 14 and 16 = 15.0, paper 13.1, diff +1.9.
	if !strings.Contains(md, "15.0 / 13.1 (+1.9)") {
		t.Errorf("comparison lacks DOS SVHN cell 15.0 / 13.1 (+1.9):\n%s", md)
	}
	// DOS accuracy 75.5 vs paper 75.5.
	if !strings.Contains(md, "75.5 / 75.5 (+0.0)") {
		t.Errorf("comparison lacks DOS accuracy cell:\n%s", md)
	}
	// Average FPR: per seed 14+2.5=16.5 and 18.5 -> 17.5 vs 24.4: -6.9.
	if !strings.Contains(md, "17.5 / 24.4 (−6.9)") {
		t.Errorf("comparison lacks DOS average cell:\n%s", md)
	}
	// The method outside the paper has no paper value.
	if !strings.Contains(md, "| mine | 1/1 | 30.0 |") {
		t.Errorf("method outside the paper should show ours only:\n%s", md)
	}
	if !strings.Contains(c.Caption(), PaperSource) {
		t.Error("caption must name the source of the paper's numbers")
	}

	if _, err := CompareWithPaper(&Table{Benchmark: "cifar10"}); err == nil {
		t.Error("CIFAR-10 table: want an error")
	}
	ood, _ := BuildTable(sixSetRuns(), TableOptions{Convention: metrics.OODPositive})
	if _, err := CompareWithPaper(ood); err == nil || !strings.Contains(err.Error(), "ID-positive") {
		t.Errorf("OOD-positive table: error %v, want one naming ID-positive", err)
	}
	// With a subset of the sets, the averages are left out.
	part, _ := BuildTable(sixSetRuns(), TableOptions{Sets: []string{"svhn", "isun"}})
	cp, _ := CompareWithPaper(part)
	if strings.Contains(cp.Markdown(), "Average FPR95") || !strings.Contains(cp.Caption(), "Averages omitted") {
		t.Error("subset of sets: averages should be omitted and the caption say so")
	}
}

func TestPaperTable1(t *testing.T) {
	p := PaperTable1()
	if len(p) != 7 {
		t.Fatalf("%d methods, want 7", len(p))
	}
	// The paper's averages are the means of its six columns, to rounding.
	for m, r := range p {
		var f, a float64
		for _, k := range paperSetOrder {
			f += r.FPR95[k]
			a += r.AUROC[k]
		}
		if math.Abs(f/6-r.AvgFPR95) > 0.1 || math.Abs(a/6-r.AvgAUROC) > 0.1 {
			t.Errorf("%s: column means %.2f/%.2f, paper averages %.1f/%.1f", m, f/6, a/6, r.AvgFPR95, r.AvgAUROC)
		}
	}
	if p["dos"].FPR95["lsunr"] != 8.2 || p["poem"].Accuracy != 63.4 {
		t.Error("spot check of transcribed values failed")
	}
}

func TestBuildTableErrors(t *testing.T) {
	runs := fixture("cifar100")
	runs[0].Benchmark = "cifar10"
	if _, err := BuildTable(runs, TableOptions{}); err == nil || !strings.Contains(err.Error(), "mix") {
		t.Errorf("mixed benchmarks: error %v", err)
	}
	runs = fixture("cifar100")
	runs = append(runs, runs[1])
	if _, err := BuildTable(runs, TableOptions{}); err == nil || !strings.Contains(err.Error(), "dos seed 3 appears twice") {
		t.Errorf("duplicate: error %v", err)
	}
	if _, err := BuildTable(nil, TableOptions{}); err == nil {
		t.Error("no runs: want an error")
	}
}

func TestTexEscape(t *testing.T) {
	got := texEscape(`a_b 5% & {x} ± ↓`)
	want := `a\_b 5\% \& \{x\} $\pm$ $\downarrow$`
	if got != want {
		t.Errorf("texEscape = %q, want %q", got, want)
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oodlab/dos/experiments/metrics"
	"github.com/oodlab/dos/internal/cli"
)

// TestDegenerateReport: DOS seed 1 diverged on SVHN (every score equal: FPR95 0, the best of
// the column). Its numbers are marked and never bold in the tables, the notes name the run,
// the set and the warning, and the report and stderr say so.
func TestDegenerateReport(t *testing.T) {
	f := buildStore(t)
	d := f.dirs["dos-1"]
	res, err := d.Results()
	if err != nil {
		t.Fatal(err)
	}
	warning := "all 400 scores (200 ID, 200 OOD) equal 3: the scores separate nothing"
	res.Sets["svhn"] = metrics.Result{NumID: 200, NumOOD: 200, FPR95: 0, FPR95OODPositive: 1, AUROC: 0.5, Warnings: metrics.NewWarnings(warning)}
	if err := d.WriteResults(res); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "report")
	code, _, stderr := runCLI("--grid", f.gridFile, "--runs", f.runs, "--out", out)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	name := filepath.Base(d.Path)
	if !strings.Contains(stderr, "warning: "+name+": svhn: degenerate scores: "+warning) {
		t.Errorf("stderr does not warn about the degenerate scores:\n%s", stderr)
	}
	tab := f.readOut(t, out, "table.md")
	// DOS seeds 1 and 3 on SVHN: 0 (degenerate) and 23: mean 11.5, marked, not bold.
	if !strings.Contains(tab, "| DOS | 2/3 | 11.5† ± 16.3 |") || strings.Contains(tab, "**11.5") {
		t.Errorf("table.md does not mark DOS's SVHN FPR95:\n%s", tab)
	}
	if !strings.Contains(tab, "- "+name+", SVHN: "+warning) {
		t.Errorf("table.md has no note naming the run, set and warning:\n%s", tab)
	}
	md := f.readOut(t, out, "report.md")
	for _, want := range []string{"## Degenerate scores", "- " + name + ", SVHN: " + warning, "| Degenerate scores | SVHN: " + warning} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	html := f.readOut(t, out, "report.html")
	if !strings.Contains(html, "11.5† ± 16.3") || !strings.Contains(html, `<li>`+name+`, SVHN: `+warning+`</li>`) {
		t.Errorf("report.html does not mark the cell or list the note")
	}
	if i := strings.Index(html, "<caption>"); i < 0 || strings.Contains(html[i:i+strings.Index(html[i:], "</caption>")], warning) {
		t.Errorf("report.html puts the note into the table's caption")
	}
	if _, err := os.Stat(filepath.Join(out, "plots", "training.svg")); err != nil {
		t.Fatal(err)
	}
	svg := f.readOut(t, out, "plots/training.svg")
	if !strings.Contains(svg, "degenerate scores") {
		t.Errorf("the training curves do not mark the degenerate final point")
	}
	if svg := f.readOut(t, out, "plots/scores-dos.svg"); !strings.Contains(svg, "degenerate scores") {
		t.Errorf("the score histograms of dos seed 1 do not say that SVHN's scores are degenerate")
	}
}

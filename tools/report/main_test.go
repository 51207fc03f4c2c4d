package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oodlab/dos/internal/testutil"

	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/metrics"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/internal/assert"
	"github.com/oodlab/dos/internal/cli"
	"github.com/oodlab/dos/sampling"
)

// tinyGrid is the test grid: the paper's CIFAR-100 benchmark, 3 methods x 3 seeds.
const tinyGrid = `name: tiny
description: synthetic grid of the report tests
base:
  benchmark:
    id: cifar100
    pool: ti300k
    tests: [svhn, lsun-c, textures, places365, lsun-r, isun]
  network: densenet-bc-100
  epochs: 3
  eval_every: 1
  optim: {milestones: [2]}
axes:
  method: [msp, energy, dos]
  seed: [1, 2, 3]
`

// fixedNow is the report's time stamp in the tests.
var fixedNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fixture is a run store with fixed synthetic results and the grid file.
type fixture struct {
	runs, gridFile string
	dirs           map[string]*store.RunDir // by "method-seed"
	stray          string
}

// setName lists the test sets in grid order.
var setNames = []string{"svhn", "lsun-c", "textures", "places365", "lsun-r", "isun"}

// result makes metrics from percentages; the OOD-positive FPR95 is fpr/2.
func result(fpr, auroc float64) metrics.Result {
	return metrics.Result{NumID: 1000, NumOOD: 500, FPR95: fpr / 100, FPR95OODPositive: fpr / 200, AUROC: auroc / 100}
}

// buildStore writes the test store:
//
//	msp s1, s2 done; msp s3 with a corrupt results.json
//	energy s1 done; energy s2 failed after 2 epochs (error.txt); energy s3 interrupted after 1 epoch
//	dos s1, s3 done (with diagnostics and scores); dos s2 missing
//
// plus a directory of a run of another grid under tiny/.
func buildStore(t *testing.T) *fixture {
	t.Helper()
	root := t.TempDir()
	f := &fixture{runs: filepath.Join(root, "runs"), gridFile: filepath.Join(root, "tiny.yaml"), dirs: map[string]*store.RunDir{}}
	if err := os.WriteFile(f.gridFile, []byte(tinyGrid), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := config.ParseGrid(f.gridFile, []byte(tinyGrid))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := g.Expand(nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(f.runs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		d, err := st.Dir("tiny", r)
		if err != nil {
			t.Fatal(err)
		}
		f.dirs[r.Method.Name+"-"+strconv.FormatUint(r.Seed, 10)] = d
	}
	// quality per method: lower FPR, higher AUROC; seeds differ a little.
	base := map[string]float64{"msp": 60, "energy": 30, "dos": 20}
	done := func(key string, epochs int) {
		d := f.dirs[key]
		m, seed := d.Run.Method.Name, int(d.Run.Seed)
		if err := d.Create(); err != nil {
			t.Fatal(err)
		}
		for ep := 1; ep <= epochs; ep++ {
			acc := 0.5 + 0.05*float64(ep) + 0.01*float64(seed)
			rec := store.EpochRecord{Epoch: ep, Loss: 2.0 / float64(ep), LR: 0.1, Seconds: 10 + float64(ep) + float64(seed)/10,
				ImagesPerSec: 500, Time: fixedNow}
			if ep < d.Run.Epochs { // the trainer leaves the last epoch's evaluation to results.json
				rec.TestAcc = &acc
				rec.FPR95 = map[string]float64{}
				for i, s := range setNames {
					rec.FPR95[s] = (base[m] + 20/float64(ep) + float64(i)) / 100
				}
			}
			if m == "dos" {
				rec.Diagnostics = map[string]float64{sampling.DiagInertia: 100 - 10*float64(ep), sampling.DiagPAbsPicks: 0.2 + 0.1*float64(ep),
					sampling.DiagPAbsAll: 0.5 + 0.1*float64(ep), sampling.DiagEmptyClusters: 0}
			}
			if kind := map[string]string{"energy": store.UncertaintyEnergy, "dos": store.UncertaintyPAbs}[m]; kind != "" {
				if rec.Diagnostics == nil {
					rec.Diagnostics = map[string]float64{}
				}
				rec.Diagnostics[store.DiagDiversity] = 20 + float64(ep) + base[m]/10
				rec.Diagnostics[store.DiagUncertaintyPrefix+kind] = 0.1*float64(ep) - base[m]/100
				rec.Diagnostics[store.DiagReferenceUncertaintyPrefix+kind] = 0.1*float64(ep) + 0.2
			}
			if err := d.AppendEpoch(rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	finish := func(key string) {
		d := f.dirs[key]
		m, seed := d.Run.Method.Name, int(d.Run.Seed)
		res := &store.Results{RunID: d.ID, Method: m, Seed: uint64(seed), Sets: map[string]metrics.Result{},
			IDAccuracy: 0.75 + 0.002*float64(seed), Epochs: d.Run.Epochs, WallSeconds: 40 + float64(seed),
			Backend: "go", Device: "device#0",
			DataChecksums: map[string]string{"cifar100": "verified", "svhn": "verified", "ti300k": "not checked (no checksum registered)"},
			Code: store.CodeInfo{Revision: "0123456789abcdef0123456789abcdef01234567", Modified: seed == 3, GoVersion: "go1.26.0",
				GoMLXVersion: "v0.26.0"},
			CommandLine: []string{"./bin/experiments", "--grid", "tiny.yaml"},
			Finished:    time.Date(2026, 1, 1, 10, seed, 0, 0, time.UTC)}
		for i, s := range setNames {
			res.Sets[s] = result(base[m]+float64(i)+float64(seed), 95-base[m]/4+float64(seed)/2)
		}
		// Every post-hoc score: the own one as Sets, the others worse by a score-dependent step.
		res.Score, res.KNNK, res.KNNTrain = d.Run.Method.Score, 200, 50000
		res.Scores = map[string]map[string]metrics.Result{}
		names := []string{"msp", "maxlogit", "energy", "knn"}
		if d.Run.Method.Outputs == config.OutputsAbsent {
			names = append(names, "absent")
		}
		for j, name := range names {
			res.Scores[name] = map[string]metrics.Result{}
			for i, s := range setNames {
				res.Scores[name][s] = res.Sets[s]
				if name != res.Score {
					res.Scores[name][s] = result(base[m]+float64(i)+float64(seed)+float64(3*(j+1)), 95-base[m]/4+float64(seed)/2-float64(j+1))
				}
			}
		}
		if err := d.WriteResults(res); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(d.File(store.LogFile), []byte("backend=go devices=[\"device#0\"]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"msp-1", "msp-2", "energy-1", "dos-1", "dos-3"} {
		done(k, 3)
		finish(k)
	}
	// Scores of dos seed 1 and msp seed 1: ID scores high, OOD lower.
	for _, k := range []string{"dos-1", "msp-1"} {
		d := f.dirs[k]
		write := func(name string, shift float64) {
			v := make([]float64, 200)
			for i := range v {
				v[i] = shift + math.Sin(float64(i))
			}
			if err := data.WriteNPY(d.File(filepath.Join(store.ScoresDir, name+".npy")), []int{len(v)}, v); err != nil {
				t.Fatal(err)
			}
		}
		write("id-test", 3)
		for i, s := range setNames {
			write(s, float64(i)/3)
		}
	}
	// msp s3: corrupt results.
	done("msp-3", 3)
	if err := os.WriteFile(f.dirs["msp-3"].File(store.ResultsFile), []byte(`{"run_id": "trunc`), 0o644); err != nil {
		t.Fatal(err)
	}
	// energy s2: failed after 2 epochs.
	done("energy-2", 2)
	if err := os.WriteFile(f.dirs["energy-2"].File(store.ErrorFile), []byte("train: epoch 3: loss is NaN (diverged)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// energy s3: interrupted after 1 epoch.
	done("energy-3", 1)
	// A run of another grid in this grid's directory.
	other := f.dirs["dos-1"].Run.Clone()
	other.Seed = 99
	od, err := st.Dir("tiny", other)
	if err != nil {
		t.Fatal(err)
	}
	if err := od.Create(); err != nil {
		t.Fatal(err)
	}
	f.stray = od.Path
	return f
}

// runCLI runs the command at fixedNow and returns exit status, stdout and
// stderr (with the error as the command prints it).
func runCLI(args ...string) (int, string, string) {
	return runCLICtx(context.Background(), args...)
}

// runCLICtx is runCLI with ctx.
func runCLICtx(ctx context.Context, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	err := makeReport(ctx, args, &out, &errb, func() time.Time { return fixedNow })
	code := cli.Report("report", err, &errb)
	return code, out.String(), errb.String()
}

// checkGolden compares got with testdata/NAME.golden (go test -update rewrites it).
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	assert.Golden(t, filepath.Join("testdata", name+".golden"), got)
}

// readOut reads an output file with the fixture's temporary paths replaced.
func (f *fixture) readOut(t *testing.T, out, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, name))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(b), f.runs, "$RUNS")
	return strings.ReplaceAll(s, f.gridFile, "$GRID")
}

func TestReportGolden(t *testing.T) {
	f := buildStore(t)
	out := filepath.Join(t.TempDir(), "report")
	code, stdout, stderr := runCLI("--grid", f.gridFile, "--runs", f.runs, "--out", out)
	if code != cli.ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "9 runs: 5 done, 1 running, 2 failed, 1 missing") {
		t.Errorf("stdout does not count 5 done, 1 running, 2 failed (one corrupt), 1 missing:\n%s", stdout)
	}
	// Warnings: the corrupt results file and the run of another grid, by path.
	corrupt := f.dirs["msp-3"].File(store.ResultsFile)
	for _, want := range []string{corrupt, f.stray} {
		if !strings.Contains(stderr, "warning: ") || !strings.Contains(stderr, want) {
			t.Errorf("stderr does not warn about %s:\n%s", want, stderr)
		}
	}
	for _, name := range []string{"table.md", "table.csv", "table.tex", "compare.md", "compare.csv", "compare.tex", "report.md"} {
		checkGolden(t, name, f.readOut(t, out, name))
	}
	md := f.readOut(t, out, "report.md")
	// The failed run with its failure text, the missing run, the interrupted run.
	for _, want := range []string{
		"**Failed (2):** " + filepath.Base(f.dirs["msp-3"].Path) + ", " + filepath.Base(f.dirs["energy-2"].Path) + ".",
		"train: epoch 3: loss is NaN (diverged)",
		"**Missing, not started (1):** " + filepath.Base(f.dirs["dos-2"].Path) + ".",
		"**Running or interrupted (1):** " + filepath.Base(f.dirs["energy-3"].Path) + ".",
		"corrupt results",
		"go run ./experiments --grid $GRID --only method=dos,seed=2\n",
		"go run ./experiments --grid $GRID --only method=dos,seed=1 --backend go",
		"revision 0123456789abcdef0123456789abcdef01234567 (dirty: built with uncommitted changes)",
		"| n |", "| DOS | 2/3 |", "| Energy | 1/3 |", "| MSP | 2/3 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	// The corrupt run is left out of the table: MSP's n counts 2 of 3.
	// Every run of the grid has its section.
	for k, d := range f.dirs {
		if !strings.Contains(md, "### "+filepath.Base(d.Path)+"\n") {
			t.Errorf("report.md has no section for run %s", k)
		}
	}
	if !strings.Contains(md, "- "+strings.ReplaceAll(f.stray, f.runs, "$RUNS")+": left out:") || strings.Contains(md, "### dos-s99") {
		t.Errorf("report.md must list the run of another grid as a warning, not as a run")
	}
	// A table per post-hoc score: absent only has DOS (the one method with the absent class), knn
	// every method; the own score's rows repeat the main table.
	for _, name := range []string{"msp", "maxlogit", "energy", "absent", "knn"} {
		for _, ext := range []string{"md", "csv", "tex"} {
			if _, err := os.Stat(filepath.Join(out, "table-"+name+"."+ext)); err != nil {
				t.Errorf("no table of score %s: %v", name, err)
			}
		}
	}
	checkGolden(t, "table-knn.md", f.readOut(t, out, "table-knn.md"))
	if absent := f.readOut(t, out, "table-absent.md"); !strings.Contains(absent, "| DOS | 2/3 |") || strings.Contains(absent, "| MSP |") ||
		!strings.Contains(absent, "the own score of DOS") {
		t.Errorf("table-absent.md: want DOS alone, as its own score:\n%s", absent)
	}
	if !strings.Contains(md, "**Every post-hoc score.**") || !strings.Contains(md, "[table-knn.md](table-knn.md)") {
		t.Errorf("report.md does not show the post-hoc scores' tables")
	}
	for _, p := range []string{"training", "scores-msp", "scores-dos", "dos-diagnostics", "outliers", "epoch-times"} {
		for _, ext := range []string{".svg", ".png"} {
			if fi, err := os.Stat(filepath.Join(out, "plots", p+ext)); err != nil || fi.Size() < 1000 {
				t.Errorf("plot %s%s missing or tiny: %v", p, ext, err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(out, "plots", "scores-energy.svg")); err == nil {
		t.Errorf("scores-energy.svg drawn although no energy run has scores")
	}
	checkHTML(t, f.readOut(t, out, "report.html"), f)
}

// checkHTML checks that report.html is self-contained and lists every run.
func checkHTML(t *testing.T, html string, f *fixture) {
	t.Helper()
	imgs := regexp.MustCompile(`<img src="data:image/svg\+xml;base64,[A-Za-z0-9+/=]+"`).FindAllString(html, -1)
	if len(imgs) != 6 {
		t.Errorf("report.html embeds %d SVG images, want 6", len(imgs))
	}
	rest := regexp.MustCompile(`data:[^"]*`).ReplaceAllString(html, "")
	for _, bad := range []string{"http:", "https:", "<link", "<script", "url(", "@import", `src="`} {
		if bad == `src="` {
			if strings.Count(rest, bad) != len(imgs) {
				t.Errorf("report.html has src attributes other than its embedded images")
			}
			continue
		}
		if strings.Contains(rest, bad) {
			t.Errorf("report.html refers to an external resource (%q)", bad)
		}
	}
	for k, d := range f.dirs {
		if !strings.Contains(html, `id="run-`+filepath.Base(d.Path)+`"`) {
			t.Errorf("report.html has no section for run %s", k)
		}
	}
	for _, want := range []string{"train: epoch 3: loss is NaN (diverged)", "<table>", "<b>", "Missing, not started (1)"} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}

func TestReportOODConvention(t *testing.T) {
	f := buildStore(t)
	out := filepath.Join(t.TempDir(), "r")
	if code, _, stderr := runCLI("--grid", f.gridFile, "--runs", f.runs, "--out", out, "--fpr", "ood"); code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	tab := f.readOut(t, out, "table.md")
	if !strings.Contains(tab, "OOD-positive") {
		t.Errorf("--fpr ood: the caption does not name the OOD-positive FPR95:\n%s", tab)
	}
	// DOS seed 1, SVHN: ID-positive 20+0+1 = 21 %, OOD-positive half: 10.5 %; seed 3: 23 and 11.5: mean 11.0.
	if !strings.Contains(tab, "| DOS | 2/3 | **11.0 ± 0.7**") {
		t.Errorf("--fpr ood: DOS row does not show the OOD-positive FPR95 11.0 ± 0.7:\n%s", tab)
	}
	// The comparison with the paper stays ID-positive.
	if cmp := f.readOut(t, out, "compare.md"); !strings.Contains(cmp, "22.0 / ") {
		t.Errorf("compare.md does not use the ID-positive FPR95 (DOS SVHN 22.0):\n%s", cmp)
	}
	if md := f.readOut(t, out, "report.md"); !strings.Contains(md, "whatever --fpr says") {
		t.Errorf("report.md does not say the comparison is ID-positive")
	}
}

// TestDefaultOut: without --out the report goes to <runs>/<grid>/report, and
// a second run does not take that directory for a stray run.
func TestDefaultOut(t *testing.T) {
	f := buildStore(t)
	for i := range 2 {
		code, _, stderr := runCLI("--grid", f.gridFile, "--runs", f.runs)
		if code != cli.ExitOK {
			t.Fatalf("run %d: exit %d: %s", i, code, stderr)
		}
		if strings.Contains(stderr, filepath.Join("tiny", "report")) {
			t.Errorf("run %d: the report directory is warned about:\n%s", i, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(f.runs, "tiny", "report", "report.html")); err != nil {
		t.Error(err)
	}
}

func TestBadInput(t *testing.T) {
	f := buildStore(t)
	empty := t.TempDir()
	missing := filepath.Join(t.TempDir(), "nowhere")
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no grid", []string{"--runs", f.runs}, cli.ExitUsage, "--grid is required"},
		{"unknown grid", []string{"--grid", "no-such-grid", "--runs", f.runs}, cli.ExitUsage, "no-such-grid"},
		{"bad fpr", []string{"--grid", f.gridFile, "--runs", f.runs, "--fpr", "both"}, cli.ExitUsage, `--fpr "both"`},
		{"unknown flag", []string{"--grid", f.gridFile, "--colour"}, cli.ExitUsage, "colour"},
		{"extra argument", []string{"--grid", f.gridFile, "extra"}, cli.ExitUsage, "extra"},
		{"missing store", []string{"--grid", f.gridFile, "--runs", missing}, cli.ExitFailed, "run store " + missing + " does not exist"},
		{"empty store", []string{"--grid", f.gridFile, "--runs", empty}, cli.ExitFailed, "no runs of grid tiny in " + filepath.Join(empty, "tiny")},
		{"store is a file", []string{"--grid", f.gridFile, "--runs", f.gridFile}, cli.ExitFailed, f.gridFile + " is not a directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(c.args...)
			if code != c.code || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, c.code, c.want)
			}
			if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") {
				t.Errorf("stack trace for a user error:\n%s", stderr)
			}
		})
	}
	// Only runs of another grid under the grid's directory: an error that says so.
	onlyStray := t.TempDir()
	if err := os.MkdirAll(filepath.Join(onlyStray, "tiny"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.stray, filepath.Join(onlyStray, "tiny", filepath.Base(f.stray))); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI("--grid", f.gridFile, "--runs", onlyStray)
	if code != cli.ExitFailed || !strings.Contains(stderr, "no runs of grid tiny") || !strings.Contains(stderr, "1 other directory") {
		t.Errorf("store with only another grid's run: exit %d, %q", code, stderr)
	}
	// -h prints the usage and exits 0.
	code, stdout, stderr := runCLI("-h")
	if code != cli.ExitOK || !strings.Contains(stderr, "usage: go run ./tools/report --grid") || !strings.Contains(stderr, "-fpr") || stdout != "" {
		t.Errorf("-h: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestInterrupted: a cancelled context stops the report before report.html
// and the command exits 130.
func TestInterrupted(t *testing.T) {
	f := buildStore(t)
	out := filepath.Join(t.TempDir(), "report")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	code, stdout, stderr := runCLICtx(ctx, "--grid", f.gridFile, "--runs", f.runs, "--out", out)
	if code != cli.ExitInterrupted || !strings.Contains(stderr, "report: "+out+": report not complete: context canceled") || stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit %d", code, stdout, stderr, cli.ExitInterrupted)
	}
	if _, err := os.Stat(filepath.Join(out, "report.html")); err == nil {
		t.Errorf("report.html written by an interrupted run")
	}
}

// TestRenderChromium renders report.html with headless Chromium
// (render_check.sh) and checks the screenshot is not blank.
func TestRenderChromium(t *testing.T) {
	if _, err := exec.LookPath("chromium"); err != nil {
		testutil.MissingTool(t, "chromium is not installed: the rendering check needs it", "apt-get install -y chromium")
	}
	if testing.Short() {
		t.Skip("-short: skipping the Chromium rendering check")
	}
	f := buildStore(t)
	out := filepath.Join(t.TempDir(), "r")
	if code, _, stderr := runCLI("--grid", f.gridFile, "--runs", f.runs, "--out", out); code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	png := filepath.Join(t.TempDir(), "shot.png")
	cmd := exec.Command("sh", "tools/report/render_check.sh", filepath.Join(out, "report.html"), png)
	cmd.Dir = filepath.Join("..", "..")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("render_check.sh: %v\n%s", err, b)
	}
	if !strings.Contains(string(b), "distinct colours") {
		t.Errorf("render_check.sh printed no image statistics:\n%s", b)
	}
}

// TestCorruptLeftOutOfPlots: the run with a corrupt results file is counted
// in the table (n = done / runs) but gives no data to the plots.
func TestCorruptLeftOutOfPlots(t *testing.T) {
	f := buildStore(t)
	rep, err := gather(Options{GridArg: f.gridFile, Runs: f.runs, Out: t.TempDir(), Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	secs := sections(rep)
	if len(secs) != 1 || len(secs[0].Runs) != 9 || len(secs[0].PlotRuns) != 8 {
		t.Fatalf("sections: %d, runs %d, plot runs %d; want 1, 9, 8", len(secs), len(secs[0].Runs), len(secs[0].PlotRuns))
	}
	for _, r := range secs[0].PlotRuns {
		if r.Method == "msp" && r.Seed == 3 {
			t.Errorf("the run with the corrupt results file is plotted")
		}
	}
}

// TestFinalPoint: a done run's last epoch gets the final evaluation of
// results.json (mean FPR95 over sets, ID accuracy) when metrics.jsonl left it out.
func TestFinalPoint(t *testing.T) {
	f := buildStore(t)
	rep, err := gather(Options{GridArg: f.gridFile, Runs: f.runs, Out: t.TempDir(), Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.Runs {
		if e.Result.Method != "dos" || e.Result.Seed != 1 {
			continue
		}
		last := e.Result.Epochs[len(e.Result.Epochs)-1]
		// dos seed 1: FPR95 20+i+1 for i = 0..5: mean 23.5 %; accuracy 0.752.
		if last.Epoch != 3 || math.Abs(last.FPR95-0.235) > 1e-12 || last.TestAccuracy != 0.752 {
			t.Errorf("last epoch %d: FPR95 %v, accuracy %v; want 3, 0.235, 0.752", last.Epoch, last.FPR95, last.TestAccuracy)
		}
		return
	}
	t.Fatal("dos seed 1 not found")
}

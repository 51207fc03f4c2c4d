package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/metrics"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/internal/cli"
)

// sweepGrid sweeps the learning rate besides method and seed.
const sweepGrid = `name: sweep
description: a learning-rate sweep
base:
  benchmark: {id: cifar10, pool: ti300k, tests: [svhn, textures]}
  network: densenet-bc-100
  epochs: 2
  optim: {milestones: [1]}
axes:
  method: [energy, dos]
  seed: [3, 14]
  optim.lr: [0.02, 0.1]
`

// buildSweepStore writes a store in which every run of sweepGrid is done.
func buildSweepStore(t *testing.T) (runsDir, gridFile string, dirs []*store.RunDir) {
	t.Helper()
	root := t.TempDir()
	runsDir, gridFile = filepath.Join(root, "runs"), filepath.Join(root, "sweep.yaml")
	if err := os.WriteFile(gridFile, []byte(sweepGrid), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := config.ParseGrid(gridFile, []byte(sweepGrid))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := g.Expand(nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(runsDir)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range runs {
		d, err := st.Dir(g.Name, r)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Create(); err != nil {
			t.Fatal(err)
		}
		for ep := 1; ep <= 2; ep++ {
			acc := 0.5 + 0.1*float64(ep)
			rec := store.EpochRecord{Epoch: ep, Loss: 1 / float64(ep), Seconds: 5, Time: fixedNow, TestAcc: &acc,
				FPR95: map[string]float64{"svhn": 0.5 - 0.1*float64(ep) - 0.01*float64(i), "textures": 0.6}}
			if err := d.AppendEpoch(rec); err != nil {
				t.Fatal(err)
			}
		}
		res := &store.Results{RunID: d.ID, Method: r.Method.Name, Seed: r.Seed, IDAccuracy: 0.7, Epochs: 2, Backend: "go",
			Sets: map[string]metrics.Result{"svhn": result(20+float64(i), 90), "textures": result(30+float64(i), 85)}}
		if err := d.WriteResults(res); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	return runsDir, gridFile, dirs
}

// TestSweepReport: the report of a grid that sweeps optim.lr has a table row per (method, lr),
// training curves, and distinct run names that show the learning rate.
func TestSweepReport(t *testing.T) {
	runsDir, gridFile, dirs := buildSweepStore(t)
	names := map[string]bool{}
	for _, d := range dirs {
		n := filepath.Base(d.Path)
		if !strings.Contains(n, "-lr0.02-") && !strings.Contains(n, "-lr0.1-") {
			t.Errorf("run name %s does not show the learning rate", n)
		}
		names[n] = true
	}
	if len(names) != 8 {
		t.Errorf("%d distinct run names, want 8", len(names))
	}
	out := filepath.Join(t.TempDir(), "report")
	code, stdout, stderr := runCLI("--grid", gridFile, "--runs", runsDir, "--out", out)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "8 runs: 8 done") {
		t.Errorf("stdout: %s", stdout)
	}
	tab, err := os.ReadFile(filepath.Join(out, "table.md"))
	if err != nil {
		t.Fatalf("no table: %v\nstderr: %s", err, stderr)
	}
	for _, want := range []string{"| Energy | lr=0.02 | 2/2 |", "| Energy | lr=0.1 | 2/2 |", "| DOS | lr=0.02 | 2/2 |", "| DOS | lr=0.1 | 2/2 |"} {
		if !strings.Contains(string(tab), want) {
			t.Errorf("table.md lacks %q:\n%s", want, tab)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "plots", "training.svg")); err != nil {
		t.Errorf("no training curves: %v", err)
	}
	md, _ := os.ReadFile(filepath.Join(out, "report.md"))
	for _, want := range []string{"Energy (lr=0.02), seed 3: done", "--only method=energy,seed=3,optim.lr=0.02"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if strings.Contains(string(md), "No table") {
		t.Errorf("report.md has no table")
	}
}

// TestSweepOldName: a run of a sweep stored under the name it had before run names showed the
// swept values is found there; when a directory with its new name exists too, the old one is
// named in a warning that says it is not used.
func TestSweepOldName(t *testing.T) {
	runsDir, gridFile, dirs := buildSweepStore(t)
	d := dirs[0]
	old := filepath.Join(filepath.Dir(d.Path), d.Run.Method.Name+"-s3-"+d.ID)
	if err := os.Rename(d.Path, old); err != nil {
		t.Fatal(err)
	}
	// The store finds the run under its old name: it is reported, not missing.
	code, stdout, stderr := runCLI("--grid", gridFile, "--runs", runsDir, "--out", filepath.Join(t.TempDir(), "r"))
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "8 done, 0 running, 0 failed, 0 missing") || strings.Contains(stderr, "left out") {
		t.Errorf("old name alone: stdout %s\nstderr %s", stdout, stderr)
	}
	// With a directory under the new name as well, the old one is not used, and the report says so.
	if err := os.MkdirAll(d.Path, 0o755); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI("--grid", gridFile, "--runs", runsDir, "--out", filepath.Join(t.TempDir(), "r"))
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "7 done, 0 running, 0 failed, 1 missing") ||
		!strings.Contains(stderr, old+": left out: it holds run "+filepath.Base(d.Path)) || !strings.Contains(stderr, "not used while "+filepath.Base(d.Path)+" exists") {
		t.Errorf("both names: stdout %s\nstderr %s", stdout, stderr)
	}
}

// TestStaleFilesRemoved: a report rewritten into the same directory removes the plots and tables
// of an earlier report that it no longer writes, and nothing else.
func TestStaleFilesRemoved(t *testing.T) {
	runsDir, gridFile, _ := buildSweepStore(t)
	out := filepath.Join(t.TempDir(), "report")
	if code, _, stderr := runCLI("--grid", gridFile, "--runs", runsDir, "--out", out); code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	stale := []string{"plots/hist-oldmethod-s3.svg", "plots/hist-oldmethod-s3.png", "table-oldbench-mlp.md", "compare-oldbench-mlp.csv"}
	kept := []string{"notes.txt", "plots/README", "tables.zip"}
	for _, f := range append(stale, kept...) {
		if err := os.WriteFile(filepath.Join(out, filepath.FromSlash(f)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr := runCLI("--grid", gridFile, "--runs", runsDir, "--out", out)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, f := range stale {
		if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(f))); err == nil {
			t.Errorf("stale %s left in place", f)
		}
		if !strings.Contains(stdout, f) {
			t.Errorf("stdout does not name the removed %s: %s", f, stdout)
		}
	}
	for _, f := range append(kept, "table.md", "plots/training.svg", "report.html") {
		if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(f))); err != nil {
			t.Errorf("%s removed: %v", f, err)
		}
	}
}

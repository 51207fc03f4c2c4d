package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oodlab/dos/benchmarks/perf/harness"
	"github.com/oodlab/dos/internal/cli"
	"github.com/oodlab/dos/models"
)

// TestHarnessTiny runs the whole command on the pure-Go backend at tiny shapes and checks that
// the JSON line parses, that every requested part has positive timings, that the ratio is the
// ratio of the medians, and that --json and --compare round-trip the result.
func TestHarnessTiny(t *testing.T) {
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "r.json")
	var out, errOut bytes.Buffer
	args := []string{"--backend", "go", "--network", "small-cnn", "--image", "8", "--classes", "5",
		"--id-batch", "4", "--candidates", "16", "--ood-batch", "4", "--iters", "2", "--warmup", "0",
		"--pipeline", "--pipeline-batches", "2", "--json", jsonPath}
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var r harness.Result
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("last stdout line is not JSON: %v\n%s", err, out.String())
	}
	if r.Tool != "gomlx" || r.Network != "small-cnn" || r.Backend != "go" || r.Params <= 0 {
		t.Errorf("header fields: tool %q network %q backend %q params %d", r.Tool, r.Network, r.Backend, r.Params)
	}
	if r.Selection != harness.SelectionHost || !strings.Contains(out.String(), "DOS selection: host") {
		t.Errorf("selection %q: on the pure-Go backend the DOS selection runs on the host, as in training", r.Selection)
	}
	arch, err := models.Lookup("small-cnn")
	if err != nil {
		t.Fatal(err)
	}
	want := harness.Shapes{IDBatch: 4, Candidates: 16, OODBatch: 4, Classes: 5, Outputs: 6, Image: 8, Channels: 3,
		FeatureDim: arch.FeatureSize(6), NInit: 5, KMeansIters: r.Shapes.KMeansIters}
	if r.Shapes != want || r.Shapes.KMeansIters <= 0 {
		t.Errorf("shapes %+v, want %+v", r.Shapes, want)
	}
	if r.Split == nil {
		t.Fatal("no split in the result")
	}
	for name, tm := range map[string]*harness.Timing{"random": r.Random, "dos": r.DOS, "scoring": r.Split.Scoring,
		"clustering": r.Split.Clustering, "selection": r.Split.Selection, "training": r.Split.Training} {
		if tm == nil {
			t.Errorf("%s: missing", name)
			continue
		}
		if tm.N != 2 || !(tm.MedianMS > 0) || !(tm.P10MS > 0) || tm.P10MS > tm.MedianMS || tm.MedianMS > tm.P90MS ||
			tm.MinMS > tm.P10MS || tm.P90MS > tm.MaxMS || !(tm.FirstMS > 0) || tm.CompileMS < 0 || !(tm.ImagesPerS > 0) {
			t.Errorf("%s: implausible timing %+v", name, *tm)
		}
	}
	if r.Random != nil && r.DOS != nil {
		if got, want := r.DOSOverRandom, r.DOS.MedianMS/r.Random.MedianMS; got != want {
			t.Errorf("dos_over_random %v, want %v", got, want)
		}
	}
	if p := r.Pipeline; p == nil || !(p.IDBatchesPerS1 > 0) || !(p.IDBatchesPerSAll > 0) || !(p.CandidateBlocksPerSAll > 0) ||
		!(p.DOSItersPerSAll > 0) || !(p.OverDOSConsumption > 0) {
		t.Errorf("pipeline: %+v", p)
	}
	if !(r.Memory.MaxRSSMB > 0) || !(r.Memory.GoHeapPeakMB > 0) {
		t.Errorf("memory: %+v", r.Memory)
	}
	if r.Versions["go"] == "" {
		t.Errorf("versions: %v", r.Versions)
	}
	back, err := harness.ReadResult(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if back.DOS == nil || back.DOS.MedianMS != r.DOS.MedianMS || back.Partial {
		t.Errorf("--json file does not hold the printed (final) result")
	}
	if m, _ := filepath.Glob(jsonPath + ".tmp*"); len(m) > 0 {
		t.Errorf("temporary files left behind: %v", m)
	}

	// --load prints the stored result again, without measuring.
	out.Reset()
	if err := run(context.Background(), []string{"--load", jsonPath, "--compare", jsonPath}, &out, &errOut); err != nil {
		t.Fatalf("run --load: %v", err)
	}
	lines = strings.Split(strings.TrimSpace(out.String()), "\n")
	if lines[len(lines)-1] != strings.TrimSpace(r2line(t, jsonPath)) || !strings.Contains(out.String(), "1.00x") {
		t.Errorf("--load output:\n%s", out.String())
	}

	// --method kmeans: the clustering part alone, compared with the file written above.
	out.Reset()
	args = []string{"--backend", "go", "--method", "kmeans", "--candidates", "16", "--ood-batch", "4",
		"--feature-dim", "8", "--iters", "2", "--warmup", "0", "--compare", jsonPath}
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("run kmeans: %v\nstderr:\n%s", err, errOut.String())
	}
	lines = strings.Split(strings.TrimSpace(out.String()), "\n")
	var k harness.Result
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &k); err != nil {
		t.Fatal(err)
	}
	if k.Random != nil || k.DOS != nil || k.Split == nil || k.Split.Clustering == nil || !(k.Split.Clustering.MedianMS > 0) ||
		k.Shapes.FeatureDim != 8 {
		t.Errorf("kmeans result: %s", lines[len(lines)-1])
	}
	if !strings.Contains(out.String(), "clustering") || !strings.Contains(out.String(), "gomlx / gomlx") {
		t.Errorf("comparison table missing:\n%s", out.String())
	}

	// --selection graph: the graph K-means on the same backend.
	out.Reset()
	if err := run(context.Background(), append(args[:len(args)-2], "--selection", "graph"), &out, &errOut); err != nil {
		t.Fatalf("run kmeans --selection graph: %v\nstderr:\n%s", err, errOut.String())
	}
	lines = strings.Split(strings.TrimSpace(out.String()), "\n")
	var g harness.Result
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &g); err != nil {
		t.Fatal(err)
	}
	if g.Selection != harness.SelectionGraph || k.Selection != harness.SelectionHost || g.Split == nil || g.Split.Clustering == nil ||
		!(g.Split.Clustering.MedianMS > 0) {
		t.Errorf("--selection graph: %s (without it: selection %q)", lines[len(lines)-1], k.Selection)
	}
}

// TestFlagErrors checks that user mistakes are errors naming the flag: usage errors (exit
// status 2) for the command line, failures (1) for an unreadable file.
func TestFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--method", "fast"}, cli.ExitUsage, "method"},
		{[]string{"--network", "vgg"}, cli.ExitUsage, "network"},
		{[]string{"--candidates", "8", "--ood-batch", "16"}, cli.ExitUsage, "ood-batch"},
		{[]string{"--iters", "0"}, cli.ExitUsage, "iters"},
		{[]string{"--method", "none"}, cli.ExitUsage, "pipeline"},
		{[]string{"--iters", "x"}, cli.ExitUsage, "iters"},
		{[]string{"--iters", "2", "extra"}, cli.ExitUsage, "extra"},
		{[]string{"--selection", "fast"}, cli.ExitUsage, "selection"},
		{[]string{"--programs", "--selection", "host"}, cli.ExitUsage, "selection"},
		{[]string{"--compare", "/nonexistent.json"}, cli.ExitFailed, "--compare"},
		{[]string{"--load", "/nonexistent.json"}, cli.ExitFailed, "--load"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), c.args, &out, &errOut)
		if code := cli.Report("perf", err, &errOut); code != c.code || !strings.Contains(errOut.String(), c.want) || out.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit %d and %q", c.args, code, errOut.String(), out.String(), c.code, c.want)
		}
	}
	// A cancelled context measures nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"--backend", "go", "--network", "small-cnn", "--image", "8"}, &out, &errOut)
	if cli.ExitCode(err) != cli.ExitInterrupted || !errors.Is(err, context.Canceled) || out.Len() != 0 {
		t.Errorf("cancelled: %v, stdout %q", err, out.String())
	}
}

// TestSIGTERM builds the command and checks that the first SIGTERM (timeout(1)'s, as
// benchmarks/gpu/device_checks.sh sends) stops a measurement at once with status 130, although
// the harness cannot be stopped midway.
func TestSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "perf")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "--backend", "go", "--network", "small-cnn", "--image", "8", "--classes", "5",
		"--id-batch", "4", "--candidates", "16", "--ood-batch", "4", "--iters", "1000000", "--warmup", "0")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != cli.ExitInterrupted || !strings.Contains(stderr.String(), "perf: measurement stopped: context canceled") {
			t.Errorf("exit %v, want status %d; stderr:\n%s", err, cli.ExitInterrupted, stderr.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("still running 20 s after SIGTERM; stderr:\n%s", stderr.String())
	}
}

// r2line returns the JSON line stored in path.
func r2line(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPrograms checks --programs: every part's StableHLO program is emitted (no backend runs),
// written to --programs-dir, and its operation counts reach the JSON line; the DOS program holds
// exactly one inference pass (the scoring program's convolutions) more than the random one.
func TestPrograms(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	args := []string{"--programs", "--programs-dir", dir, "--network", "small-cnn", "--image", "8", "--classes", "5",
		"--id-batch", "4", "--candidates", "16", "--ood-batch", "4"}
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var r harness.Result
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatal(err)
	}
	if r.Random != nil || r.DOS != nil || r.Backend != "stablehlo" {
		t.Errorf("--programs measured something: backend %q, random %v, dos %v", r.Backend, r.Random, r.DOS)
	}
	for _, part := range []string{"random", "dos", "scoring", "selection", "clustering"} {
		if r.Programs[part]["total"] <= 0 {
			t.Errorf("%s: no operations counted: %v", part, r.Programs[part])
		}
		if fi, err := os.Stat(filepath.Join(dir, part+".mlir")); err != nil || fi.Size() == 0 {
			t.Errorf("%s.mlir not written: %v", part, err)
		}
	}
	n := r.Programs["scoring"]["convolution"]
	if n == 0 || r.Programs["dos"]["convolution"]-r.Programs["random"]["convolution"] != n || r.Programs["clustering"]["convolution"] != 0 {
		t.Errorf("convolutions: scoring %d, random %d, dos %d, clustering %d", n, r.Programs["random"]["convolution"],
			r.Programs["dos"]["convolution"], r.Programs["clustering"]["convolution"])
	}
	if !strings.Contains(out.String(), "StableHLO programs") {
		t.Errorf("no programs table:\n%s", out.String())
	}

	// Without the empty-cluster relocation the clustering program is smaller, and nothing else
	// changes in the random step.
	out.Reset()
	if err := run(context.Background(), append([]string{"--programs", "--kmeans-keep-empty"}, args[3:]...), &out, &errOut); err != nil {
		t.Fatalf("run --kmeans-keep-empty: %v", err)
	}
	lines = strings.Split(strings.TrimSpace(out.String()), "\n")
	var keep harness.Result
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &keep); err != nil {
		t.Fatal(err)
	}
	if keep.Programs["clustering"]["total"] >= r.Programs["clustering"]["total"] || keep.Programs["random"]["total"] != r.Programs["random"]["total"] {
		t.Errorf("--kmeans-keep-empty: clustering %d ops (relocating: %d), random %d (%d)", keep.Programs["clustering"]["total"],
			r.Programs["clustering"]["total"], keep.Programs["random"]["total"], r.Programs["random"]["total"])
	}
}

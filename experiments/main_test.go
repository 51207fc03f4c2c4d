package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/grids"
	"github.com/oodlab/dos/experiments/metrics"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/internal/cli"
)

// call runs the command and returns its exit code, stdout and stderr (with the error as
// cli.Main prints it).
func call(t testing.TB, ctx context.Context, newExec executorFactory, args ...string) (int, string, string) {
	t.Helper()
	var out, errw strings.Builder
	code := cli.Report("experiments", runWith(ctx, args, &out, &errw, newExec), &errw)
	return code, out.String(), errw.String()
}

func noExecutor(execOptions) (store.Executor, error) { return newExecutor(execOptions{}) }

func TestDryRunPaperGrid(t *testing.T) {
	dataDir, outDir := t.TempDir(), t.TempDir()
	code, out, errs := call(t, context.Background(), noExecutor, "--grid", "cifar100-ti300k", "--dry-run", "--data", dataDir, "--out", outDir)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	runLine := regexp.MustCompile(`(?m)^  (msp|oe|energy|ntom|share|poem|dos)-s(3|14|42)-([0-9a-f]{12})\s+([0-9a-f]{12})\s+new$`)
	if n := len(runLine.FindAllString(out, -1)); n != 21 {
		t.Errorf("%d run lines, want 21:\n%s", n, out)
	}
	for _, want := range []string{
		"21 runs",
		"status: 0 done, 0 partial, 0 locked, 21 new",
		filepath.Join(dataDir, "300K_random_images.npy"),
		filepath.Join(dataDir, "cifar-100-binary"),
		"go run ./tools/fetch ti300k",
		"svhn", "lsun-c", "textures", "places365", "lsun-r", "isun",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, out)
		}
	}
	if entries, _ := os.ReadDir(outDir); len(entries) != 0 {
		t.Errorf("dry run wrote into the store: %v", entries)
	}
	// --only.
	code, out, _ = call(t, context.Background(), noExecutor, "--grid", "cifar100-ti300k", "--dry-run", "--data", dataDir, "--out", outDir, "--only", "method=dos,seed=3")
	if code != cli.ExitOK || len(runLine.FindAllString(out, -1)) != 1 || !strings.Contains(out, "dos-s3-") {
		t.Errorf("--only method=dos,seed=3: exit %d\n%s", code, out)
	}
	// Without a dry run, missing data stops everything before training.
	code, _, errs = call(t, context.Background(), noExecutor, "--grid", "cifar100-ti300k", "--data", dataDir, "--out", outDir)
	if code != cli.ExitFailed || !strings.Contains(errs, "300K_random_images.npy") {
		t.Errorf("missing data: exit %d, stderr %s", code, errs)
	}
}

func TestListAndUsage(t *testing.T) {
	code, out, _ := call(t, context.Background(), noExecutor, "--list")
	if code != cli.ExitOK {
		t.Fatalf("--list exit %d", code)
	}
	for _, want := range []string{"cifar100-ti300k", "cifar10-ti300k", "imagenet1k", "quick", "msp", "oe", "energy", "ntom", "share", "poem", "dos", "project's own recipe"} {
		if !strings.Contains(out, want) {
			t.Errorf("--list lacks %q:\n%s", want, out)
		}
	}
	if code, _, errs := call(t, context.Background(), noExecutor); code != cli.ExitUsage || !strings.Contains(errs, "--grid") {
		t.Errorf("no flags: exit %d %s", code, errs)
	}
	if code, _, errs := call(t, context.Background(), noExecutor, "--grid", "nosuch"); code != cli.ExitFailed || !strings.Contains(errs, "cifar100-ti300k") {
		t.Errorf("unknown grid: exit %d %s", code, errs)
	}
	if code, _, errs := call(t, context.Background(), noExecutor, "--grid", "quick", "--dry-run", "--only", "metod=dos"); code != cli.ExitUsage || !strings.Contains(errs, "metod") {
		t.Errorf("bad --only: exit %d %s", code, errs)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("name: bad\nbase:\n  network: mlp\n  epochs: 3\n  optim: {milestones: [2]}\n  batchsize: 3\naxes:\n  method: [dos]\n"), 0o644)
	if code, _, errs := call(t, context.Background(), noExecutor, "--grid", bad, "--dry-run"); code != cli.ExitFailed || !strings.Contains(errs, bad+":6:") || !strings.Contains(errs, `"batchsize"`) {
		t.Errorf("unknown key: exit %d %s", code, errs)
	}
	vgg := filepath.Join(t.TempDir(), "vgg.yaml")
	os.WriteFile(vgg, []byte("name: vgg\nbase:\n  network: vgg16\naxes:\n  method: [dos]\n"), 0o644)
	if code, _, errs := call(t, context.Background(), noExecutor, "--grid", vgg, "--dry-run"); code != cli.ExitFailed || !strings.Contains(errs, vgg+": network:") || !strings.Contains(errs, "vgg16") {
		t.Errorf("unknown network: exit %d %s", code, errs)
	}
}

// synthGrid writes a grid over the synthetic data sets (no files needed).
func synthGrid(t *testing.T) string {
	return writeSynthGrid(t, "{id: synthetic-mnist@0-4, pool: synthetic-mnist@5-7, tests: [synthetic-mnist@8-9], image_size: 28}")
}

// writeSynthGrid writes synthGrid's grid with the given benchmark.
func writeSynthGrid(t *testing.T, benchmark string) string {
	path := filepath.Join(t.TempDir(), "synth.yaml")
	text := `name: synth
description: synthetic data, for tests
base:
  benchmark: ` + benchmark + `
  network: mlp
  epochs: 3
  optim: {milestones: [2]}
  method: {outliers_per_epoch: 100}
axes:
  method: [msp, oe, dos]
  seed: [1, 2]
`
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// fakeExec completes runs, or blocks until cancelled when block is set.
type fakeExec struct {
	mu      sync.Mutex
	ran     []string
	block   chan struct{}
	started chan struct{}
}

func (f *fakeExec) Execute(ctx context.Context, r *config.Run, d *store.RunDir, log io.Writer) error {
	f.mu.Lock()
	f.ran = append(f.ran, d.ID)
	f.mu.Unlock()
	if err := d.AppendEpoch(store.EpochRecord{Epoch: 1}); err != nil {
		return err
	}
	if f.block != nil {
		close(f.started)
		<-ctx.Done()
		return fmt.Errorf("checkpointed at epoch 1: %w", ctx.Err())
	}
	for e := 2; e <= r.Epochs; e++ {
		d.AppendEpoch(store.EpochRecord{Epoch: e})
	}
	return d.WriteResults(fakeResults(d))
}

// fakeResults is a results.json with metrics for every test set of d's run.
func fakeResults(d *store.RunDir) *store.Results {
	res := store.NewResults(d.ID)
	res.Epochs = d.Run.Epochs
	for _, set := range d.Run.Benchmark.Tests {
		res.Sets[set] = metrics.Result{NumID: 10, NumOOD: 10, FPR95: 0.5, AUROC: 0.5}
	}
	return res
}

func TestRunGrid(t *testing.T) {
	grid, outDir := synthGrid(t), t.TempDir()
	// A benchmark whose sets differ in shape is refused before anything runs or is written,
	// naming the set.
	mixed := writeSynthGrid(t, "{id: synthetic-mnist, pool: synthetic-ti300k, tests: [synthetic-svhn], image_size: 28}")
	code, _, errs := call(t, context.Background(), newExecutor, "--grid", mixed, "--out", outDir, "--backend", "go")
	if code != cli.ExitFailed || !strings.Contains(errs, "nothing was run") ||
		!strings.Contains(errs, "benchmark.tests[0] synthetic-svhn: images are 32x32x3, the ID images 28x28x1") {
		t.Errorf("shape mismatch: exit %d %s", code, errs)
	}
	if entries, _ := os.ReadDir(outDir); len(entries) != 0 {
		t.Errorf("the refused grid wrote into the store: %v", entries)
	}
	// Interrupt the first run: exit 130, run left partial, resumable.
	blocker := &fakeExec{block: make(chan struct{}), started: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-blocker.started; cancel() }()
	code, _, errs = call(t, ctx, func(execOptions) (store.Executor, error) { return blocker, nil }, "--grid", grid, "--out", outDir)
	if code != cli.ExitInterrupted || !strings.Contains(errs, "interrupted") {
		t.Errorf("interrupted: exit %d %s", code, errs)
	}
	code, out, _ := call(t, context.Background(), noExecutor, "--grid", grid, "--out", outDir, "--dry-run")
	if code != cli.ExitOK || !strings.Contains(out, "partial (1 of 3 epochs done)") || !strings.Contains(out, "1 partial") || !strings.Contains(out, "data: all present") {
		t.Errorf("dry run after interrupt: exit %d\n%s", code, out)
	}
	// Run everything.
	ex := &fakeExec{}
	factory := func(o execOptions) (store.Executor, error) {
		if o.Backend != "go" {
			return nil, errors.New("backend not passed")
		}
		return ex, nil
	}
	code, out, errs = call(t, context.Background(), factory, "--grid", grid, "--out", outDir, "--backend", "go")
	if code != cli.ExitOK || len(ex.ran) != 6 {
		t.Fatalf("run: exit %d, ran %d\n%s\n%s", code, len(ex.ran), out, errs)
	}
	if !strings.Contains(out, "[synth] 6/6 done") || !strings.Contains(out, "ETA") {
		t.Errorf("no grid line:\n%s", out)
	}
	// Again: everything is skipped.
	ex.ran = nil
	code, out, _ = call(t, context.Background(), factory, "--grid", grid, "--out", outDir, "--backend", "go")
	if code != cli.ExitOK || len(ex.ran) != 0 || !strings.Contains(out, "already done") {
		t.Errorf("second run executed %d runs (exit %d)\n%s", len(ex.ran), code, out)
	}
	code, out, _ = call(t, context.Background(), noExecutor, "--grid", grid, "--out", outDir, "--dry-run")
	if code != cli.ExitOK || !strings.Contains(out, "6 done, 0 partial, 0 locked, 0 new") {
		t.Errorf("dry run after completion:\n%s", out)
	}
}

// --dry-run and the start of a run check every run against its data and the store before
// anything is written: a batch larger than the training set, a class selection without images,
// a truncated data file, a store that cannot be written; a damaged metrics.jsonl does not stop
// the dry run.
func TestDryRunChecksEverything(t *testing.T) {
	for _, tc := range []struct {
		name, benchmark, extra string
		want                   string
	}{
		{"batch", "{id: synthetic-mnist@0-4, pool: synthetic-mnist@5-7, tests: [synthetic-mnist@8-9], image_size: 28}",
			"  batch: {id: 100000}\n", "batch.id: 100000 is larger than the"},
		{"classes", "{id: synthetic-mnist@0-4, pool: synthetic-mnist@5-7, tests: [synthetic-mnist@42], image_size: 28}",
			"", "no image of classes [42]"},
		{"zero iterations", "{id: synthetic-mnist@0-4, pool: synthetic-mnist@5-7, tests: [synthetic-mnist@8-9], image_size: 28}",
			"  batch: {ood: 200, drop_last: true}\n", "would run no iteration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			grid := writeSynthGrid(t, tc.benchmark)
			b, _ := os.ReadFile(grid)
			os.WriteFile(grid, []byte(strings.Replace(string(b), "  network: mlp\n", "  network: mlp\n"+tc.extra, 1)), 0o644)
			out := t.TempDir()
			code, stdout, errs := call(t, context.Background(), noExecutor, "--grid", grid, "--out", out, "--dry-run")
			if code != cli.ExitFailed || !strings.Contains(stdout, tc.want) {
				t.Errorf("dry run: exit %d\n%s\n%s", code, stdout, errs)
			}
			code, _, errs = call(t, context.Background(), noExecutor, "--grid", grid, "--out", out)
			if code != cli.ExitFailed || !strings.Contains(errs, tc.want) || !strings.Contains(errs, "nothing was run") {
				t.Errorf("run: exit %d\n%s", code, errs)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Errorf("the store was written: %v", entries)
			}
		})
	}
	// A truncated data file.
	dataDir := t.TempDir()
	m := data.Synthetic(data.SyntheticConfig{N: 20, H: 32, W: 32, C: 3, Classes: 10, Look: 1, Draw: 2})
	cifarDir := filepath.Join(dataDir, "cifar-10-batches-bin")
	os.MkdirAll(cifarDir, 0o755)
	for _, f := range []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"} {
		if err := data.WriteCIFAR(filepath.Join(cifarDir, f), m, nil); err != nil {
			t.Fatal(err)
		}
	}
	bad := filepath.Join(cifarDir, "data_batch_3.bin")
	raw, _ := os.ReadFile(bad)
	os.WriteFile(bad, raw[:len(raw)-100], 0o644)
	grid := writeSynthGrid(t, "{id: cifar10, pool: synthetic-ti300k, tests: [synthetic-svhn], image_size: 32}")
	code, stdout, _ := call(t, context.Background(), noExecutor, "--grid", grid, "--data", dataDir, "--out", t.TempDir(), "--dry-run")
	if code != cli.ExitFailed || !strings.Contains(stdout, "data_batch_3.bin") {
		t.Errorf("truncated CIFAR file: exit %d\n%s", code, stdout)
	}
	// A store that is a file, not a folder.
	notDir := filepath.Join(t.TempDir(), "store")
	os.WriteFile(notDir, []byte("x"), 0o644)
	grid = synthGrid(t)
	if code, stdout, _ := call(t, context.Background(), noExecutor, "--grid", grid, "--out", notDir, "--dry-run"); code != cli.ExitFailed ||
		!strings.Contains(stdout, "not a directory") {
		t.Errorf("store that is a file: exit %d\n%s", code, stdout)
	}
	// A damaged metrics.jsonl: the dry run lists the run as corrupt and goes on.
	out := t.TempDir()
	runs, err := func() ([]*config.Run, error) {
		g, err := grids.Load(grid)
		if err != nil {
			return nil, err
		}
		return g.Expand(nil)
	}()
	if err != nil {
		t.Fatal(err)
	}
	st, _ := store.Open(out)
	d, _ := st.Dir("synth", runs[0])
	d.Create()
	os.WriteFile(d.File(store.MetricsFile), []byte("{\"epoch\": 1}\n}}} not json\n{\"epoch\": 2}\n"), 0o644)
	code, stdout, errs := call(t, context.Background(), noExecutor, "--grid", grid, "--out", out, "--dry-run")
	if !strings.Contains(stdout, "corrupt") || !strings.Contains(stdout, "5 new") {
		t.Errorf("damaged metrics.jsonl: exit %d\n%s\n%s", code, stdout, errs)
	}
}

// A data directory given with --data that lacks MNIST is an error, not a silent fallback to the
// Go module's copy; without --data the fallback is used and logged.
func TestExplicitDataDirHasNoFallback(t *testing.T) {
	empty := t.TempDir()
	code, _, errs := call(t, context.Background(), noExecutor, "--grid", "quick", "--data", empty, "--out", t.TempDir())
	if code != cli.ExitFailed || !strings.Contains(errs, "--data "+empty+" has no mnist") {
		t.Errorf("exit %d %s", code, errs)
	}
	if code, out, errs := call(t, context.Background(), noExecutor, "--grid", "quick", "--out", t.TempDir(), "--dry-run"); code != cli.ExitOK {
		t.Errorf("without --data: exit %d\n%s\n%s", code, out, errs)
	}
}

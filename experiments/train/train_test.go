package train

import (
	stdctx "context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/internal/testutil"
	"github.com/oodlab/dos/models/statedict"

	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/sampling"
)

// tinyRun is a run of method on synthetic MNIST-shaped data small enough for unit tests:
// classes 0-4 are in-distribution, 5-7 the outlier pool, 8-9 the OOD test set.
func tinyRun(t testing.TB, method string) *config.Run {
	t.Helper()
	run, err := config.Defaults(method)
	if err != nil {
		t.Fatal(err)
	}
	run.Benchmark = config.Benchmark{ID: "synthetic-mnist@0-4", Pool: "synthetic-mnist@5-7",
		Tests: []string{"synthetic-mnist@8-9"}, ImageSize: 28}
	run.Network = "mlp"
	run.Epochs = 6
	run.Batch.ID, run.Batch.OOD = 8, 8
	run.Caps = config.Caps{MaxTrain: 64, MaxPool: 96, MaxTest: 48}
	run.Optim.LR = 0.02 // 0.05 let the energy margins diverge on this tiny MLP with some rounding orders
	run.Optim.Milestones = []int{5}
	if run.Method.OutliersPerEpoch > 0 {
		run.Method.OutliersPerEpoch = 64
	}
	if p, ok := run.Method.SamplerOptions().(*sampling.POEMOptions); ok {
		p.Candidates = 96
	}
	if d, ok := run.Method.SamplerOptions().(*sampling.DOSOptions); ok {
		d.Candidates = 24
		d.NInit = 2
	}
	return run
}

func newTinyTrainer(t testing.TB, run *config.Run, dir string) *Trainer {
	t.Helper()
	job, err := LoadJob(run, "")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(testutil.GoBackend(t), run, job, Settings{Dir: &store.RunDir{Path: dir, Run: run}, EvalBatch: 32})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestEveryMethodTrains(t *testing.T) {
	for _, method := range config.MethodNames() {
		t.Run(method, func(t *testing.T) {
			run := tinyRun(t, method)
			dir := t.TempDir()
			tr := newTinyTrainer(t, run, dir)
			out, err := tr.Run(stdctx.Background())
			if err != nil {
				t.Fatal(err)
			}
			r, ok := out.PerSet["synthetic-mnist@8-9"]
			if !ok {
				t.Fatalf("no metrics for the test set: %+v", out)
			}
			t.Logf("%s: acc %.3f fpr95 %.3f auroc %.3f", method, out.IDAccuracy, r.FPR95, r.AUROC)
			if math.IsNaN(r.AUROC) || out.IDAccuracy < 0 || out.IDAccuracy > 1 {
				t.Fatalf("bad outcome %+v", out)
			}
			recs := readRecords(t, dir)
			if len(recs) != run.Epochs {
				t.Fatalf("%d epoch records, want %d", len(recs), run.Epochs)
			}
			first, last := recs[0], recs[len(recs)-1]
			for _, r := range recs {
				if r.Time.IsZero() || r.Seconds <= 0 {
					t.Fatalf("epoch %d record has no time (%v) or duration (%v)", r.Epoch, r.Time, r.Seconds)
				}
				if math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0) {
					t.Fatalf("epoch %d loss %v", r.Epoch, r.Loss)
				}
			}
			// The objective moves the right way: the total loss falls, and with outliers the
			// outlier term falls too (the model learns to flag them). The ID term alone may rise
			// early on under the energy margins, as in the official runs.
			t.Logf("loss %.4f -> %.4f, id loss %.4f -> %.4f, outlier loss %.4f -> %.4f",
				first.Loss, last.Loss, first.Diagnostics["id_loss"], last.Diagnostics["id_loss"], first.Diagnostics["ood_loss"], last.Diagnostics["ood_loss"])
			if !(last.Loss < first.Loss) {
				t.Errorf("loss did not fall: %.4f -> %.4f", first.Loss, last.Loss)
			}
			switch {
			case run.Method.Loss == config.LossOE:
				// OE's term is the cross-entropy to the uniform distribution: at least log K, and a
				// freshly initialised network already sits near that floor, so it need not fall.
				if floor := math.Log(float64(5)); last.Diagnostics["ood_loss"] < floor-1e-3 {
					t.Errorf("OE outlier loss %.4f below its floor log K = %.4f", last.Diagnostics["ood_loss"], floor)
				}
			case run.Method.Sampler != config.SamplerNone && !(last.Diagnostics["ood_loss"] < first.Diagnostics["ood_loss"]):
				t.Errorf("outlier loss did not fall: %.4f -> %.4f", first.Diagnostics["ood_loss"], last.Diagnostics["ood_loss"])
			}
			if method == "dos" && (last.Diagnostics["dos_inertia"] <= 0 || last.Diagnostics["pabs_picks"] > last.Diagnostics["pabs_all"]) {
				t.Errorf("DOS diagnostics implausible: %v (picks are each cluster's least uncertain, so their mean p_abs cannot exceed the block's)", last.Diagnostics)
			}
		})
	}
}

func readRecords(t testing.TB, dir string) []store.EpochRecord {
	t.Helper()
	recs, err := (&store.RunDir{Path: dir}).Epochs()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// batch.drop_last: the official DOS loader drops the last partial ID batch, the baselines' keep
// it (and their outlier loader's): 60 images in batches of 8 give 7 iterations or 8, the last of
// 4 ID images and 4 outliers.
func TestDropLast(t *testing.T) {
	for _, tc := range []struct {
		method string
		iters  int
	}{{"share", 8}, {"msp", 8}, {"dos", 7}} {
		run := tinyRun(t, tc.method)
		run.Epochs = 1
		run.Optim.Milestones = nil
		run.Caps.MaxTrain, run.Caps.MaxPool = 60, 240 // 10 DOS blocks of 24
		if run.Method.OutliersPerEpoch > 0 {
			run.Method.OutliersPerEpoch = 60
		}
		dir := t.TempDir()
		tr := newTinyTrainer(t, run, dir)
		if _, err := tr.Run(stdctx.Background()); err != nil {
			t.Fatal(err)
		}
		recs, err := tr.Settings.Dir.Epochs()
		if err != nil || len(recs) != 1 {
			t.Fatalf("%s: records %v %v", tc.method, recs, err)
		}
		if recs[0].Iterations != tc.iters {
			t.Errorf("%s (drop_last %v): %d iterations, want %d", tc.method, run.Batch.DropLast, recs[0].Iterations, tc.iters)
		}
	}
}

// init: a run starts from the weights of a PyTorch state dict (here written by the bridge from
// the pseudo-random Hashed weights), or from the network variables of a checkpoint.
func TestInitFromWeights(t *testing.T) {
	dir := t.TempDir()
	const network = "wrn-10-1"
	template, err := statedict.Template(network, 11)
	if err != nil {
		t.Fatal(err)
	}
	want := statedict.Hashed(template)
	file := filepath.Join(dir, "init.safetensors")
	if err := statedict.Write(file, want); err != nil {
		t.Fatal(err)
	}
	for _, init := range []string{file, filepath.Join(dir, "from-file", store.CheckpointDir, "training.ckpt")} {
		run := tinyRun(t, "share")
		run.Benchmark = config.Benchmark{ID: "synthetic-cifar10", Pool: "synthetic-ti300k", Tests: []string{"synthetic-svhn"},
			ImageSize: 32, Augment: config.AugmentPaper, Normalize: config.NormalizeOfficial}
		run.Network, run.Init = network, init
		runDir := filepath.Join(dir, filepath.Base(filepath.Dir(filepath.Dir(init))))
		if init == file {
			runDir = filepath.Join(dir, "from-file")
		}
		tr := newTinyTrainer(t, run, runDir)
		// Stop before the first step: the checkpoint then holds the initial weights.
		ctx, cancel := stdctx.WithCancel(stdctx.Background())
		cancel()
		if _, err := tr.Run(ctx); !errors.Is(err, ErrInterrupted) {
			t.Fatalf("init %s: %v", init, err)
		}
		c, err := LoadCheckpoint(filepath.Join(runDir, store.CheckpointDir, "training.ckpt"))
		if err != nil || c == nil {
			t.Fatalf("checkpoint: %v", err)
		}
		ctxw := context.New()
		if err := RestoreVariables(ctxw, c.Vars); err != nil {
			t.Fatal(err)
		}
		got, err := statedict.Export(ctxw.In(ModelScope), network, 11)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range want.Keys() {
			a, _ := want.Get(key)
			b, _ := got.Get(key)
			if !strings.HasSuffix(key, "num_batches_tracked") && !a.Equal(b) {
				t.Errorf("init %s: %s differs from the file", filepath.Base(init), key)
			}
		}
	}
	// A file that does not fit the network: the error names the key and both shapes.
	run := tinyRun(t, "share")
	run.Init = file // a wrn-10-1 state dict for the mlp of tinyRun
	tr := newTinyTrainer(t, run, filepath.Join(dir, "bad"))
	if _, err := tr.Run(stdctx.Background()); err == nil || !strings.Contains(err.Error(), "init:") {
		t.Errorf("a state dict of another network: %v", err)
	}
}

// An epoch that would run no iteration (an OOD batch larger than the outliers of an epoch) is an
// error, not a run marked done on an untrained network.
func TestZeroIterationEpochRefused(t *testing.T) {
	run := tinyRun(t, "share")
	run.Method.OutliersPerEpoch = 6 // fewer than one outlier batch of 8
	run.Batch.DropLast = true
	tr := newTinyTrainer(t, run, t.TempDir())
	_, err := tr.Run(stdctx.Background())
	if err == nil || !strings.Contains(err.Error(), "would run no iteration") || !strings.Contains(err.Error(), "6 outliers") {
		t.Fatalf("error %v", err)
	}
}

// TestEvaluateRecordsDegenerateScores: test sets of identical images give every image the same
// score; evaluation keeps the numbers but records why they mean nothing: in the epoch records of
// metrics.jsonl, in the outcome and in run.log.
func TestEvaluateRecordsDegenerateScores(t *testing.T) {
	run := tinyRun(t, "msp")
	run.Epochs = 2
	dir := t.TempDir()
	tr := newTinyTrainer(t, run, dir)
	var log strings.Builder
	tr.Settings.Log = &log
	tr.Settings.EvalEvery = 1
	tr.Job.Test = data.NewImages(6, 28, 28, 1, true)
	tr.Job.Tests = []TestSet{{Name: "blank", Images: data.NewImages(4, 28, 28, 1, false)}}
	out, err := tr.Run(stdctx.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !out.PerSet["blank"].Degenerate() {
		t.Fatalf("identical images: no warning in %+v", out.PerSet["blank"])
	}
	recs := readRecords(t, dir)
	if len(recs[0].Warnings["blank"]) == 0 || !strings.Contains(recs[0].Warnings["blank"][0], "all 10 scores") {
		t.Errorf("epoch 1 record warnings %v, want the constant-score warning", recs[0].Warnings)
	}
	for _, e := range []int{1, 2} {
		if want := fmt.Sprintf("warning: epoch %d, test set blank: degenerate scores: all 10 scores", e); !strings.Contains(log.String(), want) {
			t.Errorf("run.log lacks %q:\n%s", want, log.String())
		}
	}
}

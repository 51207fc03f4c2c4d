package train

import (
	stdctx "context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oodlab/dos/experiments/store"
)

// nanAfterFirstEpoch is a schedule whose learning rate turns NaN in the second epoch, so the
// loss of the following iteration is NaN.
type nanAfterFirstEpoch struct{}

func (nanAfterFirstEpoch) LR(epoch, _, _ int) float64 {
	if epoch >= 1 {
		return math.NaN()
	}
	return 0.05
}

// TestNaNLossStopsRun: a NaN loss stops the run with an error naming the epoch and iteration as
// the log numbers them (from 1), the checkpoint kept and what to do, and the last good checkpoint
// (end of epoch 1) and its metrics record stay as they were.
func TestNaNLossStopsRun(t *testing.T) {
	dir := t.TempDir()
	run := tinyRun(t, "share")
	run.Epochs = 3
	tr := newTinyTrainer(t, run, dir)
	tr.Schedule = nanAfterFirstEpoch{}
	_, err := tr.Run(stdctx.Background())
	for _, want := range []string{"loss is NaN at epoch 2/3, iteration 2/8", "the last checkpoint (after epoch 1 of 3) is kept",
		"Lowering optim.lr", "new ID"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error = %v, want it to say %q", err, want)
		}
	}
	c, err := LoadCheckpoint(filepath.Join(dir, store.CheckpointDir, "training.ckpt"))
	if err != nil || c == nil {
		t.Fatalf("checkpoint: %v", err)
	}
	if c.Position != (Position{Epoch: 1}) {
		t.Fatalf("checkpoint at %+v, want the end of epoch 1 (the last good one)", c.Position)
	}
	if recs := readRecords(t, dir); len(recs) != 1 || math.IsNaN(recs[0].Loss) {
		t.Fatalf("metrics records %+v, want only the good first epoch", recs)
	}
}

// A NaN before any checkpoint says that none is kept and the run starts again from scratch.
func TestNaNBeforeAnyCheckpoint(t *testing.T) {
	run := tinyRun(t, "share")
	tr := newTinyTrainer(t, run, t.TempDir())
	tr.Schedule = nanFromStart{}
	_, err := tr.Run(stdctx.Background())
	if err == nil || !strings.Contains(err.Error(), "at epoch 1/") || !strings.Contains(err.Error(), "no checkpoint was written yet") {
		t.Fatalf("error = %v", err)
	}
}

type nanFromStart struct{}

func (nanFromStart) LR(int, int, int) float64 { return math.NaN() }

// A loss that grows a hundredfold without a NaN is divergence, within an epoch or between epochs;
// a loss that falls or wobbles is not.
func TestDivergenceWatch(t *testing.T) {
	feed := func(w *divergenceWatch, losses []float64) error {
		for i, l := range losses {
			if err := w.step([]float64{l, l, 0, 0}, 0, i, 1, len(losses)); err != nil {
				return err
			}
		}
		return nil
	}
	ramp := make([]float64, 60)
	for i := range ramp {
		ramp[i] = 3 * math.Pow(1.3, float64(i)) // 3 -> 2e7, finite
	}
	if err := feed(&divergenceWatch{}, ramp); err == nil || !strings.Contains(err.Error(), "training diverged") {
		t.Errorf("an exploding loss: %v", err)
	}
	calm := make([]float64, 200)
	for i := range calm {
		calm[i] = 50/(1+float64(i)) + 5*math.Abs(math.Sin(float64(i)))
	}
	if err := feed(&divergenceWatch{}, calm); err != nil {
		t.Errorf("a falling, noisy loss: %v", err)
	}
	w := &divergenceWatch{}
	for e, l := range []float64{2.5, 1.2, 0.9} {
		if err := w.epochDone(&store.EpochRecord{Epoch: e + 1, Loss: l}, 4); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.epochDone(&store.EpochRecord{Epoch: 4, Loss: 8500}, 4); err == nil || !strings.Contains(err.Error(), "epoch 4/4") {
		t.Errorf("an epoch at 8500 after 2.5: %v", err)
	}
}

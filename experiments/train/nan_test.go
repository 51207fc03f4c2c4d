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

// TestNaNLossStopsRun: a NaN loss stops the run with an error naming the epoch and iteration,
// and the last good checkpoint (end of epoch 1) and its metrics record stay as they were.
func TestNaNLossStopsRun(t *testing.T) {
	dir := t.TempDir()
	run := tinyRun(t, "share")
	run.Epochs = 3
	tr := newTinyTrainer(t, run, dir)
	tr.Schedule = nanAfterFirstEpoch{}
	_, err := tr.Run(stdctx.Background())
	if err == nil || !strings.Contains(err.Error(), "loss is NaN at epoch 1, iteration 1") ||
		!strings.Contains(err.Error(), "last good checkpoint") {
		t.Fatalf("error = %v, want a NaN loss named with its step", err)
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

package train

import (
	"fmt"
	"math"

	"github.com/oodlab/dos/experiments/store"
)

// Divergence: a loss that is not a number stops a run at once; so does a loss that grew by
// orders of magnitude without becoming one (an lr far too large makes the energy-margin losses
// reach 1e4 while staying finite, and the network then gives every image the same score).
const (
	// divergenceWindow is the number of iterations averaged at the start and at each step.
	divergenceWindow = 20
	// divergenceFactor: the recent mean loss above this many times the starting one is divergence.
	divergenceFactor = 100
)

// divergenceWatch follows a run's losses for divergence.
type divergenceWatch struct {
	start       []float64 // the first losses this process saw
	recent      []float64 // a ring of the last divergenceWindow losses
	next        int
	firstRecord *store.EpochRecord // the run's first epoch record (from metrics.jsonl)
}

// step checks one iteration's outputs (numbered from 0; the message numbers from 1).
func (w *divergenceWatch) step(vals []float64, epoch, iter, epochs, iters int) error {
	loss := vals[outLoss]
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return fmt.Errorf("the loss is %v at epoch %d/%d, iteration %d/%d (ID loss %v, outlier loss %v)",
			loss, epoch+1, epochs, iter+1, iters, vals[outIDLoss], vals[outOODLoss])
	}
	if len(w.start) < divergenceWindow {
		w.start = append(w.start, loss)
	}
	if len(w.recent) < divergenceWindow {
		w.recent = append(w.recent, loss)
	} else {
		w.recent[w.next] = loss
		w.next = (w.next + 1) % divergenceWindow
	}
	if len(w.start) < divergenceWindow || len(w.recent) < divergenceWindow {
		return nil
	}
	if from, to := mean(w.start), mean(w.recent); to > divergenceFactor*math.Max(from, 1e-3) {
		return fmt.Errorf("training diverged: the mean loss of %d iterations rose from %.4g (the first this process ran) "+
			"to %.4g (epoch %d/%d, iteration %d/%d), more than %dx", divergenceWindow, from, to, epoch+1, epochs, iter+1, iters, divergenceFactor)
	}
	return nil
}

// epochDone checks an epoch's record against the run's first epoch (which a resumed process
// reads back from metrics.jsonl).
func (w *divergenceWatch) epochDone(rec *store.EpochRecord, epochs int) error {
	if w.firstRecord == nil {
		w.firstRecord = rec
		return nil
	}
	if from := w.firstRecord.Loss; rec.Loss > divergenceFactor*math.Max(from, 1e-3) {
		return fmt.Errorf("training diverged: the mean loss of epoch %d/%d is %.4g, more than %dx that of epoch %d (%.4g)",
			rec.Epoch, epochs, rec.Loss, divergenceFactor, w.firstRecord.Epoch, from)
	}
	return nil
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

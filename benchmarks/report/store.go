package report

import (
	"math"
	"path/filepath"
	"sort"

	"github.com/oodlab/dos/experiments/store"
)

// FromStore converts what store.Collect read into the report's values, one RunResult per run in
// the same order.
func FromStore(c *store.Collection) []RunResult {
	out := make([]RunResult, len(c.Runs))
	for i, cr := range c.Runs {
		r := cr.Run
		rr := RunResult{Method: r.Method.Name, Variant: r.VariantLabel(), Seed: int(r.Seed), Network: r.Network,
			Benchmark: r.Benchmark.ID, Status: cr.Status, Err: cr.Err}
		if cr.Dir != nil {
			rr.Name = filepath.Base(cr.Dir.Path)
		}
		if cr.Results != nil {
			rr.PerSet = cr.Results.Sets
			rr.Score, rr.Scores, rr.KNNK = cr.Results.Score, cr.Results.Scores, cr.Results.KNNK
			rr.IDAccuracy = cr.Results.IDAccuracy
		}
		for _, e := range cr.Epochs {
			rr.Epochs = append(rr.Epochs, epochRecord(e))
		}
		out[i] = rr
	}
	return out
}

// epochRecord converts a stored epoch record; values not measured that epoch are NaN.
func epochRecord(e store.EpochRecord) EpochRecord {
	r := EpochRecord{Epoch: e.Epoch, Loss: e.Loss, Seconds: e.Seconds, TestAccuracy: math.NaN(), FPR95: math.NaN(),
		Diagnostics: map[string]float64{}}
	if e.TestAcc != nil {
		r.TestAccuracy = *e.TestAcc
	}
	if len(e.FPR95) > 0 {
		names := make([]string, 0, len(e.FPR95))
		for n := range e.FPR95 {
			names = append(names, n)
		}
		sort.Strings(names)
		sum := 0.0
		for _, n := range names {
			sum += e.FPR95[n]
		}
		r.FPR95 = sum / float64(len(names))
	}
	r.Degenerate = len(e.Warnings) > 0
	for k, v := range e.Diagnostics {
		r.Diagnostics[k] = v
	}
	return r
}

package report

import (
	"fmt"
	"math"
	"sort"

	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/store"
)

// Collected is what a run store holds for the runs of one grid.
type Collected struct {
	// Runs has one entry per run of the grid, in grid order; runs not done have a Status
	// other than StatusDone and are never silently dropped.
	Runs []RunResult
	// Dirs are the run directories, parallel to Runs.
	Dirs []*store.RunDir
	// Warnings name what could not be read (a corrupt results file, say); the rest is still
	// reported.
	Warnings []string
}

// Collect reads the runs of grid (expanded into runs) from the store.
func Collect(st *store.Store, grid string, runs []*config.Run) (*Collected, error) {
	out := &Collected{}
	for _, r := range runs {
		d, err := st.Dir(grid, r)
		if err != nil {
			return nil, err
		}
		rr := RunResult{Method: r.Method.Name, Seed: int(r.Seed), Network: r.Network, Benchmark: r.Benchmark.ID}
		status, err := d.Status(store.LockOptions{})
		if err != nil {
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s: %v", d.Path, err))
			status.State = store.Corrupt
			status.Err = err
		}
		switch status.State {
		case store.Done:
			res, err := d.Results()
			if err != nil || res == nil {
				out.Warnings = append(out.Warnings, fmt.Sprintf("%s: results unreadable: %v", d.Path, err))
				rr.Status, rr.Err = StatusFailed, fmt.Sprint(err)
				break
			}
			rr.Status = StatusDone
			rr.PerSet = res.Sets
			rr.IDAccuracy = res.IDAccuracy
		case store.Corrupt:
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s: left out: %v", d.Path, status.Err))
			rr.Status, rr.Err = StatusFailed, fmt.Sprint(status.Err)
		case store.Locked:
			rr.Status = StatusRunning
		case store.Partial:
			rr.Status = StatusRunning
			if status.Failure != "" {
				rr.Status, rr.Err = StatusFailed, status.Failure
			}
		default:
			rr.Status = StatusMissing
		}
		recs, err := d.Epochs()
		if err != nil {
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s: %v", d.Path, err))
		}
		for _, e := range recs {
			rr.Epochs = append(rr.Epochs, epochRecord(e))
		}
		out.Runs = append(out.Runs, rr)
		out.Dirs = append(out.Dirs, d)
	}
	return out, nil
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
	for k, v := range e.Diagnostics {
		r.Diagnostics[k] = v
	}
	return r
}

package store

import (
	"fmt"

	"github.com/oodlab/dos/experiments/config"
)

// Status of a run as Collect reports it.
const (
	// StatusDone: results.json is present and valid.
	StatusDone = "done"
	// StatusRunning: a runner holds the run, or it stopped part way without a failure.
	StatusRunning = "running"
	// StatusFailed: the last attempt failed (error.txt), or results.json is unreadable.
	StatusFailed = "failed"
	// StatusMissing: nothing of the run is in the store yet.
	StatusMissing = "missing"
)

// Collected is what the store holds of one run of a grid.
type Collected struct {
	// Run is the run's configuration, Dir its directory (which may not exist yet).
	Run *config.Run
	Dir *RunDir
	// Status is one of StatusDone, StatusRunning, StatusFailed, StatusMissing; Err explains a
	// failure.
	Status, Err string
	// Results is results.json of a done run (nil otherwise).
	Results *Results
	// Epochs are the run's metrics.jsonl records, in epoch order.
	Epochs []EpochRecord
}

// Collection is what the store holds for the runs of one grid.
type Collection struct {
	// Runs has one entry per run given, in that order; runs not done are never dropped.
	Runs []Collected
	// Warnings name what could not be read (a corrupt results file, say); the rest is kept.
	Warnings []string
}

// Collect reads the given runs of grid from the store. It creates nothing: reading a store is
// safe while runners write to it.
func Collect(st *Store, grid string, runs []*config.Run) (*Collection, error) {
	out := &Collection{}
	for _, r := range runs {
		d, err := st.Dir(grid, r)
		if err != nil {
			return nil, err
		}
		c := Collected{Run: r, Dir: d}
		status, err := d.Status(LockOptions{})
		if err != nil {
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s: %v", d.Path, err))
			status.State = Corrupt
			status.Err = err
		}
		switch status.State {
		case Done:
			res, err := d.Results()
			if err != nil || res == nil {
				out.Warnings = append(out.Warnings, fmt.Sprintf("%s: results unreadable: %v", d.Path, err))
				c.Status, c.Err = StatusFailed, fmt.Sprint(err)
				break
			}
			c.Status, c.Results = StatusDone, res
		case Corrupt:
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s: left out: %v", d.Path, status.Err))
			c.Status, c.Err = StatusFailed, fmt.Sprint(status.Err)
		case Locked:
			c.Status = StatusRunning
		case Partial:
			c.Status = StatusRunning
			if status.Failure != "" {
				c.Status, c.Err = StatusFailed, status.Failure
			}
		default:
			c.Status = StatusMissing
		}
		if c.Epochs, err = d.Epochs(); err != nil {
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s: %v", d.Path, err))
		}
		out.Runs = append(out.Runs, c)
	}
	return out, nil
}

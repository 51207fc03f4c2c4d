package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/oodlab/dos/experiments/config"

	"github.com/oodlab/dos/internal/atomicfile"
)

// Executor trains and evaluates one run; experiments/train implements it.
//
// The runner calls Execute with the run's lock held, dir created and
// config.yaml written, and log appending to dir's run.log. The executor:
//   - resumes from dir's checkpoint folder if it holds a checkpoint;
//   - appends one EpochRecord per completed epoch (dir.AppendEpoch) and
//     checkpoints the epoch (atomicfile.WriteFunc); records past the
//     checkpoint a resumed run finds are dropped and redone (experiments/train
//     writes the record first, so a crash between the two never loses one);
//   - caches test scores under dir's scores/ folder;
//   - writes results.json last, with dir.WriteResults;
//   - when ctx is cancelled (Ctrl-C, or the lock was lost), writes a
//     checkpoint and returns ctx.Err() promptly.
//
// Returning nil without results.json is an error.
type Executor interface {
	Execute(ctx context.Context, run *config.Run, dir *RunDir, log io.Writer) error
}

// Runner runs a grid's runs through an Executor, skipping runs that are
// done or held by another runner. Several runners (goroutines or processes,
// on one host or sharing a file system) may work on one store at once:
// each run is executed by one of them only.
type Runner struct {
	// Store is the run store.
	Store *Store
	// Grid is the grid's name (the store sub-directory).
	Grid string
	// Exec executes one run.
	Exec Executor
	// Lock tunes run locks.
	Lock LockOptions
	// Progress receives one grid line per run (nil: discarded).
	Progress io.Writer
	// Echo, if not nil, receives each run's log as well as run.log.
	Echo io.Writer
}

// Summary counts what a Runner did.
type Summary struct {
	// Total is the number of runs given.
	Total int
	// Done counts runs already done before, or done by this runner.
	Done int
	// Ran counts runs this runner completed.
	Ran int
	// Busy counts runs skipped because another runner holds them.
	Busy int
	// Failed counts runs whose execution failed or whose results are
	// corrupt; Errors holds their errors.
	Failed int
	// Errors are the failures, each naming its run directory.
	Errors []error
}

// Err joins the failures (nil if none).
func (s Summary) Err() error { return errors.Join(s.Errors...) }

// Run executes runs in order. It returns when all were visited, or when ctx
// is cancelled (then with ctx's error, after the executor checkpointed).
// Failures of single runs do not stop the others: they are in the Summary.
func (rn *Runner) Run(ctx context.Context, runs []*config.Run) (Summary, error) {
	progress := rn.Progress
	if progress == nil {
		progress = io.Discard
	}
	sum := Summary{Total: len(runs)}
	var spent time.Duration
	for _, r := range runs {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		d, err := rn.Store.Dir(rn.Grid, r)
		if err != nil {
			return sum, err
		}
		name := d.Path
		res, err := rn.runOne(ctx, d)
		note := res.Kind.String()
		switch {
		case err != nil && ctx.Err() != nil:
			fmt.Fprintf(progress, "[%s] interrupted %s: %v\n", rn.Grid, name, err)
			return sum, ctx.Err()
		case err != nil:
			sum.Failed++
			sum.Errors = append(sum.Errors, fmt.Errorf("%s: %w", name, err))
			note = "FAILED: " + firstLine(err.Error())
		case res.Kind == Ran:
			sum.Done++
			sum.Ran++
			spent += res.Elapsed
		case res.Kind == AlreadyDone:
			sum.Done++
		case res.Kind == Busy:
			sum.Busy++
			note += ": " + res.Holder
		}
		left := sum.Total - sum.Done - sum.Busy - sum.Failed
		eta := "unknown"
		if sum.Ran > 0 {
			eta = (spent / time.Duration(sum.Ran) * time.Duration(left)).Round(time.Second).String()
		} else if left == 0 {
			eta = "0s"
		}
		fmt.Fprintf(progress, "[%s] %d/%d done (%d run now, %d busy elsewhere, %d failed), ETA %s — %s: %s\n",
			rn.Grid, sum.Done, sum.Total, sum.Ran, sum.Busy, sum.Failed, eta, name, note)
	}
	return sum, nil
}

// OutcomeKind is what the runner did with one run.
type OutcomeKind int

const (
	// Ran: this runner executed the run to its end.
	Ran OutcomeKind = iota
	// AlreadyDone: the run was done before (or another runner finished it first).
	AlreadyDone
	// Busy: another runner holds the run.
	Busy
)

// String is the progress line's word for the outcome.
func (k OutcomeKind) String() string {
	switch k {
	case Ran:
		return "done"
	case AlreadyDone:
		return "already done"
	case Busy:
		return "busy"
	}
	return fmt.Sprintf("OutcomeKind(%d)", int(k))
}

// Outcome is what runOne did with a run that did not fail.
type Outcome struct {
	Kind OutcomeKind
	// Elapsed is the execution time when Kind is Ran.
	Elapsed time.Duration
	// Holder describes the runner that holds the run when Kind is Busy.
	Holder string
}

// runOne executes a single run if it is neither done nor held.
func (rn *Runner) runOne(ctx context.Context, d *RunDir) (out Outcome, err error) {
	st, err := d.Status(rn.Lock)
	if err != nil {
		return out, err
	}
	switch st.State {
	case Done:
		return Outcome{Kind: AlreadyDone}, nil
	case Corrupt:
		return out, fmt.Errorf("%w (move it away to run again)", st.Err)
	case Locked:
		return Outcome{Kind: Busy, Holder: st.String()}, nil
	}
	if err := d.Create(); err != nil {
		return out, err
	}
	lk, err := LockWith(d.Path, rn.Lock)
	var le *LockedError
	if errors.As(err, &le) {
		return Outcome{Kind: Busy, Holder: le.Error()}, nil
	}
	if err != nil {
		return out, err
	}
	defer func() {
		if uerr := lk.Unlock(); uerr != nil && err == nil {
			err = uerr
		}
	}()
	// Another runner may have finished it between Status and Lock.
	res, err := d.Results()
	if err != nil {
		return out, err
	}
	if res != nil {
		return Outcome{Kind: AlreadyDone}, nil
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lk.Lost():
			cancel()
		case <-runCtx.Done():
		}
	}()
	logf, err := os.OpenFile(d.File(LogFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return out, fmt.Errorf("%s: %w", d.File(LogFile), err)
	}
	defer logf.Close()
	var log io.Writer = logf
	if rn.Echo != nil {
		log = io.MultiWriter(logf, rn.Echo)
	}
	// Temporary files of atomic writes that a killed process left behind: with the lock held,
	// none is being written.
	if removed := d.CleanTemp(); len(removed) > 0 {
		fmt.Fprintf(log, "=== removed %d temporary files a killed run left: %s\n", len(removed), strings.Join(removed, ", "))
	}
	info := lk.Info()
	fmt.Fprintf(log, "=== %s start run %s (%s), pid %d on %s, epoch %d of %d, command: %s\n",
		time.Now().Format(time.RFC3339), d.ID, st, info.PID, info.Host, st.Epoch, st.Epochs, strings.Join(os.Args, " "))
	start := time.Now()
	err = rn.Exec.Execute(runCtx, d.Run, d, log)
	elapsed := time.Since(start)
	select {
	case <-lk.Lost():
		holder := "another runner"
		if ls, lerr := inspectLock(d.File(LockFile), rn.Lock.withDefaults()); lerr == nil && ls.info.PID != 0 {
			holder = fmt.Sprintf("pid %d on %s (started %s)", ls.info.PID, ls.info.Host, ls.info.Started.Format(time.RFC3339))
		}
		err = fmt.Errorf("the run's lock was taken over by %s (this runner's heartbeat was older than the stale timeout); "+
			"this runner stopped after writing its checkpoint and leaves the run to it", holder)
	default:
	}
	if err == nil {
		res, rerr := d.Results()
		switch {
		case rerr != nil:
			err = rerr
		case res == nil:
			err = errors.New("the executor returned without writing results.json")
		}
	}
	if err != nil {
		fmt.Fprintf(log, "=== %s stopped after %s: %v\n", time.Now().Format(time.RFC3339), elapsed.Round(time.Second), err)
		if ctx.Err() == nil {
			// A failure, not an interruption: record it for reports (a later success removes it).
			if werr := atomicfile.Write(d.File(ErrorFile), []byte(err.Error()+"\n")); werr != nil {
				fmt.Fprintf(log, "=== could not record the failure: %v\n", werr)
			}
		}
		return Outcome{Elapsed: elapsed}, err
	}
	os.Remove(d.File(ErrorFile))
	fmt.Fprintf(log, "=== %s done in %s\n", time.Now().Format(time.RFC3339), elapsed.Round(time.Second))
	return Outcome{Kind: Ran, Elapsed: elapsed}, nil
}

// firstLine returns s up to its first newline.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

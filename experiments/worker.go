package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/launch"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/internal/cli"
)

// locations are the command's paths and backend as given, which workers are started with.
type locations struct {
	// gridArg is --grid as given (an embedded name or a file).
	gridArg string
	// outDir and dataDir are --out and --data; dataGiven says whether --data was given (a
	// worker must then get it too: an explicit data directory has no fallback).
	outDir, dataDir string
	dataGiven       bool
	// backend is --backend ("" = each worker's automatic choice or GOMLX_BACKEND).
	backend string
}

// workerArgs are the worker command's flags for these locations (without --run).
func (l locations) workerArgs() []string {
	args := []string{"--grid", l.gridArg, "--out", l.outDir}
	if l.dataGiven {
		args = append(args, "--data", l.dataDir)
	}
	if l.backend != "" {
		args = append(args, "--backend", l.backend)
	}
	return args
}

// runWorker runs the one run of --run through the store's runner: the per-run worker command
// that --parallel, Slurm tasks and Kubernetes pods start. Its log goes to the run's run.log
// and to stdout. With --requeue (a Slurm task), USR1 (the time limit is near) or SIGTERM from
// preemption or the time limit makes it checkpoint, release the run and requeue its task; a
// run that fails is not requeued.
func runWorker(ctx context.Context, stdout io.Writer, g *config.Grid, run *config.Run, loc locations, sf *scaleFlags, newExec executorFactory) error {
	var usr1 atomic.Bool
	if sf.requeue {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		stop := onUSR1(func() {
			usr1.Store(true)
			fmt.Fprintf(stdout, "=== %s USR1: the time limit is near; writing the checkpoint\n", time.Now().Format(time.RFC3339))
			cancel()
		})
		defer stop()
		if task := launch.ThisTask(); task != "" {
			fmt.Fprintf(stdout, "=== %s Slurm task %s, restart %s\n", time.Now().Format(time.RFC3339), task, envOr("SLURM_RESTART_COUNT", "0"))
		}
	}
	exec, err := newExec(execOptions{DataDir: loc.dataDir, Backend: loc.backend, Stdout: stdout, Progress: sf.progress})
	if err != nil {
		return err
	}
	st, err := store.Open(loc.outDir)
	if err != nil {
		return err
	}
	rn := &store.Runner{Store: st, Grid: g.Name, Exec: exec, Echo: stdout}
	sum, err := rn.Run(ctx, []*config.Run{run})
	d, derr := st.Dir(g.Name, run)
	if derr != nil {
		return derr
	}
	name := filepath.Base(d.Path)
	switch {
	case errors.Is(err, context.Canceled) && sf.requeue:
		return requeue(stdout, name, usr1.Load())
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: %s stopped after its checkpoint", cli.ErrInterrupted, name)
	case err != nil:
		return err
	case sum.Failed > 0:
		return fmt.Errorf("%s failed:\n%v", name, sum.Err())
	case sum.Busy > 0:
		fmt.Fprintf(stdout, "%s: busy, another runner holds it\n", name)
	case sum.Ran > 0:
		fmt.Fprintf(stdout, "%s: done\n", name)
	default:
		fmt.Fprintf(stdout, "%s: already done\n", name)
	}
	return nil
}

// requeue requeues the Slurm task of a worker stopped by a signal, after its checkpoint was
// written and its lock released, unless the SIGTERM was a user's scancel.
func requeue(stdout io.Writer, name string, usr1 bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reason := "USR1 before the time limit"
	if !usr1 {
		why, err := launch.TermReason(ctx)
		if err != nil {
			return fmt.Errorf("%w: %s stopped after its checkpoint; not requeued, since the reason for SIGTERM is unknown: %v",
				cli.ErrInterrupted, name, err)
		}
		if why == "" {
			fmt.Fprintf(stdout, "=== %s stopped by SIGTERM, neither preemption nor the time limit (scancel?): checkpoint written, task not requeued\n", name)
			return fmt.Errorf("%w: %s stopped after its checkpoint", cli.ErrInterrupted, name)
		}
		reason = "SIGTERM, " + why
	}
	task, err := launch.Requeue(ctx)
	if err != nil {
		return fmt.Errorf("%w: %s stopped after its checkpoint (%s), but requeueing failed: %v", cli.ErrInterrupted, name, reason, err)
	}
	fmt.Fprintf(stdout, "=== %s %s: checkpoint written, Slurm task %s requeued (%s); it resumes the run exactly\n",
		time.Now().Format(time.RFC3339), name, task, reason)
	return nil
}

// envOr returns the environment variable key, or def when it is unset or empty.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

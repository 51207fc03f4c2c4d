package main

import (
	"errors"

	"github.com/oodlab/dos/experiments/store"
)

// newExecutor builds the training executor that runs each run of a grid.
// The training package plugs in here, in one line, e.g.:
//
//	return train.New(opts.DataDir, opts.Backend, opts.Stdout)
//
// where train.New returns a store.Executor (see store.Executor for the
// contract: resume from checkpoint, append epochs, write results.json last,
// checkpoint and return on context cancellation).
func newExecutor(opts execOptions) (store.Executor, error) {
	return nil, errors.New("training executor not wired: experiments/executor.go must return the executor of package experiments/train (use --dry-run to inspect a grid meanwhile)")
}

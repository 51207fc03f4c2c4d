package main

import (
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/experiments/train"
)

// newExecutor builds the training executor that runs each run of a grid.
func newExecutor(opts execOptions) (store.Executor, error) {
	return train.New(opts.DataDir, opts.Backend, opts.Stdout), nil
}

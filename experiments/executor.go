package main

import (
	"io"
	"os"

	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/experiments/train"
)

// newExecutor builds the training executor that runs each run of a grid. The live progress
// bar goes to stdout only when it is a terminal; logs and files get the per-epoch lines.
func newExecutor(opts execOptions) (store.Executor, error) {
	var progress io.Writer
	if f, ok := opts.Stdout.(*os.File); ok && isTerminal(f) {
		progress = f
	}
	return train.New(opts.DataDir, opts.Backend, progress), nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

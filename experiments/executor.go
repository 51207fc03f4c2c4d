package main

import (
	"io"
	"os"

	"github.com/oodlab/dos/experiments/launch"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/experiments/train"
)

// newExecutor builds the training executor that runs each run of a grid. The live progress
// bar goes to stdout only when it is a terminal (or when opts.Progress asks for it: a worker of
// --parallel, whose parent shows it); logs and files get the per-epoch lines.
func newExecutor(opts execOptions) (store.Executor, error) {
	var progress io.Writer
	if f, ok := opts.Stdout.(*os.File); ok && (opts.Progress || isTerminal(f)) {
		progress = f
	}
	return train.New(opts.DataDir, opts.Backend, progress), nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// isTerminalWriter reports whether w is a terminal.
func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}

// terminalWidth is w's width in columns when it is a terminal (0 otherwise).
func terminalWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		return launch.TerminalWidth(f)
	}
	return 0
}

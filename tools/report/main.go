// Command report turns the runs of one grid in a run store into a report:
// results tables in the layout of the DOS paper's Table 1, plots, and a
// reproducibility report (one self-contained HTML file and its Markdown twin).
//
// Usage:
//
//	go run ./tools/report --grid NAME [--runs DIR] [--out DIR] [--fpr id|ood]
//
// --grid is an embedded grid name or a grid YAML file, as for go run
// ./experiments; --runs is the run store (default ./runs, the --out of go run
// ./experiments); --out is where the report goes (default <runs>/<grid>/report);
// --fpr picks the FPR95 shown in the tables: id (ID-positive, the DOS paper's,
// default) or ood (OOD-positive, OpenOOD v1.5's).
//
// It writes under --out:
//
//	table.md, table.csv, table.tex        results in the paper's layout
//	compare.md, compare.csv, compare.tex  ours beside the paper's Table 1 (CIFAR-100 only)
//	plots/*.svg, plots/*.png              training curves, score histograms, DOS diagnostics, epoch times
//	report.html                           everything above plus, per run, its configuration and provenance
//	report.md                             the same as Markdown, linking the plot files
//
// Every run of the grid is listed: done, running, failed (with the failure
// text) or missing; nothing is dropped silently. A directory under
// <runs>/<grid>/ that is not a run of the grid, and a run whose results file
// cannot be read, are named in a warning and left out of tables and plots.
//
// tools/report/render_check.sh REPORT.html [OUT.png] renders a report with
// headless Chromium and checks with tools/report/pngcheck that the screenshot
// is not blank.
//
// Exit status: 0 when the report was written (warnings included), 1 when the
// store is missing or empty or the report cannot be written, 2 for a bad
// command line (unknown flag, missing or unknown --grid, bad --fpr).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr, time.Now))
}

// usageError marks an error of the command line (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// cli runs the command with args and returns the exit status. now gives the
// time stamped on the report (tests fix it).
func cli(args []string, stdout, stderr io.Writer, now func() time.Time) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "report:", err)
		return exitUsage
	}
	opts.Now = now()
	rep, err := gather(opts)
	if err != nil {
		fmt.Fprintln(stderr, "report:", err)
		var ue usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailed
	}
	files, err := write(rep)
	if err != nil {
		fmt.Fprintln(stderr, "report:", err)
		return exitFailed
	}
	for _, w := range rep.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	c := rep.Counts()
	fmt.Fprintf(stdout, "grid %s: %d runs: %d done, %d running, %d failed, %d missing\n",
		rep.Grid.Name, len(rep.Runs), c.Done, c.Running, c.Failed, c.Missing)
	fmt.Fprintf(stdout, "report written to %s (%d files): %s\n", rep.Opts.Out, len(files), rep.Opts.Out+"/report.html")
	return exitOK
}

// parseFlags reads the command line into options (Now left zero).
func parseFlags(args []string, stderr io.Writer) (Options, error) {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	grid := fs.String("grid", "", "grid: an embedded name (go run ./experiments --list) or a YAML file")
	runs := fs.String("runs", "runs", "run store directory (the --out of go run ./experiments)")
	out := fs.String("out", "", "output directory (default <runs>/<grid>/report)")
	fpr := fs.String("fpr", "id", "FPR95 convention of the tables: id (ID-positive, the DOS paper's) or ood (OOD-positive, OpenOOD v1.5)")
	usage := func() {
		fmt.Fprintln(stderr, "usage: go run ./tools/report --grid NAME|FILE [--runs DIR] [--out DIR] [--fpr id|ood]")
		fs.SetOutput(stderr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage()
		}
		return Options{}, err
	}
	if fs.NArg() > 0 {
		return Options{}, fmt.Errorf("unexpected arguments %q (flags only; see --help)", fs.Args())
	}
	if *grid == "" {
		return Options{}, fmt.Errorf("--grid is required: an embedded grid name (go run ./experiments --list) or a grid YAML file")
	}
	conv, err := parseFPR(*fpr)
	if err != nil {
		return Options{}, err
	}
	return Options{GridArg: *grid, Runs: *runs, Out: *out, Convention: conv}, nil
}

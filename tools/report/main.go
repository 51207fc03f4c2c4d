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
// A test set whose scores are degenerate (results.json's warnings, see
// package experiments/metrics: constant scores, or an FPR95 threshold tied
// with many OOD scores) is named in a warning too; its numbers stay in the
// tables, marked † and never bold, with notes below each table, and the
// report lists them under "Degenerate scores".
//
// A grid that sweeps more than method and seed (say optim.lr: [0.02, 0.1])
// has one table row, one plotted line and one set of score histograms per
// combination of method and swept values (the Setting column); its run
// directories show the swept values (energy-s3-lr0.02-<id>).
//
// tools/report/render_check.sh REPORT.html [OUT.png] renders a report with
// headless Chromium and checks with tools/report/pngcheck that the screenshot
// is not blank.
//
// Exit status: 0 when the report was written (warnings included), 1 when the
// store is missing or empty or the report cannot be written, 2 for a bad
// command line (unknown flag, missing or unknown --grid, bad --fpr), 130 when
// interrupted (Ctrl-C, SIGTERM) before the report was complete.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/oodlab/dos/internal/cli"
)

func main() { cli.Main("report", run) }

// run is the command; the report is stamped with the current time.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return makeReport(ctx, args, stdout, stderr, time.Now)
}

// makeReport is run with now, the clock of the time stamped on the report
// (tests fix it).
func makeReport(ctx context.Context, args []string, stdout, stderr io.Writer, now func() time.Time) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	opts.Now = now()
	rep, err := gather(opts)
	if err != nil {
		return err
	}
	files, err := write(ctx, rep)
	if err != nil {
		return err
	}
	for _, w := range rep.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	for _, d := range rep.Degenerate {
		fmt.Fprintf(stderr, "warning: %s: %s: degenerate scores: %s\n", d.Run, d.Set, strings.Join(d.Warnings, "; "))
	}
	c := rep.Counts()
	fmt.Fprintf(stdout, "grid %s: %d runs: %d done, %d running, %d failed, %d missing\n",
		rep.Grid.Name, len(rep.Runs), c.Done, c.Running, c.Failed, c.Missing)
	fmt.Fprintf(stdout, "report written to %s (%d files): %s\n", rep.Opts.Out, len(files), rep.Opts.Out+"/report.html")
	if len(rep.Removed) > 0 {
		fmt.Fprintf(stdout, "removed %d files of an earlier report that this one no longer has: %s\n", len(rep.Removed), strings.Join(rep.Removed, ", "))
	}
	return nil
}

// parseFlags reads the command line into options (Now left zero); its errors
// are usage errors.
func parseFlags(args []string, stderr io.Writer) (Options, error) {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	grid := fs.String("grid", "", "grid: an embedded name (go run ./experiments --list) or a YAML file")
	runs := fs.String("runs", "runs", "run store directory (the --out of go run ./experiments)")
	out := fs.String("out", "", "output directory (default <runs>/<grid>/report)")
	fpr := fs.String("fpr", "id", "FPR95 convention of the tables: id (ID-positive, the DOS paper's) or ood (OOD-positive, OpenOOD v1.5)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./tools/report --grid NAME|FILE [--runs DIR] [--out DIR] [--fpr id|ood]")
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args); err != nil {
		return Options{}, err
	}
	if fs.NArg() > 0 {
		return Options{}, cli.Usagef("unexpected arguments %q (flags only; see --help)", fs.Args())
	}
	if *grid == "" {
		return Options{}, cli.Usagef("--grid is required: an embedded grid name (go run ./experiments --list) or a grid YAML file")
	}
	conv, err := parseFPR(*fpr)
	if err != nil {
		return Options{}, cli.Usage(err)
	}
	return Options{GridArg: *grid, Runs: *runs, Out: *out, Convention: conv}, nil
}

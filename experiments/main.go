// Command experiments runs experiment grids: go run ./experiments.
//
//	go run ./experiments --list
//	go run ./experiments --grid cifar100-ti300k --dry-run
//	go run ./experiments --grid quick --only method=dos,seed=3
//	go run ./experiments --grid my-grid.yaml --data /data --out /runs --backend xla:cuda
//	go run ./experiments --grid quick --parallel 2
//	go run ./experiments --grid cifar100-ti300k --out /shared/runs --slurm --partition gpu --gpus-per-run 1
//	go run ./experiments --grid cifar100-ti300k --out /shared/runs --status
//	go run ./experiments --grid cifar100-ti300k --k8s-print --k8s-image IMAGE --k8s-pvc CLAIM
//
// A grid (embedded name or YAML file, see config.Grid) expands to runs; each
// run lives in its own directory of the run store (--out, see package
// store). Finished runs are skipped, interrupted ones resume from their
// checkpoint, and several runners may share a store. Ctrl-C (SIGINT or
// SIGTERM) stops the current run after it writes a checkpoint; a second one
// kills at once.
//
// --parallel runs several runs at once in worker processes pinned to GPUs or
// to shares of the CPUs; --slurm submits the pending runs as a Slurm array
// job; --k8s-print writes a Kubernetes Indexed Job. All of them start the
// per-run worker command, this program with --run ID (see package launch).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/oodlab/dos/benchmarks/report"
	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/grids"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/experiments/train"
	"github.com/oodlab/dos/internal/cli"
	"github.com/oodlab/dos/models"
	"github.com/oodlab/dos/models/backend"
)

func main() { cli.Main("experiments", run) }

// run is the command (see package internal/cli).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runWith(ctx, args, stdout, stderr, newExecutor)
}

// execOptions is what the training executor is built from.
type execOptions struct {
	// DataDir is the data directory (--data).
	DataDir string
	// Backend is the --backend value ("" = automatic).
	Backend string
	// Stdout receives progress output.
	Stdout io.Writer
	// Progress draws the progress bar on Stdout even when it is not a terminal (--progress).
	Progress bool
}

// executorFactory builds the training executor (newExecutor in
// executor.go; tests pass fakes).
type executorFactory func(opts execOptions) (store.Executor, error)

// runWith is run with the executor's constructor given (tests pass fakes).
func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, newExec executorFactory) error {
	fs := flag.NewFlagSet("experiments", flag.ContinueOnError)
	fs.SetOutput(stderr)
	list := fs.Bool("list", false, "list the embedded grids and the methods")
	gridName := fs.String("grid", "", "grid to run: an embedded name (see --list) or a YAML file")
	dataDir := fs.String("data", data.DefaultDir(), "data directory (default $OOD_DATA, else ./datasets)")
	outDir := fs.String("out", "runs", "run store directory")
	only := fs.String("only", "", "run only the matching runs, e.g. method=dos,seed=3 (repeat a key for alternatives)")
	dry := fs.Bool("dry-run", false, "list the runs with their IDs and status, and the missing data; run nothing")
	backendName := backend.Flag(fs)
	sf := addScaleFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./experiments [--list] [--grid NAME|FILE] [--data DIR] [--out DIR] [--only k=v,...] [--dry-run] [--backend NAME]\n"+
			"       [--parallel N [--devices LIST]] [--status]\n"+
			"       [--slurm|--slurm-print [--partition P] [--time T] [--gpus-per-run N] [--cpus-per-run N] [--mem M] [--account A] [--qos Q] [--array-parallelism N] [--sbatch-arg X ...]]\n"+
			"       [--k8s-print --k8s-image IMAGE --k8s-pvc CLAIM [--k8s-mount DIR] ...]\n")
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return cli.Usagef("unexpected arguments %q", fs.Args())
	}
	if err := sf.check(fs, *dry); err != nil {
		return cli.Usage(err)
	}
	if *list {
		return printList(stdout)
	}
	if *gridName == "" {
		return cli.Usagef("--grid is required (see --list)")
	}
	g, err := grids.Load(*gridName)
	if err != nil {
		return err
	}
	filter, err := config.ParseFilter(*only)
	if err != nil {
		return cli.Usage(err)
	}
	runs, err := g.Expand(filter)
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		return cli.Usagef("--only %q matches none of the %d runs of grid %s", *only, g.Size(), g.Name)
	}
	if sf.run != "" {
		r, err := sf.selectRun(g, runs)
		if err != nil {
			return cli.Usage(err)
		}
		runs = []*config.Run{r}
	}
	for _, r := range runs {
		if *backendName != "" {
			r.Backend = *backendName
		}
		// The configuration package does not know the networks: check them here, before
		// anything runs.
		if _, err := models.Lookup(r.Network); err != nil {
			return fmt.Errorf("%s: network: %w", g.File, err)
		}
	}
	missing := missingData(runs, *dataDir)
	dataGiven := false
	fs.Visit(func(f *flag.Flag) { dataGiven = dataGiven || f.Name == "data" })
	if dataGiven {
		// A data directory given explicitly must hold the sets: no silent fallback to a copy
		// elsewhere.
		for _, name := range dataNames(runs) {
			if elsewhere, used, _ := data.Fallback(name, *dataDir); used {
				return fmt.Errorf("--data %s has no %s files, so its copy in %s would be used instead: "+
					"place the files in %s, or leave out --data to use that copy", *dataDir, name, elsewhere, filepath.Join(*dataDir, name))
			}
		}
	}

	if *dry {
		return dryRun(stdout, g, runs, *outDir, *dataDir, missing)
	}
	loc := locations{gridArg: *gridName, outDir: *outDir, dataDir: *dataDir, dataGiven: dataGiven, backend: *backendName}
	if sf.status {
		return printStatus(ctx, stdout, stderr, g, runs, *outDir)
	}
	if sf.k8sPrint {
		return printK8s(stdout, stderr, g, runs, loc, sf.k8sOpts)
	}
	if len(missing) > 0 {
		var b strings.Builder
		printMissing(&b, missing)
		return fmt.Errorf("data missing in %s:\n%s", *dataDir, strings.TrimRight(b.String(), "\n"))
	}
	// Everything a run needs of its data, and the store, is checked before anything is written.
	if err := store.Writable(*outDir); err != nil {
		if sf.slurm || sf.slurmPrint {
			return fmt.Errorf("%w: %s", err, sharedStoreNeed)
		}
		return err
	}
	if err := checkRuns(runs, *dataDir); err != nil {
		return fmt.Errorf("nothing was run: %w", err)
	}
	switch {
	case sf.slurm || sf.slurmPrint:
		return submitSlurm(ctx, stdout, stderr, g, runs, loc, sf.slurmOpts, sf.slurmPrint)
	case sf.parallel > 1 || sf.devices != "":
		return runParallel(ctx, stdout, g, runs, loc, sf)
	case sf.run != "":
		return runWorker(ctx, stdout, g, runs[0], loc, sf, newExec)
	}
	exec, err := newExec(execOptions{DataDir: *dataDir, Backend: *backendName, Stdout: stdout})
	if err != nil {
		return err
	}
	st, err := store.Open(*outDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "grid %s: %d runs, store %s\n", g.Name, len(runs), filepath.Join(*outDir, g.Name))
	rn := &store.Runner{Store: st, Grid: g.Name, Exec: exec, Progress: stdout, Echo: stdout}
	sum, err := rn.Run(ctx, runs)
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w; %d/%d runs done; run the same command again to resume", cli.ErrInterrupted, sum.Done, sum.Total)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "grid %s: %d/%d done, %d run now, %d busy in another runner, %d failed\n",
		g.Name, sum.Done, sum.Total, sum.Ran, sum.Busy, sum.Failed)
	if err := printTable(stdout, st, g.Name, runs); err != nil {
		fmt.Fprintln(stderr, "experiments: results table:", err)
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d runs failed:\n%v", sum.Failed, sum.Err())
	}
	return nil
}

// printList prints the embedded grids and the registered methods.
func printList(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "grids (--grid NAME, or a YAML file):")
	for _, name := range grids.Names() {
		g, err := grids.Load(name)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "  %s\t%d runs\t%s\n", name, g.Size(), g.Description)
	}
	fmt.Fprintln(tw, "methods (axis \"method\", or method.name):")
	for _, m := range config.Methods() {
		fmt.Fprintf(tw, "  %s\t%s\n", m.Name, m.Description)
	}
	return tw.Flush()
}

// missingEntry is one data set with missing files.
type missingEntry struct {
	name  string
	files []string
}

// dataNames lists the data sets (as referenced, class selections included) the runs use.
func dataNames(runs []*config.Run) []string {
	var names []string
	add := func(n string) {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, r := range runs {
		add(r.Benchmark.ID)
		add(r.Benchmark.Pool)
		for _, t := range r.Benchmark.Tests {
			add(t)
		}
	}
	return names
}

// missingData checks every data set the runs use.
func missingData(runs []*config.Run, dir string) []missingEntry {
	var out []missingEntry
	for _, n := range dataNames(runs) {
		if m := data.Missing(n, dir); len(m) > 0 {
			out = append(out, missingEntry{n, m})
		}
	}
	// Starting weights (init) are files the user provides too.
	var inits []string
	for _, r := range runs {
		if _, err := os.Stat(r.Init); r.Init != "" && err != nil && !slices.Contains(inits, r.Init) {
			inits = append(inits, r.Init)
		}
	}
	if len(inits) > 0 {
		for i, f := range inits {
			inits[i] = f + " (the runs' starting weights, init: in the grid; a PyTorch state dict or a checkpoint; the grid file says where it comes from)"
		}
		out = append(out, missingEntry{"init", inits})
	}
	return out
}

// printMissing lists missing data, one file per line.
func printMissing(w io.Writer, missing []missingEntry) {
	for _, m := range missing {
		fmt.Fprintf(w, "  %s:\n", m.name)
		for _, f := range m.files {
			fmt.Fprintf(w, "    %s\n", f)
		}
	}
}

// dryRun prints each run with its ID and status, and the missing data.
func dryRun(w io.Writer, g *config.Grid, runs []*config.Run, outDir, dataDir string, missing []missingEntry) error {
	row := func(d *store.RunDir, s store.Status) string {
		return filepath.Base(d.Path) + "\t" + d.ID + "\t" + s.String()
	}
	if err := printRuns(w, g, runs, outDir, "run\tid\tstatus", row); err != nil {
		return err
	}
	if err := store.Writable(outDir); err != nil {
		fmt.Fprintf(w, "store: %v\n", err)
		return fmt.Errorf("the run store %s cannot be written", outDir)
	}
	if len(missing) > 0 {
		var names []string
		for _, m := range missing {
			names = append(names, m.name)
		}
		fmt.Fprintf(w, "data: missing in %s: %s\n", dataDir, strings.Join(names, ", "))
		printMissing(w, missing)
		return nil
	}
	fmt.Fprintf(w, "data: all present in %s\n", dataDir)
	if err := checkRuns(runs, dataDir); err != nil {
		fmt.Fprintf(w, "checks: the runs below would fail:\n%v\n", err)
		return errors.New("some runs would fail (see the checks above)")
	}
	fmt.Fprintln(w, "checks: every run fits its data (sizes, classes, batches, iterations per epoch)")
	return nil
}

// checkRuns runs train.Check on the runs and names each problem's run.
func checkRuns(runs []*config.Run, dataDir string) error {
	names := make([]string, len(runs))
	for i, r := range runs {
		names[i], _ = r.Name()
	}
	return train.CheckErr(train.Check(runs, dataDir), names)
}

// printTable prints the grid's results in the paper's layout (the runs done so far).
func printTable(w io.Writer, st *store.Store, grid string, runs []*config.Run) error {
	col, err := store.Collect(st, grid, runs)
	if err != nil {
		return err
	}
	for _, warn := range col.Warnings {
		fmt.Fprintln(w, "warning:", warn)
	}
	t, err := report.BuildTable(report.FromStore(col), report.TableOptions{Title: "Grid " + grid})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%s\n", t.Markdown())
	return nil
}

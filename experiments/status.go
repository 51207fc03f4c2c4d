package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"

	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/store"
)

// printStatus prints each run's state in the store and, for runs submitted with --slurm, the
// Slurm task that runs it and Slurm's state of that task (when squeue, or sacct, can tell).
// It writes nothing.
func printStatus(ctx context.Context, stdout, stderr io.Writer, g *config.Grid, runs []*config.Run, outDir string) error {
	tasks, warnings, err := slurmTasks(ctx, slurmDir(outDir, g.Name))
	if err != nil {
		warnings = append(warnings, err.Error())
	}
	head, row := "run\tstate", func(d *store.RunDir, s store.Status) string { return filepath.Base(d.Path) + "\t" + s.String() }
	if len(tasks) > 0 {
		head, row = "run\tstate\tslurm task", func(d *store.RunDir, s store.Status) string {
			return filepath.Base(d.Path) + "\t" + s.String() + "\t" + describeTask(tasks[d.ID])
		}
	}
	if err := printRuns(stdout, g, runs, outDir, head, row); err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(stderr, "experiments: slurm:", w)
	}
	return nil
}

// printRuns prints the grid's line, a table of its runs (the tab-separated columns head names,
// and row gives for each run from its directory and state in the store at outDir), and the count
// of runs per state. It writes nothing to the store.
func printRuns(w io.Writer, g *config.Grid, runs []*config.Run, outDir, head string, row func(*store.RunDir, store.Status) string) error {
	st := &store.Store{Root: outDir} // not store.Open: reading must not create anything
	fmt.Fprintf(w, "grid %s (%s): %d runs, store %s\n", g.Name, g.File, len(runs), filepath.Join(outDir, g.Name))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  %s\n", head)
	counts := map[store.State]int{}
	for _, r := range runs {
		d, s, err := runStatus(st, g.Name, r)
		if err != nil {
			return err
		}
		counts[s.State]++
		fmt.Fprintf(tw, "  %s\n", row(d, s))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "status: %d done, %d partial, %d locked, %d new", counts[store.Done], counts[store.Partial], counts[store.Locked], counts[store.New])
	if counts[store.Corrupt] > 0 {
		fmt.Fprintf(w, ", %d corrupt", counts[store.Corrupt])
	}
	fmt.Fprintln(w)
	return nil
}

// runStatus returns a run's directory and state in the store. A run whose files cannot be read
// (a damaged metrics.jsonl, say) is Corrupt, so that it does not hide the others.
func runStatus(st *store.Store, grid string, r *config.Run) (*store.RunDir, store.Status, error) {
	d, err := st.Dir(grid, r)
	if err != nil {
		return nil, store.Status{}, err
	}
	s, err := d.Status(store.LockOptions{})
	if err != nil {
		s = store.Status{State: store.Corrupt, Err: err}
	}
	return d, s, nil
}

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/oodlab/dos/benchmarks/report"
	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/grids"
	"github.com/oodlab/dos/experiments/metrics"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/internal/cli"
)

// Options are the command's settings.
type Options struct {
	// GridArg is the --grid value as given (embedded name or file).
	GridArg string
	// Runs is the run store directory.
	Runs string
	// Out is the output directory ("" = <Runs>/<grid>/report).
	Out string
	// Convention is the FPR95 of the tables.
	Convention metrics.Convention
	// Now is stamped on the report.
	Now time.Time
}

// parseFPR reads --fpr.
func parseFPR(s string) (metrics.Convention, error) {
	switch s {
	case "id", "id-positive":
		return metrics.IDPositive, nil
	case "ood", "ood-positive":
		return metrics.OODPositive, nil
	}
	return 0, fmt.Errorf("--fpr %q: want id (ID-positive, the DOS paper's) or ood (OOD-positive, OpenOOD v1.5)", s)
}

// RunEntry is one run of the grid with everything the report shows about it.
type RunEntry struct {
	// Name is the run directory's name, <method>-s<seed>-<id> (with the
	// swept values before the ID in a sweep: config.Run.Name).
	Name string
	// Dir is the run directory.
	Dir *store.RunDir
	// Result is what store.Collect read (status, metrics, epochs).
	Result report.RunResult
	// Results is results.json of a done run (nil otherwise).
	Results *store.Results
	// ConfigYAML is config.yaml as stored, or the grid's resolved
	// configuration when the run has no directory yet (ConfigStored false).
	ConfigYAML   string
	ConfigStored bool
	// Only is the --only filter that selects this run alone.
	Only string
	// OnlyNote says when Only selects more than this run.
	OnlyNote string
	// Corrupt reports an unreadable results.json: the run is listed as
	// failed and left out of tables and plots.
	Corrupt bool
	// BackendLog is the last backend line of run.log ("backend=... devices=...").
	BackendLog string
	// EpochsDone counts the epoch records.
	EpochsDone int
}

// Counts tallies runs by status.
type Counts struct{ Done, Running, Failed, Missing int }

// Report is everything the output files are made from.
type Report struct {
	// Opts are the settings, Out resolved.
	Opts Options
	// Grid is the grid read; GridFile where it came from.
	Grid *config.Grid
	// GridDir is <runs>/<grid>.
	GridDir string
	// Runs are the grid's runs in grid order.
	Runs []RunEntry
	// Warnings name what was left out and why.
	Warnings []string
	// Degenerate lists the test sets of done runs whose scores are
	// degenerate (metrics.Result.Warnings), in grid and test-set order: their
	// numbers are kept, marked in the tables and never bold.
	Degenerate []DegenerateSet
	// Removed lists the files of an earlier report in the output directory that this one no
	// longer writes, deleted once it was complete (relative to the output directory).
	Removed []string
}

// DegenerateSet is an OOD test set of a run whose scores are degenerate.
type DegenerateSet struct {
	// Run is the run's directory name, Set the test set (as the run names it).
	Run, Set string
	// Warnings are the metrics' warnings.
	Warnings []string
}

// String is the note of the set in the report: "<run>, <set>: <warnings>".
func (d DegenerateSet) String() string {
	return fmt.Sprintf("%s, %s: %s", d.Run, report.SetName(d.Set), strings.Join(d.Warnings, "; "))
}

// Counts tallies the runs by status.
func (r *Report) Counts() Counts {
	var c Counts
	for _, e := range r.Runs {
		switch e.Result.Status {
		case report.StatusDone:
			c.Done++
		case report.StatusRunning:
			c.Running++
		case report.StatusFailed:
			c.Failed++
		default:
			c.Missing++
		}
	}
	return c
}

// gather reads the grid and its runs from the store.
func gather(opts Options) (*Report, error) {
	g, err := grids.Load(opts.GridArg)
	if err != nil {
		return nil, cli.Usage(err)
	}
	runs, err := g.Expand(nil)
	if err != nil {
		return nil, cli.Usage(err)
	}
	if fi, err := os.Stat(opts.Runs); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("run store %s does not exist (make one with: go run ./experiments --grid %s --out %s)", opts.Runs, opts.GridArg, opts.Runs)
		}
		return nil, fmt.Errorf("run store %s: %w", opts.Runs, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("run store %s is not a directory", opts.Runs)
	}
	gridDir := filepath.Join(opts.Runs, g.Name)
	if opts.Out == "" {
		opts.Out = filepath.Join(gridDir, "report")
	}
	st := &store.Store{Root: opts.Runs} // not store.Open: reading must not create anything
	col, err := store.Collect(st, g.Name, runs)
	if err != nil {
		return nil, err
	}
	results := report.FromStore(col)
	rep := &Report{Opts: opts, Grid: g, GridDir: gridDir}
	expected := map[string]bool{}
	byID := map[string]string{}
	for i, r := range runs {
		d := col.Runs[i].Dir
		e := RunEntry{Name: filepath.Base(d.Path), Dir: d, Result: results[i], EpochsDone: len(results[i].Epochs)}
		expected[e.Name] = true
		byID[d.ID] = e.Name
		if b, err := os.ReadFile(d.File(store.ConfigFile)); err == nil {
			e.ConfigYAML, e.ConfigStored = string(b), true
		} else if b, err := r.Canonical(); err == nil {
			e.ConfigYAML = string(b)
		}
		var onlyErr error
		if e.Only, onlyErr = onlyFilter(g, r, runs); onlyErr != nil {
			e.OnlyNote = onlyErr.Error() + ": it runs them all (those done are skipped)"
		}
		if e.Result.Status == report.StatusDone {
			res, err := d.Results()
			if err == nil && res != nil {
				e.Results = res
				finalPoint(&e.Result, res)
				for _, set := range r.Benchmark.Tests {
					if m, ok := res.Sets[set]; ok && m.Degenerate() {
						rep.Degenerate = append(rep.Degenerate, DegenerateSet{Run: e.Name, Set: set, Warnings: m.Warnings.List()})
					}
				}
			}
		}
		if _, err := d.Results(); errors.Is(err, store.ErrCorrupt) {
			e.Corrupt = true
		}
		e.BackendLog = backendLine(d.File(store.LogFile))
		rep.Runs = append(rep.Runs, e)
	}
	rep.Warnings = append(rep.Warnings, col.Warnings...)
	strays, found, err := scanGridDir(gridDir, expected, byID, opts.Out)
	if err != nil {
		return nil, err
	}
	if found == 0 {
		other := ""
		if len(strays) == 1 {
			other = "; 1 other directory there is not a run of this grid"
		} else if len(strays) > 1 {
			other = fmt.Sprintf("; %d other directories there are not runs of this grid", len(strays))
		}
		return nil, fmt.Errorf("no runs of grid %s in %s%s (make them with: go run ./experiments --grid %s --out %s)",
			g.Name, gridDir, other, opts.GridArg, opts.Runs)
	}
	for _, s := range strays {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: left out: %s", s.path, s.why))
	}
	return rep, nil
}

// stray is a directory under the grid's directory that is not one of its runs.
type stray struct{ path, why string }

// scanGridDir lists the grid directory: how many of the expected run
// directories exist, and the directories that are not runs of the grid (the
// output directory, hidden entries and plain files are ignored). byID maps
// the ID of each run of the grid to its directory name, to recognise a run
// stored under another name (runs of sweeps made before run names showed
// the swept values, which the store uses only while no directory has the
// new name).
func scanGridDir(gridDir string, expected map[string]bool, byID map[string]string, out string) ([]stray, int, error) {
	ents, err := os.ReadDir(gridDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("run store: %w", err)
	}
	outAbs, _ := filepath.Abs(out)
	var strays []stray
	found := 0
	for _, ent := range ents {
		name := ent.Name()
		p := filepath.Join(gridDir, name)
		if !ent.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		if abs, _ := filepath.Abs(p); abs == outAbs {
			continue
		}
		if expected[name] {
			found++
			continue
		}
		cfg := filepath.Join(p, store.ConfigFile)
		r, err := config.Load(cfg)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if name == "report" {
				continue // an earlier report written with its default --out
			}
			strays = append(strays, stray{p, "not a run directory (no " + store.ConfigFile + ")"})
		case err != nil:
			strays = append(strays, stray{p, fmt.Sprintf("unreadable %s: %v", store.ConfigFile, err)})
		default:
			id, _ := r.ID()
			if want, ok := byID[id]; ok {
				strays = append(strays, stray{p, fmt.Sprintf("it holds run %s of this grid (ID %s) under an earlier name, "+
					"from before run names showed the swept values; it is not used while %s exists (remove that one to use this)", want, id, want)})
				continue
			}
			strays = append(strays, stray{p, fmt.Sprintf("its configuration (method %s, seed %d, ID %s) is not a run of this grid: "+
				"a run of another grid, or of an earlier version of this grid", r.Method.Name, r.Seed, id)})
		}
	}
	slices.SortFunc(strays, func(a, b stray) int { return strings.Compare(a.path, b.path) })
	return strays, found, nil
}

// finalPoint completes the last epoch record of a done run with the final
// evaluation of results.json when the trainer left it out of metrics.jsonl
// (it evaluates the last epoch once, for the results), so that training
// curves end at the last epoch; the point is marked when a set's scores are
// degenerate.
func finalPoint(r *report.RunResult, res *store.Results) {
	if len(r.Epochs) == 0 || len(res.Sets) == 0 {
		return
	}
	last := &r.Epochs[len(r.Epochs)-1]
	if last.Epoch != res.Epochs || !math.IsNaN(last.TestAccuracy) || !math.IsNaN(last.FPR95) {
		return
	}
	sum := 0.0
	for _, m := range res.Sets {
		sum += m.FPR95
		last.Degenerate = last.Degenerate || m.Degenerate()
	}
	last.TestAccuracy = res.IDAccuracy
	last.FPR95 = sum / float64(len(res.Sets))
}

// onlyFilter is the --only value that selects r among g's runs: the value of
// every axis of the grid. An error says when it would select more than r
// (an axis over list values, which --only cannot express).
func onlyFilter(g *config.Grid, r *config.Run, runs []*config.Run) (string, error) {
	flat, err := r.Flat()
	if err != nil {
		return "", err
	}
	var parts []string
	for _, a := range g.Axes {
		key := a.Key
		v, ok := flat[key]
		if key == "method" {
			v, ok = flat["method.name"]
		}
		if !ok {
			continue // an axis over a block this method does not use
		}
		if strings.Contains(v, ",") {
			continue // a list value: --only cannot express it
		}
		parts = append(parts, key+"="+v)
	}
	only := strings.Join(parts, ",")
	f, err := config.ParseFilter(only)
	if err != nil {
		return "", err
	}
	n := 0
	for _, o := range runs {
		if ok, err := f.Match(o); err == nil && ok {
			n++
		}
	}
	if n > 1 {
		return only, fmt.Errorf("--only %s selects %d runs", only, n)
	}
	return only, nil
}

// backendLine returns the last "backend=" line of a run log ("" if none).
func backendLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	last := ""
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "backend=") {
			last = strings.TrimSpace(l)
		}
	}
	return last
}

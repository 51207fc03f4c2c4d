package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/oodlab/dos/benchmarks/report"
	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/metrics"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/sampling"
)

// Section is the tables and plots of one benchmark and network of the grid
// (a grid has one unless it has an axis over them).
type Section struct {
	// Suffix distinguishes the files of several sections ("" for one).
	Suffix string
	// Benchmark and Network are those of the section's runs.
	Benchmark, Network string
	// Runs are the section's run results, in grid order.
	Runs []report.RunResult
	// PlotRuns are Runs less those with a corrupt results file.
	PlotRuns []report.RunResult
	// Table is the results table (nil with TableNote saying why).
	Table     *report.Table
	TableNote string
	// Compare sets the table beside the paper's Table 1 (CIFAR-100 only).
	Compare     *report.Comparison
	CompareNote string
	// ScoreTables are the tables of every post-hoc score of the runs (report.ScoreNames), in
	// report order.
	ScoreTables []ScoreTable
	// Plots are the figures, in report order.
	Plots []Plot
	// Notes say which plots could not be drawn and why.
	Notes []string
}

// ScoreTable is the results table of one post-hoc score, written as table-<score><suffix>.*.
type ScoreTable struct {
	// Score is the score's name, Base the files' name without extension.
	Score, Base string
	Table       *report.Table
}

// Plot is one figure written as SVG and PNG.
type Plot struct {
	// Title is a heading, Caption says what is shown.
	Title, Caption string
	// Base is the file name without extension under plots/.
	Base string
	// SVG is the figure as SVG, embedded in the HTML report.
	SVG []byte
}

// table is a results table's renderings (report.Table, report.Comparison).
type table interface {
	Markdown() string
	CSV() string
	LaTeX() string
}

// write makes the output directory and writes every file; it returns the
// files written, relative to the output directory. A cancelled ctx stops it
// between sections, before the report files.
func write(ctx context.Context, rep *Report) ([]string, error) {
	out := rep.Opts.Out
	if err := os.MkdirAll(filepath.Join(out, "plots"), 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	var files []string
	put := func(name string, b []byte) error {
		if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
			return fmt.Errorf("output: %w", err)
		}
		files = append(files, name)
		return nil
	}
	// putTable writes a table as base.md, base.csv and base.tex.
	putTable := func(base string, t table) error {
		for _, f := range []struct{ ext, text string }{{"md", t.Markdown()}, {"csv", t.CSV()}, {"tex", t.LaTeX()}} {
			if err := put(base+"."+f.ext, []byte(f.text)); err != nil {
				return err
			}
		}
		return nil
	}
	interrupted := func() error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: report not complete: %w", out, err)
		}
		return nil
	}
	secs := sections(rep)
	for _, s := range secs {
		if err := interrupted(); err != nil {
			return nil, err
		}
		buildTables(rep, s)
		if s.Table != nil {
			if err := putTable("table"+s.Suffix, s.Table); err != nil {
				return nil, err
			}
		}
		if s.Compare != nil {
			if err := putTable("compare"+s.Suffix, s.Compare); err != nil {
				return nil, err
			}
		}
		for _, st := range s.ScoreTables {
			if err := putTable(st.Base, st.Table); err != nil {
				return nil, err
			}
		}
		if err := buildPlots(rep, s); err != nil {
			return nil, err
		}
		for _, p := range s.Plots {
			files = append(files, "plots/"+p.Base+".svg", "plots/"+p.Base+".png")
		}
	}
	if err := interrupted(); err != nil {
		return nil, err
	}
	if err := put("report.md", []byte(markdownReport(rep, secs))); err != nil {
		return nil, err
	}
	html, err := htmlReport(rep, secs)
	if err != nil {
		return nil, err
	}
	if err := put("report.html", html); err != nil {
		return nil, err
	}
	removed, err := removeStale(out, files)
	if err != nil {
		return nil, err
	}
	rep.Removed = removed
	return files, nil
}

// removeStale deletes, once a report is complete, the files an earlier report wrote that this
// one did not (the plots of a run or method since dropped from the grid, the tables of a
// benchmark no longer in it), so that the output directory holds only what the report shows.
// Only names a report writes are candidates: plots/*.svg and *.png, and the top-level
// table*.{md,csv,tex} and compare*.{md,csv,tex}; anything else in the directory is left alone.
// It returns the removed files, relative to out.
func removeStale(out string, written []string) ([]string, error) {
	keep := map[string]bool{}
	for _, f := range written {
		keep[f] = true
	}
	var removed []string
	drop := func(rel string) error {
		if keep[rel] {
			return nil
		}
		if err := os.Remove(filepath.Join(out, filepath.FromSlash(rel))); err != nil {
			return fmt.Errorf("output: removing a stale file of an earlier report: %w", err)
		}
		removed = append(removed, rel)
		return nil
	}
	ents, err := os.ReadDir(filepath.Join(out, "plots"))
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	for _, e := range ents {
		if n := e.Name(); e.Type().IsRegular() && (strings.HasSuffix(n, ".svg") || strings.HasSuffix(n, ".png")) {
			if err := drop("plots/" + n); err != nil {
				return nil, err
			}
		}
	}
	if ents, err = os.ReadDir(out); err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	for _, e := range ents {
		n, ext := e.Name(), filepath.Ext(e.Name())
		if e.Type().IsRegular() && (strings.HasPrefix(n, "table") || strings.HasPrefix(n, "compare")) &&
			(ext == ".md" || ext == ".csv" || ext == ".tex") {
			if err := drop(n); err != nil {
				return nil, err
			}
		}
	}
	return removed, nil
}

// sections groups the runs by benchmark and network, in grid order.
func sections(rep *Report) []*Section {
	var secs []*Section
	byKey := map[string]*Section{}
	for _, e := range rep.Runs {
		k := e.Result.Benchmark + "\x00" + e.Result.Network
		s, ok := byKey[k]
		if !ok {
			s = &Section{Benchmark: e.Result.Benchmark, Network: e.Result.Network}
			byKey[k] = s
			secs = append(secs, s)
		}
		s.Runs = append(s.Runs, e.Result)
		if !e.Corrupt {
			s.PlotRuns = append(s.PlotRuns, e.Result)
		}
	}
	if len(secs) > 1 {
		for _, s := range secs {
			s.Suffix = "-" + fileSafe(s.Benchmark+"-"+s.Network)
		}
	}
	return secs
}

// fileSafe replaces characters other than letters, digits, '-' and '.' by '_'.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

// buildTables fills the section's table and comparison.
func buildTables(rep *Report, s *Section) {
	title := "Grid " + rep.Grid.Name
	t, err := report.BuildTable(s.Runs, report.TableOptions{Convention: rep.Opts.Convention, Title: title})
	if err != nil {
		s.TableNote = "No table: " + strings.TrimPrefix(err.Error(), "report: ") + "."
		return
	}
	s.Table = t
	for _, score := range report.ScoreNames(s.Runs) {
		st, err := report.BuildScoreTable(s.Runs, score, report.TableOptions{Convention: rep.Opts.Convention, Title: title})
		if err != nil {
			continue // no done run has it: nothing to show
		}
		s.ScoreTables = append(s.ScoreTables, ScoreTable{Score: score, Base: "table-" + fileSafe(score) + s.Suffix, Table: st})
	}
	if s.Benchmark != "cifar100" {
		return
	}
	idt := t
	if rep.Opts.Convention != metrics.IDPositive {
		// The paper reports the ID-positive FPR95: compare in its convention.
		if idt, err = report.BuildTable(s.Runs, report.TableOptions{Convention: metrics.IDPositive, Title: title}); err != nil {
			s.CompareNote = "No comparison with the paper: " + err.Error() + "."
			return
		}
		s.CompareNote = "The comparison uses the ID-positive FPR95 (the paper's), whatever --fpr says."
	}
	c, err := report.CompareWithPaper(idt)
	if err != nil {
		s.CompareNote = "No comparison with the paper: " + strings.TrimPrefix(err.Error(), "report: ") + "."
		return
	}
	s.Compare = c
}

// buildPlots draws the section's figures and writes them as SVG and PNG.
func buildPlots(rep *Report, s *Section) error {
	add := func(title, caption, base string, fig *report.Figure, err error) error {
		if err != nil {
			s.Notes = append(s.Notes, fmt.Sprintf("%s: not drawn: %s.", title, strings.TrimPrefix(err.Error(), "report: ")))
			return nil
		}
		base += s.Suffix
		var svg bytes.Buffer
		if err := fig.Encode(&svg, "svg"); err != nil {
			return fmt.Errorf("plot %s: %w", base, err)
		}
		if err := os.WriteFile(filepath.Join(rep.Opts.Out, "plots", base+".svg"), svg.Bytes(), 0o644); err != nil {
			return fmt.Errorf("output: %w", err)
		}
		if err := fig.Save(filepath.Join(rep.Opts.Out, "plots", base+".png")); err != nil {
			return fmt.Errorf("output: %w", err)
		}
		s.Plots = append(s.Plots, Plot{Title: title, Caption: caption, Base: base, SVG: svg.Bytes()})
		return nil
	}
	withEpochs := slices.ContainsFunc(s.PlotRuns, func(r report.RunResult) bool { return len(r.Epochs) > 0 })
	if withEpochs {
		fig, err := report.TrainingCurves(s.PlotRuns)
		final := "the last epoch's from the final evaluation (results.json)."
		if slices.ContainsFunc(s.PlotRuns, func(r report.RunResult) bool {
			return slices.ContainsFunc(r.Epochs, func(e report.EpochRecord) bool { return e.Degenerate })
		}) {
			final = "the last epoch's from the final evaluation (results.json), marked × where a set's scores are degenerate."
		}
		if err := add("Training curves", "FPR95 (ID-positive, mean over the OOD test sets, %) and ID test accuracy (%) "+
			"against the epoch, per method, mean over seeds; only evaluated epochs (eval_every) have points, "+final+
			" Runs not finished contribute the epochs they completed.", "training", fig, err); err != nil {
			return err
		}
	} else {
		s.Notes = append(s.Notes, "Training curves: not drawn: no run has epoch records yet.")
	}
	if err := scorePlots(rep, s, add); err != nil {
		return err
	}
	hasDiag := slices.ContainsFunc(s.PlotRuns, func(r report.RunResult) bool {
		return slices.ContainsFunc(r.Epochs, func(e report.EpochRecord) bool {
			_, a := e.Diagnostics[sampling.DiagInertia]
			_, b := e.Diagnostics[sampling.DiagPAbsPicks]
			return a || b
		})
	})
	if hasDiag {
		fig, err := report.DOSDiagnostics(s.PlotRuns)
		if err := add("DOS diagnostics", "Per epoch, mean over seeds: the K-means inertia of the normalised candidate features, "+
			"and the mean absent-class probability p_abs of the outliers DOS picked (solid) against that of all candidates (dashed).",
			"dos-diagnostics", fig, err); err != nil {
			return err
		}
	} else {
		s.Notes = append(s.Notes, "DOS diagnostics: not drawn: no run records "+sampling.DiagInertia+" or "+sampling.DiagPAbsPicks+".")
	}
	if report.HasOutlierMeasures(s.PlotRuns) {
		fig, err := report.OutlierMeasures(s.PlotRuns)
		if err := add("Diversity and uncertainty of the outliers trained on", outlierCaption, "outliers", fig, err); err != nil {
			return err
		}
	} else if withEpochs {
		s.Notes = append(s.Notes, "Diversity and uncertainty of the outliers: not drawn: no run records "+store.DiagDiversity+
			" (runs of methods without outliers, or made before the trainer measured them).")
	}
	if withEpochs {
		fig, err := report.EpochTimes(s.PlotRuns)
		if err := add("Seconds per epoch", "Wall time of each training epoch in seconds (the seconds field of metrics.jsonl), per method, mean over seeds.", "epoch-times", fig, err); err != nil {
			return err
		}
	}
	return nil
}

// outlierCaption explains the outlier measures' figure.
const outlierCaption = "The DOS paper's Figure 3 for every method that trains on outliers, per epoch, mean over seeds. " +
	"At evenly spaced iterations of each epoch (4 by default) the trainer takes the outliers the step trains on (DOS: the picks of its " +
	"selection) and a uniform sample of the pool (384 rows in all by default), scores them with the model of that step (inference mode, " +
	"test transform) and records: diversity, the Calinski-Harabasz index of all these rows' penultimate features labelled by one K-means " +
	"step started at the outliers' " +
	"(as the DOS authors' analysis script computes it); uncertainty, the mean p_abs of the outliers (solid) against that of the sample (dashed) " +
	"for nets with the absent class, and for the others the uncertainty of their own test score (1 - MSP, or the free energy). " +
	"The indices compare samplers within one network's feature space; each method trains its own network."

// scoreKey identifies the runs of one method and variant.
type scoreKey struct{ method, variant string }

// scorePlots draws, per method (per method and variant in a grid that sweeps
// more than method and seed), the score histograms of its first done run
// whose scores are stored.
func scorePlots(rep *Report, s *Section, add func(title, caption, base string, fig *report.Figure, err error) error) error {
	var keys []scoreKey
	first := map[scoreKey]*RunEntry{}
	for i := range rep.Runs {
		e := &rep.Runs[i]
		r := e.Result
		if r.Benchmark != s.Benchmark || r.Network != s.Network {
			continue
		}
		k := scoreKey{r.Method, r.Variant}
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
		if r.Status == report.StatusDone && first[k] == nil {
			if _, err := os.Stat(e.Dir.File(filepath.Join(store.ScoresDir, "id-test.npy"))); err == nil {
				first[k] = e
			}
		}
	}
	var methods []string
	for _, k := range keys {
		if !slices.Contains(methods, k.method) {
			methods = append(methods, k.method)
		}
	}
	report.SortMethods(methods)
	slices.SortStableFunc(keys, func(a, b scoreKey) int { return slices.Index(methods, a.method) - slices.Index(methods, b.method) })
	for _, k := range keys {
		title := "Test scores of " + report.VariantName(k.method, k.variant)
		base := "scores-" + fileSafe(k.method)
		if k.variant != "" {
			base += "-" + fileSafe(k.variant)
		}
		e := first[k]
		if e == nil {
			what := "of the method"
			if k.variant != "" {
				what = "of the method with these values"
			}
			s.Notes = append(s.Notes, title+": not drawn: no done run "+what+" has stored scores ("+store.ScoresDir+"/id-test.npy).")
			continue
		}
		id, ood, err := readScores(e)
		if err != nil {
			rep.Warnings = append(rep.Warnings, err.Error())
			s.Notes = append(s.Notes, title+": not drawn: "+err.Error()+".")
			continue
		}
		fig, err := report.ScoreHistograms(id, ood, report.HistogramOptions{ScoreLabel: scoreLabel(e.Dir.Run.Method.Score), Cols: 3})
		caption := fmt.Sprintf("Normalised histograms of the test scores of run %s (seed %d): the ID test set against each OOD test set.",
			e.Name, e.Result.Seed)
		if slices.ContainsFunc(ood, func(s report.ScoreSet) bool { return len(s.Warnings) > 0 }) {
			caption += " A panel titled \"† degenerate scores\" shows scores the metrics warn about (see Degenerate scores)."
		}
		if err := add(title, caption, base, fig, err); err != nil {
			return err
		}
	}
	return nil
}

// readScores reads a run's stored ID and OOD test scores.
func readScores(e *RunEntry) (report.ScoreSet, []report.ScoreSet, error) {
	read := func(name string) ([]float64, error) {
		p := e.Dir.File(filepath.Join(store.ScoresDir, name+".npy"))
		a, err := data.ReadNPY(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", p, err)
		}
		v, err := a.Float64s()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", p, err)
		}
		return v, nil
	}
	idScores, err := read("id-test")
	if err != nil {
		return report.ScoreSet{}, nil, err
	}
	id := report.ScoreSet{Name: e.Dir.Run.Benchmark.ID, Scores: idScores}
	var ood []report.ScoreSet
	for _, t := range e.Dir.Run.Benchmark.Tests {
		v, err := read(t)
		if err != nil {
			return id, nil, err
		}
		set := report.ScoreSet{Name: t, Scores: v}
		if e.Results != nil {
			set.Warnings = e.Results.Sets[t].Warnings.List()
		}
		ood = append(ood, set)
	}
	return id, ood, nil
}

// scoreLabel is the histogram's x-axis label for a test score.
func scoreLabel(score string) string {
	switch score {
	case config.ScoreMSP:
		return "max softmax probability (0 to 1; higher = more ID)"
	case config.ScoreEnergy:
		return "negative energy, logsumexp of logits (nats; higher = more ID)"
	case config.ScoreAbsent:
		return "1 - p_absent (probability, 0 to 1; higher = more ID)"
	}
	return "score " + score + " (higher = more ID)"
}

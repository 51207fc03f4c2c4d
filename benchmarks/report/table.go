package report

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/oodlab/dos/experiments/metrics"
)

// TableOptions configures BuildTable.
type TableOptions struct {
	// Convention selects the FPR95 shown: metrics.IDPositive (the paper's,
	// default) or metrics.OODPositive (OpenOOD v1.5).
	Convention metrics.Convention
	// Sets lists the OOD test sets (keys of RunResult.PerSet) as columns, in
	// order. Empty means every set found in the done runs, in the paper's
	// column order (SVHN, LSUN-C, Textures, Places365, LSUN-R, iSUN), others
	// after alphabetically.
	Sets []string
	// Title, if set, starts the caption.
	Title string
	// Digits is the number of decimals shown in Markdown and LaTeX (the
	// paper uses 1); 0 means 1. CSV always has 4.
	Digits int
}

// Row is one line of a Table: one method, or one method and variant in a
// grid that sweeps more than method and seed. All values are percentages.
type Row struct {
	// Method is the registry name.
	Method string
	// Variant is the runs' RunResult.Variant ("" unless the grid sweeps
	// more than method and seed).
	Variant string
	// Runs counts all runs of the method given, Seeds only the done ones
	// that the statistics use.
	Runs, Seeds int
	// FPR and AUROC hold one Stat per Table.Sets entry.
	FPR, AUROC []Stat
	// AvgFPR and AvgAUROC summarise, over seeds, each seed's average over
	// the table's sets; only seeds that have every set count.
	AvgFPR, AvgAUROC Stat
	// Accuracy is the ID test accuracy.
	Accuracy Stat
}

// Table is a results table in the layout of the paper's Table 1: one row
// per method (per method and variant when the runs have variants), FPR95
// and AUROC per OOD set, their averages, ID accuracy.
type Table struct {
	// Benchmark and Network are those of the runs.
	Benchmark, Network string
	// Convention is the FPR95 shown.
	Convention metrics.Convention
	// Sets are the OOD set columns.
	Sets []string
	// Rows are in the paper's method order.
	Rows []Row
	// Flags list the numbers computed from degenerate scores, one per run
	// and OOD set whose metrics.Result has warnings, in row order; the
	// renderings explain them in notes below the table.
	Flags []Flag
	// Title and Digits as in TableOptions.
	Title  string
	Digits int
}

// Flag is an OOD test set of a run whose scores are degenerate
// (metrics.Result.Warnings: constant scores, or an FPR95 threshold tied with
// many OOD scores). Its FPR95 and AUROC, and the averages that include them,
// are marked in the tables and never bold.
type Flag struct {
	// Run names the run: RunResult.Name (its directory in the store), else
	// its method, variant and seed.
	Run string
	// Method, Variant and Seed are the run's.
	Method, Variant string
	Seed            int
	// Set is the OOD test set.
	Set string
	// Warnings are the metrics' warnings.
	Warnings []string
}

// dagger marks a number computed from degenerate scores.
const dagger = "†"

// degenerateNote heads the notes that explain the daggers.
const degenerateNote = dagger + " Computed from degenerate scores (constant scores, or an FPR95 threshold that ties many OOD scores: " +
	"see package experiments/metrics): the number is the official formula's but says little about detection, and is never bold; " +
	"an average that includes one is marked too."

// text is the flag's note: run, set, warnings.
func (f Flag) text() string {
	return fmt.Sprintf("%s, %s: %s", f.Run, SetName(f.Set), strings.Join(f.Warnings, "; "))
}

// flagNotes are the note lines of flags (nil without flags).
func flagNotes(flags []Flag) []string {
	if len(flags) == 0 {
		return nil
	}
	out := []string{degenerateNote}
	for _, f := range flags {
		out = append(out, f.text())
	}
	return out
}

// rowFlags is the CSV text of the flags of row r: "<run> <set>: <warnings>", " | "-separated.
func rowFlags(flags []Flag, r Row) string {
	var parts []string
	for _, f := range flags {
		if f.Method == r.Method && f.Variant == r.Variant {
			parts = append(parts, fmt.Sprintf("%s %s: %s", f.Run, f.Set, strings.Join(f.Warnings, "; ")))
		}
	}
	return strings.Join(parts, " | ")
}

// BuildTable summarises runs (one benchmark and network; at most one run
// per method, variant and seed) into a Table with one row per method and
// variant, the statistics over seeds. Runs whose Status is not "done" are
// counted in Row.Runs but not used.
func BuildTable(runs []RunResult, opt TableOptions) (*Table, error) {
	bench, net, err := checkRuns(runs)
	if err != nil {
		return nil, err
	}
	if opt.Convention != metrics.IDPositive && opt.Convention != metrics.OODPositive {
		return nil, fmt.Errorf("report: unknown metric convention %v", opt.Convention)
	}
	t := &Table{Benchmark: bench, Network: net, Convention: opt.Convention,
		Sets: slices.Clone(opt.Sets), Title: opt.Title, Digits: opt.Digits}
	if t.Digits <= 0 {
		t.Digits = 1
	}
	keys, byKey := groupRuns(runs)
	setSeen := map[string]bool{}
	for _, r := range runs {
		if r.Status == StatusDone {
			for s := range r.PerSet {
				setSeen[s] = true
			}
		}
	}
	if len(t.Sets) == 0 {
		for s := range setSeen {
			t.Sets = append(t.Sets, s)
		}
		sortSets(t.Sets)
	}
	if len(t.Sets) == 0 {
		return nil, fmt.Errorf("report: no done run has OOD results")
	}
	for _, k := range keys {
		row := Row{Method: k.method, Variant: k.variant, Runs: len(byKey[k])}
		fpr := make([][]float64, len(t.Sets))
		auc := make([][]float64, len(t.Sets))
		deg := make([]int, len(t.Sets))
		avgDeg := 0
		var avgF, avgA, acc []float64
		for _, r := range byKey[k] {
			if r.Status != StatusDone {
				continue
			}
			row.Seeds++
			acc = append(acc, 100*r.IDAccuracy)
			complete, degenerate := true, false
			var sf, sa float64
			for i, s := range t.Sets {
				res, ok := r.PerSet[s]
				if !ok {
					complete = false
					continue
				}
				f, a := 100*res.FPR(t.Convention), 100*res.AUROC
				fpr[i] = append(fpr[i], f)
				auc[i] = append(auc[i], a)
				sf += f
				sa += a
				if res.Degenerate() {
					deg[i]++
					degenerate = true
					t.Flags = append(t.Flags, Flag{Run: runName(r), Method: r.Method, Variant: r.Variant, Seed: r.Seed, Set: s,
						Warnings: res.Warnings.List()})
				}
			}
			if complete {
				avgF = append(avgF, sf/float64(len(t.Sets)))
				avgA = append(avgA, sa/float64(len(t.Sets)))
				if degenerate {
					avgDeg++
				}
			}
		}
		for i := range t.Sets {
			f, a := Summarize(fpr[i]), Summarize(auc[i])
			f.Degenerate, a.Degenerate = deg[i], deg[i]
			row.FPR = append(row.FPR, f)
			row.AUROC = append(row.AUROC, a)
		}
		row.AvgFPR, row.AvgAUROC, row.Accuracy = Summarize(avgF), Summarize(avgA), Summarize(acc)
		row.AvgFPR.Degenerate, row.AvgAUROC.Degenerate = avgDeg, avgDeg
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}

// fprLabel is the short column name of the FPR under the convention.
func fprLabel(c metrics.Convention) string {
	if c == metrics.OODPositive {
		return "FPR@95TPR(OOD+)"
	}
	return "FPR95"
}

// Caption describes the table: data, metric convention, statistics.
func (t *Table) Caption() string {
	var b strings.Builder
	if t.Title != "" {
		b.WriteString(t.Title)
		b.WriteString(". ")
	}
	fmt.Fprintf(&b, "ID: %s, network: %s. Per OOD test set: %s ↓ and AUROC ↑, in %%; ID acc.: ID test accuracy ↑, in %%. ",
		SetName(t.Benchmark), t.Network, t.Convention.Describe())
	b.WriteString("Mean ± sample standard deviation (ddof = 1) over n seeds (no ± when n = 1); ")
	b.WriteString("n = seeds done / runs. The average is taken per seed over the sets, then over seeds. Bold: best per column.")
	if len(t.Flags) > 0 {
		b.WriteString(" " + dagger + ": computed from degenerate scores (see the notes below the table), never bold.")
	}
	return b.String()
}

// cell is one rendered table entry.
type cell struct {
	text string
	bold bool
}

// grid is a table ready for rendering.
type grid struct {
	caption string
	// notes follow the table (Markdown: the first as a paragraph, the others as a list; LaTeX:
	// lines below the tabular).
	notes []string
	// groups label spans of columns above the header (LaTeX multicolumn);
	// Markdown prefixes them to the column headers.
	groups []group
	header []string
	// left is the number of leading, left-aligned text columns (0 means 1).
	left int
	rows [][]cell
	csv  [][]string
}

// leftCols is the number of leading, left-aligned columns.
func (g grid) leftCols() int { return max(g.left, 1) }

type group struct {
	label string
	span  int
}

func (t *Table) fmtStat(s Stat) string {
	switch {
	case s.N == 0:
		return "–"
	case s.N == 1:
		return strconv.FormatFloat(s.Mean, 'f', t.Digits, 64) + mark(s)
	}
	return strconv.FormatFloat(s.Mean, 'f', t.Digits, 64) + mark(s) + " ± " + strconv.FormatFloat(s.Std, 'f', t.Digits, 64)
}

// mark is the dagger of a statistic computed from degenerate scores, else "".
func mark(s Stat) string {
	if s.Degenerate > 0 {
		return dagger
	}
	return ""
}

// csvStat gives the mean and std with 4 decimals; empty when not defined.
func csvStat(s Stat) (string, string) {
	m, sd := "", ""
	if s.N > 0 {
		m = strconv.FormatFloat(s.Mean, 'f', 4, 64)
	}
	if s.N > 1 {
		sd = strconv.FormatFloat(s.Std, 'f', 4, 64)
	}
	return m, sd
}

// markBest returns, per column, the rows whose rounded mean is best (lower
// or higher). Statistics computed from degenerate scores take no part: they
// are never best, and do not keep a sound value from being bold.
func markBest(stats []Stat, lower bool, digits int) []bool {
	scale := math.Pow(10, float64(digits))
	best := math.NaN()
	for _, s := range stats {
		if s.N == 0 || s.Degenerate > 0 {
			continue
		}
		v := math.Round(s.Mean * scale)
		if math.IsNaN(best) || (lower && v < best) || (!lower && v > best) {
			best = v
		}
	}
	out := make([]bool, len(stats))
	for i, s := range stats {
		out[i] = s.N > 0 && s.Degenerate == 0 && math.Round(s.Mean*scale) == best
	}
	return out
}

// hasVariants reports whether any row has a variant: then the tables have a Setting column.
func hasVariants(rows []Row) bool {
	return slices.ContainsFunc(rows, func(r Row) bool { return r.Variant != "" })
}

// rowHead starts a grid's header with the columns that name a row: Method, Setting (only
// when rows have variants) and n, and the CSV header with method, setting, seeds, runs.
func rowHead(g *grid, rows []Row) []string {
	if hasVariants(rows) {
		g.groups = append(g.groups, group{"", 3})
		g.header = []string{"Method", "Setting", "n"}
		g.left = 2
		return []string{"method", "setting", "seeds", "runs"}
	}
	g.groups = append(g.groups, group{"", 2})
	g.header = []string{"Method", "n"}
	return []string{"method", "seeds", "runs"}
}

// rowCells are the cells and CSV fields that name row r (see rowHead).
func rowCells(r Row, variants bool) ([]cell, []string) {
	cells := []cell{{text: MethodName(r.Method)}}
	rec := []string{r.Method}
	if variants {
		cells = append(cells, cell{text: r.Variant})
		rec = append(rec, r.Variant)
	}
	cells = append(cells, cell{text: fmt.Sprintf("%d/%d", r.Seeds, r.Runs)})
	rec = append(rec, strconv.Itoa(r.Seeds), strconv.Itoa(r.Runs))
	return cells, rec
}

func (t *Table) grid() grid {
	g := grid{caption: t.Caption()}
	fl := fprLabel(t.Convention)
	csvHead := rowHead(&g, t.Rows)
	fk := "fpr95"
	if t.Convention == metrics.OODPositive {
		fk = "fpr95_ood_positive"
	}
	for _, s := range t.Sets {
		g.groups = append(g.groups, group{SetName(s), 2})
		g.header = append(g.header, fl+" ↓", "AUROC ↑")
		csvHead = append(csvHead, s+"_"+fk+"_mean", s+"_"+fk+"_std", s+"_auroc_mean", s+"_auroc_std")
	}
	g.groups = append(g.groups, group{"Average", 2}, group{"", 1})
	g.header = append(g.header, fl+" ↓", "AUROC ↑", "ID acc. ↑")
	csvHead = append(csvHead, "avg_"+fk+"_mean", "avg_"+fk+"_std", "avg_auroc_mean", "avg_auroc_std", "id_acc_mean", "id_acc_std")
	g.notes = flagNotes(t.Flags)
	if len(t.Flags) > 0 {
		csvHead = append(csvHead, "degenerate")
	}
	g.csv = append(g.csv, csvHead)

	// Columns of stats, with the direction of "better".
	type col struct {
		stats []Stat
		lower bool
	}
	var cols []col
	for i := range t.Sets {
		var f, a []Stat
		for _, r := range t.Rows {
			f = append(f, r.FPR[i])
			a = append(a, r.AUROC[i])
		}
		cols = append(cols, col{f, true}, col{a, false})
	}
	var af, aa, ac []Stat
	for _, r := range t.Rows {
		af, aa, ac = append(af, r.AvgFPR), append(aa, r.AvgAUROC), append(ac, r.Accuracy)
	}
	cols = append(cols, col{af, true}, col{aa, false}, col{ac, false})
	bold := make([][]bool, len(cols))
	for j, c := range cols {
		bold[j] = markBest(c.stats, c.lower, t.Digits)
	}
	variants := hasVariants(t.Rows)
	for i, r := range t.Rows {
		row, rec := rowCells(r, variants)
		for j, c := range cols {
			s := c.stats[i]
			row = append(row, cell{text: t.fmtStat(s), bold: bold[j][i]})
			m, sd := csvStat(s)
			rec = append(rec, m, sd)
		}
		if len(t.Flags) > 0 {
			rec = append(rec, rowFlags(t.Flags, r))
		}
		g.rows = append(g.rows, row)
		g.csv = append(g.csv, rec)
	}
	return g
}

// Markdown renders the table as a GitHub-flavoured Markdown table preceded
// by its caption.
func (t *Table) Markdown() string { return t.grid().markdown() }

// CSV renders the table as CSV: one row per method (and variant, in a
// "setting" column after "method" when the rows have variants) with mean
// and std columns (percent, 4 decimals; std empty for a single seed, both
// empty without data). When some numbers come from degenerate scores, a
// last column "degenerate" lists, per row, "<run> <set>: <warnings>"
// (" | "-separated); the numbers themselves stay plain.
func (t *Table) CSV() string { return t.grid().csvText() }

// LaTeX renders the table as a LaTeX table environment using booktabs
// (\toprule, \midrule, \bottomrule, \cmidrule).
func (t *Table) LaTeX() string { return t.grid().latex() }

func (g grid) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "**Table.** %s\n\n", g.caption)
	// Column headers prefixed by their group label.
	hdr := slices.Clone(g.header)
	j := 0
	for _, gr := range g.groups {
		for k := 0; k < gr.span; k++ {
			if gr.label != "" {
				hdr[j] = gr.label + " " + hdr[j]
			}
			j++
		}
	}
	b.WriteString("| " + strings.Join(hdr, " | ") + " |\n|")
	for i := range hdr {
		if i < g.leftCols() {
			b.WriteString(" :--- |")
		} else {
			b.WriteString(" ---: |")
		}
	}
	b.WriteString("\n")
	for _, r := range g.rows {
		b.WriteString("|")
		for _, c := range r {
			if c.bold {
				fmt.Fprintf(&b, " **%s** |", c.text)
			} else {
				fmt.Fprintf(&b, " %s |", c.text)
			}
		}
		b.WriteString("\n")
	}
	if len(g.notes) > 0 {
		fmt.Fprintf(&b, "\n%s\n\n", g.notes[0])
		for _, n := range g.notes[1:] {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

func (g grid) csvText() string {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.WriteAll(g.csv) // writes to memory: cannot fail
	return buf.String()
}

// texEscape escapes LaTeX special characters and maps the few Unicode
// symbols the tables use to math mode.
func texEscape(s string) string {
	r := strings.NewReplacer(
		`\`, `\textbackslash{}`, "&", `\&`, "%", `\%`, "$", `\$`, "#", `\#`,
		"_", `\_`, "{", `\{`, "}", `\}`, "~", `\textasciitilde{}`, "^", `\textasciicircum{}`,
		"±", `$\pm$`, "↓", `$\downarrow$`, "↑", `$\uparrow$`, "–", "--", "−", `$-$`, "Δ", `$\Delta$`, dagger, `$^\dagger$`,
	)
	return r.Replace(s)
}

func (g grid) latex() string {
	var b strings.Builder
	ncol := len(g.header)
	b.WriteString("% Generated by benchmarks/report; needs \\usepackage{booktabs}.\n")
	b.WriteString("\\begin{table}[t]\n\\centering\n")
	fmt.Fprintf(&b, "\\caption{%s}\n", texEscape(g.caption))
	b.WriteString("\\begin{tabular}{" + strings.Repeat("l", g.leftCols()) + strings.Repeat("r", ncol-g.leftCols()) + "}\n\\toprule\n")
	// Group row with \multicolumn and \cmidrule under each labelled group.
	var parts, rules []string
	col := 1
	for _, gr := range g.groups {
		for k := 0; k < gr.span; k++ {
			if gr.label == "" {
				parts = append(parts, "")
			}
		}
		if gr.label != "" {
			parts = append(parts, fmt.Sprintf("\\multicolumn{%d}{c}{%s}", gr.span, texEscape(gr.label)))
			rules = append(rules, fmt.Sprintf("\\cmidrule(lr){%d-%d}", col, col+gr.span-1))
		}
		col += gr.span
	}
	b.WriteString(strings.Join(parts, " & ") + " \\\\\n")
	b.WriteString(strings.Join(rules, " ") + "\n")
	hdr := make([]string, len(g.header))
	for i, h := range g.header {
		hdr[i] = texEscape(h)
	}
	b.WriteString(strings.Join(hdr, " & ") + " \\\\\n\\midrule\n")
	for _, r := range g.rows {
		cs := make([]string, len(r))
		for i, c := range r {
			cs[i] = texEscape(c.text)
			if c.bold {
				cs[i] = "\\textbf{" + cs[i] + "}"
			}
		}
		b.WriteString(strings.Join(cs, " & ") + " \\\\\n")
	}
	b.WriteString("\\bottomrule\n\\end{tabular}\n")
	if len(g.notes) > 0 {
		b.WriteString("\\par\\smallskip\n{\\footnotesize\n")
		for _, n := range g.notes {
			b.WriteString(texEscape(n) + "\\\\\n")
		}
		b.WriteString("}\n")
	}
	b.WriteString("\\end{table}\n")
	return b.String()
}

package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/oodlab/dos/experiments/metrics"
)

// PaperResult is one method's row of the paper's Table 1. All values are
// percentages; FPR95 is ID-positive.
type PaperResult struct {
	// FPR95 and AUROC per OOD set, keyed by setKey ("svhn", "lsunc",
	// "textures", "places365", "lsunr", "isun").
	FPR95, AUROC map[string]float64
	// AvgFPR95, AvgAUROC are the paper's averages over the six sets.
	AvgFPR95, AvgAUROC float64
	// Accuracy is the ID (CIFAR-100) test accuracy.
	Accuracy float64
}

// PaperSource names where PaperTable1 comes from.
const PaperSource = "Jiang et al., DOS: Diverse Outlier Sampling for Out-of-Distribution Detection, " +
	"ICLR 2024 (arXiv 2306.02031), Table 1: CIFAR-100, DenseNet-BC-100, TI-300K auxiliary outliers"

// PaperTable1 returns the paper's Table 1 (CIFAR-100 benchmark), keyed by
// method registry name. This is the one place these numbers live in code.
//
// Source: PaperSource, as transcribed in docs/method.md, section 6. Each
// pair is FPR95 (ID-positive, %) / AUROC (%); columns SVHN, LSUN-C,
// Textures, Places365, LSUN-R, iSUN, then the average and ID accuracy.
func PaperTable1() map[string]PaperResult {
	row := func(pairs [6][2]float64, avg [2]float64, acc float64) PaperResult {
		p := PaperResult{FPR95: map[string]float64{}, AUROC: map[string]float64{},
			AvgFPR95: avg[0], AvgAUROC: avg[1], Accuracy: acc}
		for i, k := range paperSetOrder {
			p.FPR95[k], p.AUROC[k] = pairs[i][0], pairs[i][1]
		}
		return p
	}
	return map[string]PaperResult{
		//                 SVHN          LSUN-C        Textures      Places365     LSUN-R        iSUN           average       acc
		"msp":    row([6][2]float64{{83.3, 76.3}, {78.6, 78.2}, {86.9, 70.6}, {83.0, 74.1}, {82.3, 74.0}, {84.2, 72.4}}, [2]float64{83.0, 74.3}, 75.6),
		"oe":     row([6][2]float64{{42.6, 91.5}, {34.1, 93.6}, {57.0, 87.3}, {54.7, 87.3}, {45.7, 90.8}, {48.6, 90.0}}, [2]float64{47.1, 90.1}, 74.4),
		"energy": row([6][2]float64{{20.6, 96.4}, {26.0, 95.2}, {53.4, 88.4}, {53.2, 88.9}, {34.5, 93.0}, {38.6, 92.1}}, [2]float64{37.7, 92.3}, 68.7),
		"ntom":   row([6][2]float64{{28.4, 95.2}, {36.5, 93.7}, {52.5, 88.7}, {60.9, 87.9}, {59.9, 86.2}, {62.7, 84.7}}, [2]float64{50.2, 89.4}, 74.6),
		"share":  row([6][2]float64{{27.8, 95.3}, {28.5, 94.9}, {47.7, 89.3}, {54.9, 88.7}, {38.1, 92.5}, {42.2, 91.3}}, [2]float64{39.9, 92.0}, 75.1),
		"poem":   row([6][2]float64{{63.4, 88.1}, {38.5, 92.7}, {57.2, 87.9}, {59.5, 80.5}, {57.2, 87.6}, {58.7, 86.1}}, [2]float64{55.7, 87.1}, 63.4),
		"dos":    row([6][2]float64{{13.1, 97.4}, {20.0, 96.4}, {34.9, 92.3}, {59.6, 88.6}, {8.2, 98.4}, {10.3, 97.8}}, [2]float64{24.4, 95.2}, 75.5),
	}
}

// Comparison sets a Table's numbers beside the paper's Table 1.
type Comparison struct {
	table *Table
	paper map[string]PaperResult
	// avg reports whether the table's sets are exactly the paper's six, so
	// that the averages compare.
	avg bool
}

// CompareWithPaper builds the comparison of t with the paper's Table 1. t
// must be a CIFAR-100 table with the ID-positive FPR95 (the paper's).
// Averages are compared only when t's sets are exactly the paper's six.
func CompareWithPaper(t *Table) (*Comparison, error) {
	if setKey(t.Benchmark) != "cifar100" {
		return nil, fmt.Errorf("report: the paper's Table 1 is for CIFAR-100, the table is for %q", t.Benchmark)
	}
	if t.Convention != metrics.IDPositive {
		return nil, fmt.Errorf("report: the paper's Table 1 uses the ID-positive FPR95, the table uses %s", t.Convention)
	}
	c := &Comparison{table: t, paper: PaperTable1()}
	if len(t.Sets) == len(paperSetOrder) {
		c.avg = true
		for _, s := range t.Sets {
			if _, ok := c.paper["dos"].FPR95[setKey(s)]; !ok {
				c.avg = false
			}
		}
	}
	return c, nil
}

// Caption describes the comparison.
func (c *Comparison) Caption() string {
	var b strings.Builder
	if c.table.Title != "" {
		b.WriteString(c.table.Title + ". ")
	}
	fmt.Fprintf(&b, "Ours vs the paper (%s). Each cell: ours / paper (Δ = ours − paper), in %%; ours is the mean over n seeds (n = seeds done / runs); ", PaperSource)
	fmt.Fprintf(&b, "%s ↓, AUROC ↑, ID acc. ↑ (ID: %s, network: %s).", c.table.Convention.Describe(), SetName(c.table.Benchmark), c.table.Network)
	if !c.avg {
		b.WriteString(" Averages omitted: the table's OOD sets are not the paper's six.")
	}
	if hasVariants(c.table.Rows) {
		b.WriteString(" Rows with a setting (a sweep's values) are not the configuration of the paper's Table 1: no paper numbers beside them.")
	}
	if len(c.table.Flags) > 0 {
		b.WriteString(" " + dagger + ": ours computed from degenerate scores (see the notes below the table).")
	}
	return b.String()
}

func (c *Comparison) grid() grid {
	t := c.table
	g := grid{caption: c.Caption()}
	csvHead := rowHead(&g, t.Rows)
	type col struct {
		key   string
		ours  func(Row) Stat
		paper func(PaperResult) (float64, bool)
	}
	var cols []col
	for i, s := range t.Sets {
		k := setKey(s)
		g.groups = append(g.groups, group{SetName(s), 2})
		g.header = append(g.header, "FPR95 ↓", "AUROC ↑")
		cols = append(cols,
			col{s + "_fpr95", func(r Row) Stat { return r.FPR[i] }, func(p PaperResult) (float64, bool) { v, ok := p.FPR95[k]; return v, ok }},
			col{s + "_auroc", func(r Row) Stat { return r.AUROC[i] }, func(p PaperResult) (float64, bool) { v, ok := p.AUROC[k]; return v, ok }})
	}
	if c.avg {
		g.groups = append(g.groups, group{"Average", 2})
		g.header = append(g.header, "FPR95 ↓", "AUROC ↑")
		cols = append(cols,
			col{"avg_fpr95", func(r Row) Stat { return r.AvgFPR }, func(p PaperResult) (float64, bool) { return p.AvgFPR95, true }},
			col{"avg_auroc", func(r Row) Stat { return r.AvgAUROC }, func(p PaperResult) (float64, bool) { return p.AvgAUROC, true }})
	}
	g.groups = append(g.groups, group{"", 1})
	g.header = append(g.header, "ID acc. ↑")
	cols = append(cols, col{"id_acc", func(r Row) Stat { return r.Accuracy }, func(p PaperResult) (float64, bool) { return p.Accuracy, true }})
	for _, cl := range cols {
		csvHead = append(csvHead, cl.key+"_ours_mean", cl.key+"_ours_std", cl.key+"_paper", cl.key+"_diff")
	}
	g.notes = flagNotes(t.Flags)
	if len(t.Flags) > 0 {
		csvHead = append(csvHead, "degenerate")
	}
	g.csv = append(g.csv, csvHead)
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', t.Digits, 64) }
	variants := hasVariants(t.Rows)
	for _, r := range t.Rows {
		// Table 1 gives each method at its defaults: a row with a setting (an ablation, a sweep)
		// is another configuration, with no paper number to put beside it.
		p, inPaper := c.paper[strings.ToLower(r.Method)]
		inPaper = inPaper && r.Variant == ""
		row, rec := rowCells(r, variants)
		for _, cl := range cols {
			s := cl.ours(r)
			pv, ok := 0.0, false
			if inPaper {
				pv, ok = cl.paper(p)
			}
			ours := "–"
			if s.N > 0 {
				ours = f(s.Mean) + mark(s)
			}
			text := ours
			m, sd := csvStat(s)
			ps, ds := "", ""
			if ok {
				ps = strconv.FormatFloat(pv, 'f', 1, 64)
				text += " / " + ps
				if s.N > 0 {
					d := s.Mean - pv
					ds = strconv.FormatFloat(d, 'f', 4, 64)
					text += " (" + signed(d, t.Digits) + ")"
				}
			}
			row = append(row, cell{text: text})
			rec = append(rec, m, sd, ps, ds)
		}
		if len(t.Flags) > 0 {
			rec = append(rec, rowFlags(t.Flags, r))
		}
		g.rows = append(g.rows, row)
		g.csv = append(g.csv, rec)
	}
	return g
}

// signed formats d with an explicit sign ("+1.2", "−0.3"); a value that
// rounds to zero prints as "+0.0".
func signed(d float64, digits int) string {
	scale := math.Pow(10, float64(digits))
	if math.Round(d*scale) == 0 {
		d = 0
	}
	if d < 0 {
		return "−" + strconv.FormatFloat(-d, 'f', digits, 64)
	}
	return "+" + strconv.FormatFloat(d, 'f', digits, 64)
}

// Markdown renders the comparison as a Markdown table with its caption.
func (c *Comparison) Markdown() string { return c.grid().markdown() }

// CSV renders the comparison as CSV with ours (mean, std), paper and
// difference columns per metric.
func (c *Comparison) CSV() string { return c.grid().csvText() }

// LaTeX renders the comparison as a booktabs LaTeX table.
func (c *Comparison) LaTeX() string { return c.grid().latex() }

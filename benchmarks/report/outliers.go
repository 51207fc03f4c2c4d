package report

import (
	"fmt"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/oodlab/dos/experiments/store"
)

// uncertaintyKinds are the uncertainty kinds in panel order (store's Uncertainty constants).
var uncertaintyKinds = []string{store.UncertaintyPAbs, store.UncertaintyMSP, store.UncertaintyEnergy, store.UncertaintyMaxLogit}

// uncertaintyLabel is the y-axis label of an uncertainty kind.
func uncertaintyLabel(kind string) string {
	switch kind {
	case store.UncertaintyPAbs:
		return "mean p_abs (probability, 0 to 1)"
	case store.UncertaintyMSP:
		return "mean 1 - MSP (0 to 1)"
	case store.UncertaintyEnergy:
		return "mean free energy, -logsumexp (nats)"
	case store.UncertaintyMaxLogit:
		return "mean minus the max logit"
	}
	return "mean " + kind
}

// HasOutlierMeasures reports whether some run records the outlier probe's measures.
func HasOutlierMeasures(runs []RunResult) bool {
	return slices.ContainsFunc(runs, func(r RunResult) bool {
		return slices.ContainsFunc(r.Epochs, func(e EpochRecord) bool {
			for k := range e.Diagnostics {
				if k == store.DiagDiversity || strings.HasPrefix(k, store.DiagUncertaintyPrefix) {
					return true
				}
			}
			return false
		})
	})
}

// OutlierMeasures plots, per epoch and method (mean over seeds), the measures of the outliers
// each method trains on that the trainer's outlier probe records: one panel of their diversity
// (store.DiagDiversity: the Calinski-Harabasz index, the DOS paper's Figure 3a) with every
// method, then one panel per uncertainty kind (p_abs for the nets with the absent class, as the
// paper's Figure 3b; 1 - MSP or the free energy for the others, after their test score) with the
// mean uncertainty of the outliers (solid) and of the probe's uniform sample of the pool
// (dashed), in the same colour per method.
func OutlierMeasures(runs []RunResult) (*Figure, error) {
	if _, _, err := checkRuns(runs); err != nil {
		return nil, err
	}
	diag := func(key string) func(EpochRecord) (float64, bool) {
		return func(e EpochRecord) (float64, bool) { v, ok := e.Diagnostics[key]; return v, ok }
	}
	t := figureTitle(runs)
	// One colour per method across the panels, in table order.
	colour := map[string]int{}
	keys, _ := groupRuns(runs)
	for _, k := range keys {
		colour[VariantName(k.method, k.variant)] = len(colour)
	}
	div := methodSeries(runs, diag(store.DiagDiversity), nil)
	var panels []*plot.Plot
	if len(div) > 0 {
		p := plot.New()
		p.Title.Text = "Diversity of the outliers trained on (" + t + ")"
		p.X.Label.Text = "epoch"
		p.Y.Label.Text = "Calinski-Harabasz index (unitless)"
		p.Add(plotter.NewGrid())
		p.Legend.Top = true
		for _, s := range div {
			l, err := plotter.NewLine(s.xys)
			if err != nil {
				return nil, fmt.Errorf("report: outlier measures: %s: %w", s.name, err)
			}
			l.Color = seriesColor(colour[s.name])
			l.Width = vg.Points(1.5)
			p.Add(l)
			p.Legend.Add(s.name, l)
		}
		headroom(p, len(div))
		panels = append(panels, p)
	}
	for _, kind := range kindsOf(runs) {
		picks := methodSeries(runs, diag(store.DiagUncertaintyPrefix+kind), nil)
		pool := methodSeries(runs, diag(store.DiagReferenceUncertaintyPrefix+kind), nil)
		if len(picks) == 0 && len(pool) == 0 {
			continue
		}
		p := plot.New()
		p.Title.Text = "Uncertainty of the outliers trained on: " + kind + " (" + t + ")"
		p.X.Label.Text = "epoch"
		p.Y.Label.Text = uncertaintyLabel(kind)
		p.Add(plotter.NewGrid())
		p.Legend.Top = true
		for g, group := range [][]series{picks, pool} {
			for _, s := range group {
				l, err := plotter.NewLine(s.xys)
				if err != nil {
					return nil, fmt.Errorf("report: outlier measures: %s: %w", s.name, err)
				}
				l.Color = seriesColor(colour[s.name])
				l.Width = vg.Points(1.5)
				label := s.name + ": outliers"
				if g == 1 {
					l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
					label = s.name + ": pool sample"
				}
				p.Add(l)
				p.Legend.Add(label, l)
			}
		}
		headroom(p, len(picks)+len(pool)+1)
		panels = append(panels, p)
	}
	if len(panels) == 0 {
		return nil, fmt.Errorf("report: outlier measures: no run records %s or %s<kind>", store.DiagDiversity, store.DiagUncertaintyPrefix)
	}
	return newFigure(2, panels...), nil
}

// kindsOf returns the uncertainty kinds the runs record, in panel order (unknown kinds last,
// alphabetically).
func kindsOf(runs []RunResult) []string {
	var found []string
	for _, r := range runs {
		for _, e := range r.Epochs {
			for k := range e.Diagnostics {
				if kind, ok := strings.CutPrefix(k, store.DiagUncertaintyPrefix); ok && !slices.Contains(found, kind) {
					found = append(found, kind)
				}
			}
		}
	}
	rank := func(s string) int {
		if i := slices.Index(uncertaintyKinds, s); i >= 0 {
			return i
		}
		return len(uncertaintyKinds)
	}
	slices.SortFunc(found, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	return found
}

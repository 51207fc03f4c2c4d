package report

import (
	"fmt"
	"slices"
	"strings"

	"gonum.org/v1/plot"

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
	t := figureTitle(runs)
	// One colour per method across the panels, in table order.
	colour := map[string]int{}
	keys, _ := groupRuns(runs)
	for _, k := range keys {
		colour[VariantName(k.method, k.variant)] = len(colour)
	}
	div := methodSeries(runs, diagnostic(store.DiagDiversity), nil)
	var panels []*plot.Plot
	if len(div) > 0 {
		p := newLinePlot("Diversity of the outliers trained on ("+t+")", "epoch", "Calinski-Harabasz index (unitless)")
		if err := addLines(p, div, colour, "", false); err != nil {
			return nil, fmt.Errorf("report: outlier measures: %w", err)
		}
		headroom(p, len(div))
		panels = append(panels, p)
	}
	for _, kind := range kindsOf(runs) {
		picks := methodSeries(runs, diagnostic(store.DiagUncertaintyPrefix+kind), nil)
		pool := methodSeries(runs, diagnostic(store.DiagReferenceUncertaintyPrefix+kind), nil)
		if len(picks) == 0 && len(pool) == 0 {
			continue
		}
		p := newLinePlot("Uncertainty of the outliers trained on: "+kind+" ("+t+")", "epoch", uncertaintyLabel(kind))
		if err := addLines(p, picks, colour, ": outliers", false); err != nil {
			return nil, fmt.Errorf("report: outlier measures: %w", err)
		}
		if err := addLines(p, pool, colour, ": pool sample", true); err != nil {
			return nil, fmt.Errorf("report: outlier measures: %w", err)
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
	sortByOrder(found, uncertaintyKinds, nil)
	return found
}

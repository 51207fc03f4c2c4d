package objectives

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// OutlierLossFn computes the unweighted outlier term of one training step from the ID logits
// and the outlier logits of that step (losses that ignore the ID logits accept nil there).
type OutlierLossFn func(idLogits, oodLogits *graph.Node) *graph.Node

// EnergyOutlierLoss returns EnergyLoss with the given margins as an OutlierLossFn.
func EnergyOutlierLoss(mIn, mOut float64) OutlierLossFn {
	return func(idLogits, oodLogits *graph.Node) *graph.Node {
		return EnergyLoss(idLogits, oodLogits, mIn, mOut)
	}
}

// outlierLosses is the registry of outlier losses by name, with the paper's margins.
var outlierLosses = map[string]OutlierLossFn{
	"absent": func(_, ood *graph.Node) *graph.Node { return AbsentClassLoss(ood) },
	"oe":     func(_, ood *graph.Node) *graph.Node { return OELoss(ood) },
	"energy": EnergyOutlierLoss(EnergyMarginIn, EnergyMarginOut),
}

// OutlierLossNames returns the names accepted by OutlierLossByName, sorted.
func OutlierLossNames() []string {
	names := make([]string, 0, len(outlierLosses))
	for n := range outlierLosses {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// OutlierLossByName returns the outlier loss of the given name: absent (AbsentClassLoss, for
// K+1-output nets), oe (OELoss) or energy (EnergyLoss with EnergyMarginIn and EnergyMarginOut;
// use EnergyOutlierLoss for other margins).
func OutlierLossByName(name string) (OutlierLossFn, error) {
	if fn, ok := outlierLosses[name]; ok {
		return fn, nil
	}
	return nil, fmt.Errorf("objectives: unknown outlier loss %q, want one of %s",
		name, strings.Join(OutlierLossNames(), ", "))
}

// LossNeedsAbsentClass reports whether the named outlier loss needs a net with K+1 outputs.
func LossNeedsAbsentClass(name string) bool { return name == "absent" }

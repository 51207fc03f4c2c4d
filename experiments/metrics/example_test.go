package metrics_test

import (
	"fmt"

	"github.com/oodlab/dos/experiments/metrics"
)

// Scores are "higher = more in-distribution", e.g. 1 - p_abs or MSP.
func ExampleCompute() {
	id := []float64{0.9, 0.8, 0.8, 0.7, 0.6}
	ood := []float64{0.85, 0.5, 0.4, 0.3}
	r, err := metrics.Compute(id, ood)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("FPR95 %.2f (ID-positive), %.2f (OOD-positive), AUROC %.3f\n",
		r.FPR95, r.FPR95OODPositive, r.AUROC)
	// Output: FPR95 0.25 (ID-positive), 0.80 (OOD-positive), AUROC 0.800
}

package harness

import (
	"math"
	"testing"
)

// TestQuantile checks linear interpolation between closest ranks against values NumPy's
// np.quantile (method "linear") gives for [1, 2, 4, 8, 16].
func TestQuantile(t *testing.T) {
	s := []float64{1, 2, 4, 8, 16}
	for _, c := range []struct{ q, want float64 }{{0, 1}, {0.1, 1.4}, {0.5, 4}, {0.9, 12.8}, {1, 16}} {
		if got := Quantile(s, c.q); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if !math.IsNaN(Quantile(nil, 0.5)) {
		t.Error("Quantile of no values must be NaN")
	}
}

// TestSummarize checks the median, spread, compile time and image rate of a small sample,
// whatever the order of the times.
func TestSummarize(t *testing.T) {
	tm := Summarize(1000, []float64{30, 10, 20}, 64)
	if tm.N != 3 || tm.MedianMS != 20 || tm.MinMS != 10 || tm.MaxMS != 30 || tm.P10MS != 12 || tm.P90MS != 28 {
		t.Errorf("summary %+v", tm)
	}
	if tm.CompileMS != 980 || tm.ImagesPerS != 3200 {
		t.Errorf("compile %v ms, %v images/s; want 980, 3200", tm.CompileMS, tm.ImagesPerS)
	}
}

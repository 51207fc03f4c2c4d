package metrics

import (
	"encoding/json"
	"strings"
	"testing"
)

// repeat returns n copies of v.
func repeat(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// ramp returns n scores lo, lo+step, ...
func ramp(lo, step float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = lo + step*float64(i)
	}
	return out
}

// TestDegenerate: score sets that cannot be ranked (constant scores) or whose FPR95 threshold
// ties many OOD scores get a warning; the numbers are those of the official formulas, unchanged.
func TestDegenerate(t *testing.T) {
	for _, c := range []struct {
		name    string
		id, ood []float64
		want    []string // substrings of the one warning; nil: no warning
		fpr     float64
	}{
		// A diverged network: every test score is the same number. The official strict '>'
		// accepts no OOD score: FPR95 0, next to FPR95 OOD-positive 1 and AUROC 0.5.
		{"all equal", repeat(8.5e3, 200), repeat(8.5e3, 300), []string{"all 500 scores", "200 ID", "300 OOD", "8500"}, 0},
		{"constant ID", repeat(2, 100), ramp(0, 0.1, 50), []string{"all 100 ID scores equal 2"}, 0.58},
		{"constant OOD", ramp(0, 1, 100), repeat(50.5, 40), []string{"all 40 OOD scores equal 50.5"}, 1},
		// 100 distinct ID scores 0..99: threshold the 95th largest, 5; 20 of 100 OOD scores at 5.
		{"threshold ties", ramp(0, 1, 100), append(repeat(5, 20), ramp(-80, 1, 80)...),
			[]string{"20 of 100 OOD scores (20.0%)", "threshold 5", "strict", "0.2"}, 0},
		{"few ties", ramp(0, 1, 100), append(repeat(5, 5), ramp(-95, 1, 95)...), nil, 0},
		{"separated", ramp(10, 1, 100), ramp(0, 0.1, 90), nil, 0},
		{"one ID score", []float64{3}, ramp(0.5, 1, 10), nil, 0.7},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := Compute(c.id, c.ood)
			if err != nil {
				t.Fatal(err)
			}
			if r.FPR95 != c.fpr {
				t.Errorf("FPR95 = %v, want %v (the official strict inequality)", r.FPR95, c.fpr)
			}
			if c.want == nil {
				if r.Warnings != "" || r.Degenerate() {
					t.Errorf("warnings %q, want none", r.Warnings)
				}
				return
			}
			l := r.Warnings.List()
			if len(l) != 1 || !r.Degenerate() {
				t.Fatalf("warnings %q, want one", l)
			}
			for _, w := range c.want {
				if !strings.Contains(l[0], w) {
					t.Errorf("warning %q lacks %q", l[0], w)
				}
			}
		})
	}
	// The diverged case keeps its numbers: FPR95 0, OOD-positive 1, AUROC 0.5.
	r, _ := Compute(repeat(1, 10), repeat(1, 10))
	if r.FPR95 != 0 || r.FPR95OODPositive != 1 || r.AUROC != 0.5 {
		t.Errorf("constant scores: FPR95 %v, OOD-positive %v, AUROC %v; want 0, 1, 0.5", r.FPR95, r.FPR95OODPositive, r.AUROC)
	}
	// Both constant but different: two warnings.
	r, _ = Compute(repeat(2, 10), repeat(1, 10))
	if len(r.Warnings.List()) != 2 {
		t.Errorf("constant ID and OOD scores: warnings %q, want two", r.Warnings.List())
	}
	// results.json records the warnings as a list, and only when there are some; they read back.
	b, _ := json.Marshal(r)
	if !strings.Contains(string(b), `"warnings":["all 10 ID scores equal 2`) {
		t.Errorf("JSON %s lacks the warnings", b)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil || back != r {
		t.Errorf("JSON round trip: %v, %+v vs %+v", err, back, r)
	}
	r, _ = Compute(ramp(10, 1, 10), ramp(0, 1, 10))
	if b, _ := json.Marshal(r); strings.Contains(string(b), "warnings") {
		t.Errorf("JSON of sound scores %s has warnings", b)
	}
}

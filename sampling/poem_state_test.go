package sampling

import (
	"math"
	"slices"
	"testing"
)

// TestPOEMStateRoundTrip: a POEM restored from MarshalState after an epoch of feedback picks the
// same outliers in the next epoch as the original, and a fresh POEM (prior only) does not.
func TestPOEMStateRoundTrip(t *testing.T) {
	const d = 4
	feats := func(n int, phase float64) []float32 {
		f := make([]float32, n*d)
		for i := range f {
			f[i] = float32(math.Sin(float64(i)*0.7 + phase))
		}
		return f
	}
	orig := smallPOEM(t)
	if _, err := orig.Select(0, Scores{Features: feats(30, 0), Dim: d}); err != nil {
		t.Fatal(err)
	}
	req := orig.FeedbackRequest(0)
	if err := orig.Feedback(0, Scores{Features: feats(len(req.ID), 1), Dim: d},
		Scores{Features: feats(len(req.Pool), 2), Dim: d}); err != nil {
		t.Fatal(err)
	}
	state, err := orig.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	restored, fresh := smallPOEM(t), smallPOEM(t)
	if err := restored.UnmarshalState(state); err != nil {
		t.Fatal(err)
	}
	next := Scores{Features: feats(30, 3), Dim: d}
	a, _ := orig.Select(1, next)
	b, _ := restored.Select(1, next)
	c, _ := fresh.Select(1, next)
	if !slices.Equal(a, b) {
		t.Fatalf("restored POEM picks %v, original %v", b, a)
	}
	if slices.Equal(a, c) && slices.Equal(orig.PosteriorMean(), fresh.PosteriorMean()) {
		t.Fatal("the state made no difference: the test cannot tell a restore from a fresh start")
	}
	if err := restored.UnmarshalState([]byte("garbage")); err == nil {
		t.Fatal("corrupt state must be an error")
	}
}

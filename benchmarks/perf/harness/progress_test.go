package harness

import (
	"testing"
)

// TestProgressReportsEachPart checks that Config.Progress receives, before each part, a partial
// copy holding every part measured so far, and that the final result is not marked partial.
func TestProgressReportsEachPart(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Backend, cfg.Network, cfg.Image, cfg.Classes = "go", "small-cnn", 8, 3
	cfg.IDBatch, cfg.Candidates, cfg.OODBatch = 2, 8, 2
	cfg.Iters, cfg.Warmup, cfg.NInit, cfg.KMeansIters = 1, 0, 1, 2
	cfg.Pipeline, cfg.PipelineBatches = true, 1
	var got []*Result
	cfg.Progress = func(r *Result) { got = append(got, r) }
	final, err := Run(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if final.Partial {
		t.Error("final result marked partial")
	}
	// Before: random, DOS, scoring, selection, clustering, pipeline.
	if len(got) != 6 {
		t.Fatalf("Progress called %d times, want 6 (before each of 5 timed parts and the pipeline)", len(got))
	}
	count := func(r *Result) int {
		n := 0
		for _, tm := range []*Timing{r.Random, r.DOS} {
			if tm != nil {
				n++
			}
		}
		if r.Split != nil {
			for _, tm := range []*Timing{r.Split.Scoring, r.Split.Selection, r.Split.Clustering} {
				if tm != nil {
					n++
				}
			}
		}
		return n
	}
	for i, r := range got {
		if !r.Partial {
			t.Errorf("call %d: not marked partial", i)
		}
		if n := count(r); n != min(i, 5) {
			t.Errorf("call %d: %d parts measured, want %d", i, n, min(i, 5))
		}
		if r.Pipeline != nil {
			t.Errorf("call %d: pipeline set before it was measured", i)
		}
		if !(r.Memory.MaxRSSMB > 0) {
			t.Errorf("call %d: memory not filled: %+v", i, r.Memory)
		}
	}
	// The copies are independent of the final result's split.
	if got[4].Split.Clustering != nil || final.Split.Clustering == nil {
		t.Error("a partial copy shares the final result's split")
	}
	if count(final) != 5 || final.Pipeline == nil {
		t.Errorf("final result incomplete: %d parts, pipeline %v", count(final), final.Pipeline)
	}
}

package train

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph DSL reads better unqualified.
	"github.com/gomlx/gomlx/pkg/core/shapes"

	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/models/backend"
	"github.com/oodlab/dos/sampling"
	"github.com/oodlab/dos/sampling/ondevice"
)

// TestDOSSelectionCriteriaTrain runs each selection criterion that the ablations added (the
// random pick, and the uncertainties of a network without the absent class: the energy of
// method dos-energy, the max logit, the MSP) end to end on synthetic data with the pure-Go
// backend, twice: with the selection on the host (that backend's default) and inside the step
// graph. The two runs must agree bit for bit (losses, selection diagnostics, every variable,
// the test metrics), the diagnostics must carry the criterion's names, and where the pick is
// the least uncertain member of each cluster the picks' mean uncertainty cannot exceed the
// block's.
func TestDOSSelectionCriteriaTrain(t *testing.T) {
	for _, tc := range []struct {
		name, method, uncertainty, pick string
	}{
		{"pick random", "dos", sampling.UncertaintyAbsent, sampling.PickRandom},
		{"energy", "dos-energy", sampling.UncertaintyEnergy, sampling.PickMinPAbs},
		{"maxlogit", "dos-energy", sampling.UncertaintyMaxLogit, sampling.PickMinPAbs},
		{"msp", "dos-energy", sampling.UncertaintyMSP, sampling.PickMinPAbs},
		{"energy, pick random", "dos-energy", sampling.UncertaintyEnergy, sampling.PickRandom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := hostAndGraphRuns(t, tc.method, func(run *config.Run) {
				d := run.Method.SamplerOptions().(*sampling.DOSOptions)
				d.Uncertainty, d.Pick = tc.uncertainty, tc.pick
				if ps := d.Check(sampling.RunShape{OODBatch: run.Batch.OOD, NoAbsentClass: run.Method.Outputs != config.OutputsAbsent}); len(ps) > 0 {
					t.Fatal(ps)
				}
			})
			assertSameRuns(t, r)
			recs := r[0].recs
			picks, all := sampling.DiagUncertaintyPicks(tc.uncertainty), sampling.DiagUncertaintyAll(tc.uncertainty)
			for e, h := range recs {
				p, okP := h.Diagnostics[picks]
				a, okA := h.Diagnostics[all]
				if !okP || !okA || math.IsNaN(p) || math.IsNaN(a) || math.IsNaN(h.Loss) {
					t.Fatalf("epoch %d: loss %v, no %s or %s in %v", e+1, h.Loss, picks, all, h.Diagnostics)
				}
				if tc.pick == sampling.PickMinPAbs && p > a {
					t.Errorf("epoch %d: mean %s of the picks %v above the block's %v: the picks are each cluster's least uncertain",
						e+1, tc.uncertainty, p, a)
				}
			}
			if len(recs) != 2 || len(r[1].recs) != 2 {
				t.Fatalf("%d and %d epoch records, want 2", len(recs), len(r[1].recs))
			}
			if tc.method == "dos-energy" {
				if recs[1].Diagnostics[DiagOODLoss] < 0 {
					t.Errorf("energy loss %v < 0", recs[1].Diagnostics[DiagOODLoss])
				}
			}
		})
	}
}

// dos-energy trains a K-output network (no absent class) with the energy loss and scores it
// with the energy score: its configuration validates, and the trainer builds it that way.
func TestDOSEnergyModel(t *testing.T) {
	run := tinyRun(t, "dos-energy")
	tr := newTinyTrainer(t, run, t.TempDir())
	if m := tr.Model; m.Outputs != m.Classes || m.Loss.Kind != config.LossEnergy || m.Score != config.ScoreEnergy ||
		m.Loss.MIn != config.DefaultMIn || m.Loss.MOut != config.DefaultMOut || m.Loss.Weight != 0.1 {
		t.Errorf("dos-energy model: outputs %d of %d classes, loss %+v, score %s", m.Outputs, m.Classes, m.Loss, m.Score)
	}
	if got := tr.Sampler.(*sampling.DOS).Config().UncertaintyKind(); got != sampling.UncertaintyEnergy {
		t.Errorf("dos-energy selects by %s", got)
	}
}

// The selection graphs of the new criteria translate to StableHLO for XLA at the official shapes
// (384 candidates of DenseNet-BC-100: 342 features; 100 outputs without the absent class, 101
// with it), with every random number passed in: no device RNG, no host transfer.
func TestDOSCriteriaForXLA(t *testing.T) {
	for _, tc := range []struct {
		name        string
		outputs     int
		uncertainty string
		random      bool
	}{
		{"energy", 100, sampling.UncertaintyEnergy, false},
		{"maxlogit", 100, sampling.UncertaintyMaxLogit, false},
		{"msp", 100, sampling.UncertaintyMSP, false},
		{"pick random", 101, sampling.UncertaintyAbsent, true},
	} {
		cfg := sampling.DefaultDOSConfig(384, 64)
		cfg.Uncertainty, cfg.PickRandom = tc.uncertainty, tc.random
		prog, err := backend.StableHLO("dos-"+tc.name, func(g *Graph) []*Node {
			l := Parameter(g, "logits", shapes.Make(dtypes.Float32, 384, tc.outputs))
			f := Parameter(g, "features", shapes.Make(dtypes.Float32, 384, 342))
			u := Parameter(g, "uniforms", shapes.Make(dtypes.Float32, cfg.UniformsSize()))
			s := ondevice.SelectDOS(l, f, u, cfg)
			return []*Node{s.Indices, s.MeanPAbsPicked, s.MeanPAbsAll}
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		counts := map[string]int{}
		for _, c := range backend.CountOps(prog) {
			counts[c.Op] = c.Count
		}
		for _, op := range []string{"custom_call", "infeed", "outfeed", "send", "recv", "rng", "rng_bit_generator"} {
			if counts[op] != 0 {
				t.Errorf("%s: %d %s operations", tc.name, counts[op], op)
			}
		}
		if p := fmt.Sprintf("tensor<%dxf32>", cfg.UniformsSize()); !strings.Contains(strings.SplitN(prog, "\n", 3)[1], p) {
			t.Errorf("%s: the program's parameters lack the uniforms %s", tc.name, p)
		}
	}
}

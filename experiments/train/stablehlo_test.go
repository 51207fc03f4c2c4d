package train

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph DSL reads better unqualified.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/models"
	"github.com/oodlab/dos/models/backend"
	"github.com/oodlab/dos/models/optim"
	"github.com/oodlab/dos/sampling"
	"github.com/oodlab/dos/sampling/ondevice"
)

// TestStepGraphsForXLA builds the step graphs of the paper's networks at the official shapes
// (32x32, ID batch 64, 384 candidates, 64 picks, 101 outputs), and of the other networks at small
// ones, with the XLA backend's StableHLO translation, which the pure-Go tests never exercise. It
// checks their structure by counting operations: the DOS iteration is the random-sampling
// iteration plus exactly one inference pass plus the selection program, in convolutions and in
// matrix products alike. With N convolutions in an inference pass, a training step (forward, and
// the gradients with respect to inputs and kernels) holds 3N and the DOS iteration 4N. No program
// holds a host transfer (infeed, outfeed, send, recv, custom calls) or a device RNG.
func TestStepGraphsForXLA(t *testing.T) {
	for _, c := range []struct {
		name                                          string
		classes, idBatch, candidates, picks, side, ch int
	}{
		{"densenet-bc-100", 100, 64, 384, 64, 32, 3},
		{"wrn-40-4", 100, 64, 384, 64, 32, 3},
		{"resnet18", 10, 8, 24, 4, 32, 3},
		{"resnet50", 10, 4, 12, 4, 64, 3},
		{"small-cnn", 5, 8, 24, 4, 28, 1},
		{"mlp", 5, 8, 24, 4, 28, 1},
	} {
		name, classes, idBatch, candidates, picks := c.name, c.classes, c.idBatch, c.candidates, c.picks
		img := func(n int) shapes.Shape { return shapes.Make(dtypes.Float32, n, c.side, c.side, c.ch) }
		t.Run(name, func(t *testing.T) {
			arch, err := models.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			opt, err := optim.New(OptimizerConfig(config.PaperOptim()))
			if err != nil {
				t.Fatal(err)
			}
			dosSampler, err := sampling.NewDOSWithConfig(1, candidates, sampling.DefaultDOSConfig(candidates, picks))
			if err != nil {
				t.Fatal(err)
			}
			cfg := dosSampler.Config()
			m := &Model{Arch: arch, Classes: classes, Outputs: classes + 1, Score: "absent", Opt: opt,
				Loss: Loss{Kind: "absent", Weight: 1}, InGraph: dosSampler}
			emit := func(step string, build func(ctx *context.Context, g *Graph) []*Node) map[string]int {
				prog, err := backend.StableHLO(step, func(g *Graph) []*Node { return build(context.New(), g) })
				if err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				counts := map[string]int{}
				for _, c := range backend.CountOps(prog) {
					counts[c.Op] = c.Count
				}
				// Nothing leaves the device mid-program, and no randomness is drawn on it: the
				// host passes every uniform in, so results do not depend on a backend's RNG.
				for _, op := range []string{"custom_call", "infeed", "outfeed", "send", "recv", "rng", "rng_bit_generator"} {
					if counts[op] != 0 {
						t.Errorf("%s: %d %s operations", step, counts[op], op)
					}
				}
				if step == "dos" {
					for _, p := range []string{fmt.Sprintf("tensor<%dx%dx%dx%dxf32>", candidates, c.side, c.side, c.ch), fmt.Sprintf("tensor<%dxf32>", cfg.UniformsSize())} {
						if !strings.Contains(strings.SplitN(prog, "\n", 3)[1], p) {
							t.Errorf("dos: the program's parameters lack %s", p)
						}
					}
				}
				return counts
			}
			infer := emit("infer", func(ctx *context.Context, g *Graph) []*Node {
				logits, feats := m.Infer(ctx, Parameter(g, "c", img(candidates)))
				return []*Node{logits, feats}
			})
			random := emit("random", func(ctx *context.Context, g *Graph) []*Node {
				return m.StepOutliers(ctx, Parameter(g, "x", img(idBatch)), Parameter(g, "y", shapes.Make(dtypes.Int32, idBatch)),
					Parameter(g, "o", img(picks)), Parameter(g, "lr", shapes.Make(dtypes.Float32)))
			})
			dos := emit("dos", func(ctx *context.Context, g *Graph) []*Node {
				return m.StepInGraph(ctx, Parameter(g, "x", img(idBatch)), Parameter(g, "y", shapes.Make(dtypes.Int32, idBatch)),
					Parameter(g, "c", img(candidates)), Parameter(g, "u", shapes.Make(dtypes.Float32, cfg.UniformsSize())),
					Parameter(g, "lr", shapes.Make(dtypes.Float32)))
			})
			sel := emit("selection", func(_ *context.Context, g *Graph) []*Node {
				s := ondevice.SelectDOS(Parameter(g, "l", shapes.Make(dtypes.Float32, candidates, classes+1)),
					Parameter(g, "f", shapes.Make(dtypes.Float32, candidates, arch.FeatureSize(classes+1))),
					Parameter(g, "u", shapes.Make(dtypes.Float32, cfg.UniformsSize())), cfg)
				return []*Node{s.Indices}
			})
			n := infer["convolution"]
			if (n == 0) != (name == "mlp") || random["convolution"] != 3*n || dos["convolution"] != 4*n {
				t.Errorf("convolutions: inference %d, random step %d (want %d), DOS step %d (want %d)",
					n, random["convolution"], 3*n, dos["convolution"], 4*n)
			}
			if want := random["dot_general"] + infer["dot_general"] + sel["dot_general"]; dos["dot_general"] != want {
				t.Errorf("matrix products: DOS step %d, want random %d + inference %d + selection %d = %d",
					dos["dot_general"], random["dot_general"], infer["dot_general"], sel["dot_general"], want)
			}
			t.Logf("%s: convolutions %d/%d/%d, dot_general %d/%d/%d (inference/random/DOS)", name, n,
				random["convolution"], dos["convolution"], infer["dot_general"], random["dot_general"], dos["dot_general"])
		})
	}
}

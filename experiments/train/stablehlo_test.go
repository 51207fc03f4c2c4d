package train

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph DSL reads better unqualified.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/models"
	"github.com/oodlab/dos/models/backend"
	"github.com/oodlab/dos/models/optim"
	"github.com/oodlab/dos/sampling"
)

// TestStepGraphsForXLA builds the step graphs of the paper's networks at the official shapes
// (32x32, ID batch 64, 384 candidates, 64 picks, 101 outputs) with the XLA backend's StableHLO
// translation, which the pure-Go tests never exercise, and checks their structure by counting
// convolutions: with N in an inference pass, a training step (forward, and the gradients with
// respect to inputs and kernels) holds 3N, and the DOS iteration exactly one inference pass more,
// 4N: scoring, clustering, selection and training are one program, and the extra cost over random
// sampling is the scoring pass plus the K-means, which has no convolution.
func TestStepGraphsForXLA(t *testing.T) {
	const classes, idBatch, candidates, picks, side = 100, 64, 384, 64, 32
	img := func(n int) shapes.Shape { return shapes.Make(dtypes.Float32, n, side, side, 3) }
	for _, name := range []string{"densenet-bc-100", "wrn-40-4"} {
		t.Run(name, func(t *testing.T) {
			arch, err := models.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			opt, err := optim.New(optim.PaperConfig())
			if err != nil {
				t.Fatal(err)
			}
			cfg := sampling.DefaultDOSConfig(candidates, picks)
			m := &Model{Arch: arch, Classes: classes, Outputs: classes + 1, Score: "1-pabs", Opt: opt,
				Loss: Loss{Kind: "absent", Weight: 1}, DOS: &cfg}
			emit := func(step string, build func(ctx *context.Context, g *Graph) []*Node) map[string]int {
				prog, err := backend.StableHLO(step, func(g *Graph) []*Node { return build(context.New(), g) })
				if err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				counts := map[string]int{}
				for _, c := range backend.CountOps(prog) {
					counts[c.Op] = c.Count
				}
				if step == "dos" {
					for _, p := range []string{"tensor<384x32x32x3xf32>", fmt.Sprintf("tensor<%dxf32>", cfg.UniformsSize())} {
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
				return m.StepDOS(ctx, Parameter(g, "x", img(idBatch)), Parameter(g, "y", shapes.Make(dtypes.Int32, idBatch)),
					Parameter(g, "c", img(candidates)), Parameter(g, "u", shapes.Make(dtypes.Float32, cfg.UniformsSize())),
					Parameter(g, "lr", shapes.Make(dtypes.Float32)))
			})
			n := infer["convolution"]
			if n == 0 || random["convolution"] != 3*n || dos["convolution"] != 4*n {
				t.Errorf("convolutions: inference %d, random step %d (want %d), DOS step %d (want %d)",
					n, random["convolution"], 3*n, dos["convolution"], 4*n)
			}
			t.Logf("%s: convolutions %d/%d/%d, dot_general %d/%d/%d (inference/random/DOS)", name, n,
				random["convolution"], dos["convolution"], infer["dot_general"], random["dot_general"], dos["dot_general"])
		})
	}
}

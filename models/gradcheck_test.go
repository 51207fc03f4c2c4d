package models

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/internal/testutil"
)

// The gradient of the loss along a fixed direction d in parameter space
// equals the central difference (L(θ+εd) - L(θ-εd)) / 2ε, in float64, with
// batch norm in both modes. The three losses are built in one graph by
// moving every variable with SetValueGraph and building the network again,
// which also exercises the sharing of variables between builds.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	b := testutil.GoBackend(t)
	cases := []struct {
		name     string
		input    [3]int
		training bool
	}{
		{"small-cnn", [3]int{8, 8, 1}, true},
		{"small-cnn", [3]int{8, 8, 1}, false},
		{"wrn-10-1", [3]int{8, 8, 3}, true},
		{"wrn-10-1", [3]int{8, 8, 3}, false},
		{"mlp", [3]int{6, 6, 2}, true},
	}
	for _, c := range cases {
		arch, err := Lookup(c.name)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.New()
		ctx.SetParam(context.ParamInitialSeed, int64(3))
		h, w, ch := c.input[0], c.input[1], c.input[2]
		xs := make([]float64, 2*h*w*ch)
		for i := range xs {
			xs[i] = math.Sin(0.7*float64(i) + 0.3)
		}
		const eps = 1e-7
		exec, err := context.NewExec(b, ctx, func(ctx *context.Context, x, oneHot *graph.Node) []*graph.Node {
			g := x.Graph()
			build := func() *graph.Node {
				return crossEntropy(arch.Build(ctx.In("model"), x, 3, c.training).Logits, oneHot)
			}
			loss := build()
			vars, values := trainableInGraph(ctx, g)
			grads := graph.Gradient(loss, values...)
			along := graph.ScalarZero(g, x.DType())
			dirs := make([]*graph.Node, len(vars))
			for i, v := range vars {
				d := graph.AddScalar(graph.MulScalar(graph.Iota(g, v.Shape(), 0), 1.3), float64(i))
				d = graph.Add(d, graph.MulScalar(graph.Iota(g, v.Shape(), v.Shape().Rank()-1), 0.37))
				dirs[i] = graph.Sin(d)
				along = graph.Add(along, graph.ReduceAllSum(graph.Mul(dirs[i], grads[i])))
			}
			for i, v := range vars {
				v.SetValueGraph(graph.Add(values[i], graph.MulScalar(dirs[i], eps)))
			}
			plus := build()
			for i, v := range vars {
				v.SetValueGraph(graph.Sub(values[i], graph.MulScalar(dirs[i], eps)))
			}
			minus := build()
			return []*graph.Node{along, graph.DivScalar(graph.Sub(plus, minus), 2*eps)}
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Exec(tensors.FromFlatDataAndDimensions(xs, 2, h, w, ch),
			tensors.FromFlatDataAndDimensions([]float64{1, 0, 0, 0, 0, 1}, 2, 3))
		exec.Finalize()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		analytic, numeric := tensors.ToScalar[float64](out[0]), tensors.ToScalar[float64](out[1])
		if math.Abs(analytic-numeric) > 1e-6*(1+math.Abs(numeric)) || analytic == 0 {
			t.Errorf("%s (training=%v): directional derivative %g, central difference %g", c.name, c.training, analytic, numeric)
		}
	}
}

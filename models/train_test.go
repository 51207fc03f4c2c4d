package models

import (
	"math"
	"testing"
	"time"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/internal/testutil"
)

// crossEntropy is the mean softmax cross-entropy of logits against one-hot labels.
func crossEntropy(logits, oneHot *graph.Node) *graph.Node {
	maxes := graph.StopGradient(graph.ReduceAndKeep(logits, graph.ReduceMax, -1))
	shifted := graph.Sub(logits, maxes)
	logSumExp := graph.Log(graph.ReduceSum(graph.Exp(shifted), -1))
	picked := graph.ReduceSum(graph.Mul(shifted, oneHot), -1)
	return graph.ReduceAllMean(graph.Sub(logSumExp, picked))
}

// sgdStep builds the network in training mode, takes one plain gradient step
// (lr 0.01) on every trainable variable and returns the loss before the step.
func sgdStep(arch Arch, numOutputs int) func(ctx *context.Context, x, oneHot *graph.Node) *graph.Node {
	return func(ctx *context.Context, x, oneHot *graph.Node) *graph.Node {
		out := arch.Build(ctx.In("model"), x, numOutputs, true)
		loss := crossEntropy(out.Logits, oneHot)
		g := x.Graph()
		vars, values := trainableInGraph(ctx, g)
		grads := graph.Gradient(loss, values...)
		for i, v := range vars {
			v.SetValueGraph(graph.Sub(values[i], graph.MulScalar(grads[i], 0.01)))
		}
		return loss
	}
}

// pattern fills n values deterministically in [-1, 1].
func pattern(n int, a float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(math.Sin(a*float64(i) + 0.3))
	}
	return v
}

// Every network trains on the completed pure-Go backend: two plain gradient
// steps at a tiny input size give finite losses that change, and the outputs
// have the documented shapes.
func TestNetworksTrainOnGoBackend(t *testing.T) {
	b := testutil.GoBackend(t)
	cases := []struct {
		name  string
		input [3]int
	}{
		{"mlp", [3]int{28, 28, 1}},
		{"small-cnn", [3]int{8, 8, 1}},
		{"resnet18", [3]int{8, 8, 3}},
		{"wrn-40-2", [3]int{8, 8, 3}},
		{"densenet-bc-100", [3]int{8, 8, 3}},
		{"resnet50", [3]int{32, 32, 3}},
	}
	const batch, numOutputs = 2, 3
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			arch, err := Lookup(c.name)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			ctx := context.New()
			ctx.SetParam(context.ParamInitialSeed, int64(1))
			h, w, ch := c.input[0], c.input[1], c.input[2]
			x := tensors.FromFlatDataAndDimensions(pattern(batch*h*w*ch, 0.7), batch, h, w, ch)
			oneHot := tensors.FromFlatDataAndDimensions([]float32{1, 0, 0, 0, 0, 1}, batch, numOutputs)
			step, err := context.NewExec(b, ctx, sgdStep(arch, numOutputs))
			if err != nil {
				t.Fatal(err)
			}
			defer step.Finalize()
			var losses []float32
			for range 2 {
				out, err := step.Exec(x, oneHot)
				if err != nil {
					t.Fatalf("training step: %v", err)
				}
				losses = append(losses, tensors.ToScalar[float32](out[0]))
			}
			for _, l := range losses {
				if math.IsNaN(float64(l)) || math.IsInf(float64(l), 0) {
					t.Fatalf("losses %v: not finite", losses)
				}
			}
			if losses[0] == losses[1] {
				t.Fatalf("losses %v: unchanged after a gradient step", losses)
			}

			// Shapes, in inference mode on the trained variables.
			shapes, err := context.NewExec(b, ctx, func(ctx *context.Context, x *graph.Node) (*graph.Node, *graph.Node) {
				out := arch.Build(ctx.In("model"), x, numOutputs, false)
				return out.Logits, out.Features
			})
			if err != nil {
				t.Fatal(err)
			}
			defer shapes.Finalize()
			out, err := shapes.Exec(x)
			if err != nil {
				t.Fatalf("inference: %v", err)
			}
			if got := out[0].Shape().Dimensions; len(got) != 2 || got[0] != batch || got[1] != numOutputs {
				t.Errorf("logits shaped %v, want [%d %d]", got, batch, numOutputs)
			}
			if got, want := out[1].Shape().Dimensions, arch.FeatureSize(numOutputs); len(got) != 2 || got[0] != batch || got[1] != want {
				t.Errorf("features shaped %v, want [%d %d]", got, batch, want)
			}
			t.Logf("%s at %dx%dx%d, batch %d: losses %v, %v for two training steps and one inference",
				c.name, h, w, ch, batch, losses, time.Since(start).Round(time.Millisecond))
		})
	}
}

// trainableInGraph returns the trainable variables g uses and their values in g.
func trainableInGraph(ctx *context.Context, g *graph.Graph) (vars []*context.Variable, values []*graph.Node) {
	for v := range ctx.IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			vars = append(vars, v)
			values = append(values, v.ValueGraph(g))
		}
	}
	return vars, values
}

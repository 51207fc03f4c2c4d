package nn

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/internal/assert"
	"github.com/oodlab/dos/internal/testutil"
)

// run executes fn once on the given inputs and returns its outputs as flat float32 slices.
func run(t *testing.T, b backends.Backend, ctx *context.Context, fn any, inputs ...any) [][]float32 {
	t.Helper()
	exec, err := context.NewExecAny(b, ctx, fn)
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	defer exec.Finalize()
	outs, err := exec.Exec(inputs...)
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	res := make([][]float32, len(outs))
	for i, o := range outs {
		res[i] = tensors.MustCopyFlatData[float32](o)
	}
	return res
}

func flat(t *testing.T, v *context.Variable) []float32 {
	t.Helper()
	return tensors.MustCopyFlatData[float32](v.MustValue())
}

// bnContext returns a context whose scope "bn" holds the batch-norm variables of the PyTorch
// goldens: scale, offset, and the running statistics before the training step.
func bnContext() (ctx, bnCtx *context.Context) {
	ctx = context.New()
	bnCtx = ctx.In("bn")
	bnCtx.VariableWithValue(ScaleVar, []float32{1.5, -0.5})
	bnCtx.VariableWithValue(OffsetVar, []float32{0.2, 0.1})
	bnCtx.VariableWithValue(RunningMeanVar, []float32{0.3, -0.2}).SetTrainable(false)
	bnCtx.VariableWithValue(RunningVarVar, []float32{2.0, 0.5}).SetTrainable(false)
	return ctx, bnCtx
}

func TestBatchNormMatchesPyTorch(t *testing.T) {
	b := testutil.GoBackend(t)
	ctx, bnCtx := bnContext()
	x := tensors.FromFlatDataAndDimensions(bnX, 2, 2, 3, 2)

	train := run(t, b, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		return BatchNorm(ctx.In("bn").Reuse(), x, true)
	}, x)
	assert.Close(t, "training output", train[0], bnTrainY, assert.Near(1e-5))
	assert.Close(t, "running mean", flat(t, bnCtx.GetVariable(RunningMeanVar)), bnRunMean, assert.Near(1e-6))
	assert.Close(t, "running var", flat(t, bnCtx.GetVariable(RunningVarVar)), bnRunVar, assert.Near(1e-6))

	trainedMean, trainedVar := flat(t, bnCtx.GetVariable(RunningMeanVar)), flat(t, bnCtx.GetVariable(RunningVarVar))
	eval := run(t, b, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		return BatchNorm(ctx.In("bn").Reuse(), x, false)
	}, x)
	assert.Close(t, "inference output", eval[0], bnEvalY, assert.Near(1e-5))
	// Inference leaves the running statistics alone.
	assert.Close(t, "running mean after inference", flat(t, bnCtx.GetVariable(RunningMeanVar)), trainedMean, assert.Near(0))
	assert.Close(t, "running var after inference", flat(t, bnCtx.GetVariable(RunningVarVar)), trainedVar, assert.Near(0))
}

func TestBatchNorm1DDefaultInit(t *testing.T) {
	b := testutil.GoBackend(t)
	ctx := context.New()
	out := run(t, b, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		return BatchNorm(ctx.In("bn"), x, true)
	}, tensors.FromFlatDataAndDimensions(bn1X, 5, 3))
	assert.Close(t, "training output", out[0], bn1TrainY, assert.Near(1e-5))
	bnCtx := ctx.In("bn")
	assert.Close(t, "running mean", flat(t, bnCtx.GetVariable(RunningMeanVar)), bn1RunMean, assert.Near(1e-6))
	assert.Close(t, "running var", flat(t, bnCtx.GetVariable(RunningVarVar)), bn1RunVar, assert.Near(1e-6))
	trainable := map[string]bool{ScaleVar: true, OffsetVar: true, RunningMeanVar: false, RunningVarVar: false}
	for name, want := range trainable {
		if got := bnCtx.GetVariable(name).Trainable; got != want {
			t.Errorf("variable %s: Trainable = %v, want %v", name, got, want)
		}
	}
}

// One graph normalises in inference mode and then in training mode with the
// same variables: the inference output uses the initial running statistics
// and the training use updates them once.
func TestBatchNormBothModesShareVariables(t *testing.T) {
	b := testutil.GoBackend(t)
	ctx, bnCtx := bnContext()
	before := ctx.NumVariables()
	out := run(t, b, ctx, func(ctx *context.Context, x *graph.Node) (*graph.Node, *graph.Node) {
		c := ctx.In("bn").Checked(false)
		return BatchNorm(c, x, false), BatchNorm(c, x, true)
	}, tensors.FromFlatDataAndDimensions(bnX, 2, 2, 3, 2))
	if after := ctx.NumVariables(); after != before {
		t.Fatalf("building both modes created %d new variables", after-before)
	}
	// Inference with the initial statistics: (x-0.3)/sqrt(2+eps)*1.5+0.2 on channel 0.
	for i := 0; i < len(bnX); i += 2 {
		want := (float64(bnX[i])-0.3)/math.Sqrt(2+1e-5)*1.5 + 0.2
		if math.Abs(float64(out[0][i])-want) > 1e-5 {
			t.Fatalf("inference output[%d] = %g, want %g", i, out[0][i], want)
		}
	}
	assert.Close(t, "training output", out[1], bnTrainY, assert.Near(1e-5))
	assert.Close(t, "running mean", flat(t, bnCtx.GetVariable(RunningMeanVar)), bnRunMean, assert.Near(1e-6))
	assert.Close(t, "running var", flat(t, bnCtx.GetVariable(RunningVarVar)), bnRunVar, assert.Near(1e-6))
}

func TestConv2DMatchesPyTorch(t *testing.T) {
	b := testutil.GoBackend(t)
	ctx := context.New()
	ctx.In("conv").VariableWithValue(WeightsVar, tensors.FromFlatDataAndDimensions(convW, 3, 3, 2, 3))
	ctx.In("conv").VariableWithValue(BiasesVar, convB)
	out := run(t, b, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		y := Conv2D(ctx.In("conv").Reuse(), x, 3, 3, 2, 1, true)
		if got := y.Shape().Dimensions; got[1] != 3 || got[2] != 3 || got[3] != 3 {
			t.Errorf("output shape %v, want [1 3 3 3]", got)
		}
		return y
	}, tensors.FromFlatDataAndDimensions(convX, 1, 5, 5, 2))
	assert.Close(t, "conv output", out[0], convY, assert.Near(1e-5))
}

func TestDenseMatchesPyTorch(t *testing.T) {
	b := testutil.GoBackend(t)
	ctx := context.New()
	ctx.In("fc").VariableWithValue(WeightsVar, tensors.FromFlatDataAndDimensions(denseW, 3, 4))
	ctx.In("fc").VariableWithValue(BiasesVar, denseB)
	out := run(t, b, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		return Dense(ctx.In("fc").Reuse(), x, 4, true)
	}, tensors.FromFlatDataAndDimensions(denseX, 2, 3))
	assert.Close(t, "dense output", out[0], denseY, assert.Near(1e-5))
}

func TestPoolingMatchesPyTorch(t *testing.T) {
	b := testutil.GoBackend(t)
	out := run(t, b, context.New(), func(ctx *context.Context, x *graph.Node) (*graph.Node, *graph.Node, *graph.Node, *graph.Node) {
		return AvgPool(x, 2, 2), AvgPool(x, 3, 2), MaxPool(x, 3, 2, 1), GlobalAvgPool(x)
	}, tensors.FromFlatDataAndDimensions(poolX, 1, 5, 5, 2))
	assert.Close(t, "avg pool 2/2", out[0], avg22Y, assert.Near(1e-6))
	assert.Close(t, "avg pool 3/2", out[1], avg32Y, assert.Near(1e-6))
	assert.Close(t, "max pool 3/2 pad 1", out[2], max321Y, assert.Near(0))
	var sum [2]float64
	for i, v := range poolX {
		sum[i%2] += float64(v)
	}
	assert.Close(t, "global avg pool", out[3], []float32{float32(sum[0] / 25), float32(sum[1] / 25)}, assert.Near(1e-6))
}

func TestRelu(t *testing.T) {
	b := testutil.GoBackend(t)
	out := run(t, b, context.New(), func(ctx *context.Context, x *graph.Node) (*graph.Node, *graph.Node) {
		y := Relu(x)
		return y, graph.Gradient(graph.ReduceAllSum(y), x)[0]
	}, []float32{-1, 0, 2})
	assert.Close(t, "relu", out[0], []float32{0, 0, 2}, assert.Near(0))
	assert.Close(t, "relu gradient", out[1], []float32{0, 0, 1}, assert.Near(0))
}

// Initial values have the documented distributions.
func TestInitialization(t *testing.T) {
	b := testutil.GoBackend(t)
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, int64(7))
	run(t, b, ctx, func(ctx *context.Context, x *graph.Node) (*graph.Node, *graph.Node) {
		c := Conv2D(ctx.In("conv"), x, 64, 3, 1, 1, true)
		d := Dense(ctx.In("fc"), GlobalAvgPool(x), 400, true)
		return c, d
	}, tensors.FromFlatDataAndDimensions(make([]float32, 2*4*4*100), 2, 4, 4, 100))

	w := flat(t, ctx.In("conv").GetVariable(WeightsVar)) // 3*3*100*64 values
	var s, s2 float64
	for _, v := range w {
		s += float64(v)
		s2 += float64(v) * float64(v)
	}
	n := float64(len(w))
	std, wantStd := math.Sqrt(s2/n-(s/n)*(s/n)), math.Sqrt(2.0/(3*3*64))
	if math.Abs(std/wantStd-1) > 0.03 || math.Abs(s/n) > 0.01*wantStd*10 {
		t.Errorf("conv weights: mean %g std %g, want 0 and %g (Kaiming normal, fan_out)", s/n, std, wantStd)
	}
	bound := 1 / math.Sqrt(100)
	var maxAbs float64
	for _, v := range flat(t, ctx.In("fc").GetVariable(WeightsVar)) {
		maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
	}
	if maxAbs > bound || maxAbs < 0.95*bound {
		t.Errorf("dense weights: max |w| = %g, want just under %g (U(-1/sqrt(in), 1/sqrt(in)))", maxAbs, bound)
	}
	for _, scope := range []string{"conv", "fc"} {
		for i, v := range flat(t, ctx.In(scope).GetVariable(BiasesVar)) {
			if v != 0 {
				t.Fatalf("%s biases[%d] = %g, want 0", scope, i, v)
			}
		}
	}
}

// weightedSum returns sum(y * [1, 2, 3, ...]) (flat order), the loss whose
// gradients the goldens hold.
func weightedSum(y *graph.Node) *graph.Node {
	w := graph.Iota(y.Graph(), shapes.Make(y.DType(), y.Shape().Size()), 0)
	w = graph.Reshape(graph.AddScalar(w, 1), y.Shape().Dimensions...)
	return graph.ReduceAllSum(graph.Mul(y, w))
}

// Gradients need the completed pure-Go backend (Reverse, Pad, SelectAndScatterMax).
func TestGradientsMatchPyTorch(t *testing.T) {
	b := testutil.GoBackend(t)
	ctx := context.New()
	ctx.In("conv").VariableWithValue(WeightsVar, tensors.FromFlatDataAndDimensions(convW, 3, 3, 2, 3))
	ctx.In("conv").VariableWithValue(BiasesVar, convB)
	out := run(t, b, ctx, func(ctx *context.Context, x *graph.Node) []*graph.Node {
		c := ctx.In("conv").Reuse()
		y := Conv2D(c, x, 3, 3, 2, 1, true)
		w := c.GetVariable(WeightsVar).ValueGraph(x.Graph())
		return graph.Gradient(weightedSum(y), x, w)
	}, tensors.FromFlatDataAndDimensions(convX, 1, 5, 5, 2))
	assert.Close(t, "conv gradient wrt input", out[0], convGradX, assert.Near(1e-5))
	assert.Close(t, "conv gradient wrt weights", out[1], convGradW, assert.Near(1e-5))

	ctx = context.New()
	bnCtx := ctx.In("bn")
	bnCtx.VariableWithValue(ScaleVar, []float32{1.5, -0.5})
	bnCtx.VariableWithValue(OffsetVar, []float32{0.2, 0.1})
	out = run(t, b, ctx, func(ctx *context.Context, x *graph.Node) []*graph.Node {
		c := ctx.In("bn").Checked(false)
		y := BatchNorm(c, x, true)
		g := x.Graph()
		return graph.Gradient(weightedSum(y), x, c.GetVariable(ScaleVar).ValueGraph(g), c.GetVariable(OffsetVar).ValueGraph(g))
	}, tensors.FromFlatDataAndDimensions(bnX, 2, 2, 3, 2))
	assert.Close(t, "batch norm gradient wrt input", out[0], bnGradX, assert.Near(1e-4))
	assert.Close(t, "batch norm gradient wrt scale", out[1], bnGradScale, assert.Near(1e-5))
	assert.Close(t, "batch norm gradient wrt offset", out[2], bnGradOffset, assert.Near(1e-5))

	out = run(t, b, context.New(), func(ctx *context.Context, x *graph.Node) []*graph.Node {
		return []*graph.Node{
			graph.Gradient(weightedSum(MaxPool(x, 3, 2, 1)), x)[0],
			graph.Gradient(weightedSum(AvgPool(x, 2, 2)), x)[0],
		}
	}, tensors.FromFlatDataAndDimensions(poolX, 1, 5, 5, 2))
	assert.Close(t, "max pool 3/2 pad 1 gradient", out[0], max321Grad, assert.Near(0))
	assert.Close(t, "avg pool 2/2 gradient", out[1], avg22Grad, assert.Near(1e-6))
}

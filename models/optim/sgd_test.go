package optim

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/checkpoints"

	"github.com/oodlab/dos/internal/assert"
	"github.com/oodlab/dos/internal/testutil"
)

// sgdGolden is one optimisation run computed with torch.optim.SGD (see testdata/gen_goldens.py).
type sgdGolden struct {
	name                     string
	lrs                      []float64
	momentum                 float64
	nesterov                 bool
	wd                       float64
	decayBias                bool
	losses, w, b, bufW, bufB []float64
}

// tensorOf returns data as a tensor of the float dtype given.
func tensorOf(dtype dtypes.DType, data []float64, dims ...int) *tensors.Tensor {
	if dtype == dtypes.Float64 {
		return tensors.FromFlatDataAndDimensions(append([]float64(nil), data...), dims...)
	}
	f := make([]float32, len(data))
	for i, x := range data {
		f[i] = float32(x)
	}
	return tensors.FromFlatDataAndDimensions(f, dims...)
}

// goldenLoss builds the loss of the golden problem: mean((tanh(x @ W + b) - t)^2), with the
// variables model/w [3,2] and model/b [2] created with the golden initial values.
func goldenLoss(ctx *context.Context, x, target *Node) *Node {
	c := ctx.In("model").Checked(false)
	dtype := x.DType()
	w := c.VariableWithValue("w", tensorOf(dtype, goldenW0, 3, 2)).ValueGraph(x.Graph())
	b := c.VariableWithValue("b", tensorOf(dtype, goldenB0, 2)).ValueGraph(x.Graph())
	y := Tanh(Add(MatMul(x, w), ExpandAxes(b, 0)))
	return ReduceAllMean(Square(Sub(y, target)))
}

func modelVar(t *testing.T, ctx *context.Context, name string) *context.Variable {
	t.Helper()
	v := ctx.GetVariableByScopeAndName("/model", name)
	if v == nil {
		t.Fatalf("variable /model/%s not found", name)
	}
	return v
}

func configOf(gd sgdGolden) Config {
	cfg := Config{Momentum: gd.momentum, Nesterov: gd.nesterov, WeightDecay: gd.wd}
	if !gd.decayBias {
		cfg.ExcludeFromDecay = ExcludeBiasAndNorm
	}
	return cfg
}

// checkState compares the variables and momentum buffers of ctx with the golden values.
func checkState(t *testing.T, ctx *context.Context, gd sgdGolden, tol float64) {
	t.Helper()
	w, b := modelVar(t, ctx, "w"), modelVar(t, ctx, "b")
	assert.Close(t, "w", testutil.Float64s(t, w.MustValue()), gd.w, assert.Near(tol))
	assert.Close(t, "b", testutil.Float64s(t, b.MustValue()), gd.b, assert.Near(tol))
	bufW, bufB := MomentumVar(ctx, w), MomentumVar(ctx, b)
	if gd.momentum == 0 {
		if bufW != nil || bufB != nil {
			t.Errorf("momentum buffers created with momentum 0")
		}
		return
	}
	if bufW == nil || bufB == nil {
		t.Fatalf("momentum buffers missing")
	}
	if bufW.Trainable || bufB.Trainable {
		t.Errorf("momentum buffers are trainable")
	}
	assert.Close(t, "momentum(w)", testutil.Float64s(t, bufW.MustValue()), gd.bufW, assert.Near(tol))
	assert.Close(t, "momentum(b)", testutil.Float64s(t, bufB.MustValue()), gd.bufB, assert.Near(tol))
}

var dtypeTols = []struct {
	dtype dtypes.DType
	tol   float64
}{{dtypes.Float64, 1e-12}, {dtypes.Float32, 3e-6}}

// TestApplyMatchesPyTorch runs Apply with the learning rate as a graph input, 1 and 3 steps,
// against torch.optim.SGD.
func TestApplyMatchesPyTorch(t *testing.T) {
	backend := testutil.GoBackend(t)
	for _, gd := range sgdGoldens {
		for _, dt := range dtypeTols {
			t.Run(gd.name+"/"+dt.dtype.String(), func(t *testing.T) {
				opt, err := New(configOf(gd))
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.New()
				exec, err := context.NewExec(backend, ctx, func(ctx *context.Context, x, target, lr *Node) *Node {
					loss := goldenLoss(ctx, x, target)
					opt.Apply(ctx, x.Graph(), loss, lr)
					return loss
				})
				if err != nil {
					t.Fatal(err)
				}
				x, target := tensorOf(dt.dtype, goldenX, 4, 3), tensorOf(dt.dtype, goldenT, 4, 2)
				for i, lr := range gd.lrs {
					out, err := exec.Exec(x, target, tensorOf(dt.dtype, []float64{lr}))
					if err != nil {
						t.Fatal(err)
					}
					assert.Close(t, "loss", testutil.Float64s(t, out[0]), gd.losses[i:i+1], assert.Near(dt.tol))
				}
				checkState(t, ctx, gd, dt.tol)
			})
		}
	}
}

// TestResumeFromCheckpoint saves after 2 of 3 steps, restores into a fresh context and checks
// the third step gives bit for bit what 3 uninterrupted steps give.
func TestResumeFromCheckpoint(t *testing.T) {
	backend := testutil.GoBackend(t)
	gd := sgdGoldens[2] // nesterov, wd 0.05, lrs 0.1, 0.05, 0.02
	x, target := tensorOf(dtypes.Float32, goldenX, 4, 3), tensorOf(dtypes.Float32, goldenT, 4, 2)
	opt, err := New(configOf(gd))
	if err != nil {
		t.Fatal(err)
	}
	train := func(ctx *context.Context, lrs []float64) {
		exec, err := context.NewExec(backend, ctx, func(ctx *context.Context, x, target, lr *Node) *Node {
			loss := goldenLoss(ctx, x, target)
			opt.Apply(ctx, x.Graph(), loss, lr)
			return loss
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, lr := range lrs {
			if _, err := exec.Exec(x, target, tensorOf(dtypes.Float32, []float64{lr})); err != nil {
				t.Fatal(err)
			}
		}
	}
	straight := context.New()
	train(straight, gd.lrs)

	dir := t.TempDir()
	first := context.New()
	h, err := checkpoints.Build(first).Dir(dir).Done()
	if err != nil {
		t.Fatal(err)
	}
	train(first, gd.lrs[:2])
	if err := h.Save(); err != nil {
		t.Fatal(err)
	}
	resumed := context.New()
	if _, err := checkpoints.Build(resumed).Dir(dir).Done(); err != nil {
		t.Fatal(err)
	}
	train(resumed, gd.lrs[2:])

	checkState(t, resumed, gd, 3e-6)
	for _, name := range []string{"w", "b"} {
		v1, v2 := modelVar(t, straight, name), modelVar(t, resumed, name)
		if !v1.MustValue().Equal(v2.MustValue()) {
			t.Errorf("%s after resume %v, uninterrupted %v", name, v2.MustValue(), v1.MustValue())
		}
		if !MomentumVar(straight, v1).MustValue().Equal(MomentumVar(resumed, v2).MustValue()) {
			t.Errorf("momentum of %s differs after resume", name)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Momentum: -0.1},
		{Momentum: 1},
		{Momentum: math.NaN()},
		{Nesterov: true},
		{WeightDecay: -1e-4},
		{WeightDecay: math.Inf(1)},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) gave no error", cfg)
		}
	}
	if _, err := New(Config{Momentum: 0.9, Nesterov: true, WeightDecay: 1e-4}); err != nil {
		t.Errorf("New(the paper's settings): %v", err)
	}
}

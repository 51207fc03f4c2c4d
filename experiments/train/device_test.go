package train

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/models"
	"github.com/oodlab/dos/models/backend"
	"github.com/oodlab/dos/models/optim"
	"github.com/oodlab/dos/sampling"
)

// TestDeviceDeterministic is a device check (benchmarks/gpu/device_checks.sh runs it on the
// GPU): with GOMLX_BACKEND naming an XLA backend, it runs the same three DOS iterations of the
// small CNN twice, from the same seed and inputs, and compares every variable bit for bit. With
// XLA_FLAGS holding --xla_gpu_deterministic_ops=true the two runs must agree exactly, which is
// what bit-identical reruns and resumes need on that device. Without the flag it reports how far
// they differ. Without an XLA backend it has nothing to check and skips: the pure-Go backend is
// deterministic, which the exact-resume tests pin.
func TestDeviceDeterministic(t *testing.T) {
	be, info, named, err := backend.EnvXLA()
	if !named {
		t.Skipf("%s does not name an XLA backend", backend.EnvVar)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer be.Finalize()
	deterministic := strings.Contains(os.Getenv("XLA_FLAGS"), "--xla_gpu_deterministic_ops=true")
	t.Logf("device: %s; XLA_FLAGS=%q", info, os.Getenv("XLA_FLAGS"))

	arch, err := models.Lookup("small-cnn")
	if err != nil {
		t.Fatal(err)
	}
	opt, err := optim.New(OptimizerConfig(config.PaperOptim()))
	if err != nil {
		t.Fatal(err)
	}
	const classes, idBatch, candidates, picks, side = 10, 32, 96, 16, 32
	cfg := sampling.DefaultDOSConfig(candidates, picks)
	cfg.KMeans.Iters = 10 // a shorter unrolled loop compiles faster; determinism does not need 30
	sel, err := sampling.NewDOSWithConfig(1, candidates, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := &Model{Arch: arch, Classes: classes, Outputs: classes + 1, Score: "absent", Opt: opt,
		Loss: Loss{Kind: "absent", Weight: 1}, InGraph: sel}
	r := rand.New(rand.NewPCG(1, 2))
	normal := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		return x
	}
	type step struct {
		x, c, u []float32
		y       []int32
	}
	var steps [3]step
	for i := range steps {
		steps[i] = step{x: normal(idBatch * side * side * 3), c: normal(candidates * side * side * 3), u: cfg.HostUniforms(r), y: make([]int32, idBatch)}
		for j := range steps[i].y {
			steps[i].y[j] = int32(r.IntN(classes))
		}
	}
	// One executable for both runs: build and compile it, initialise the variables, keep them,
	// and start each run from them.
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, int64(7))
	e, err := context.NewExecAny(be, ctx, m.StepInGraph)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	args := func(s step) []any {
		return []any{tensors.FromFlatDataAndDimensions(s.x, idBatch, side, side, 3), tensors.FromFlatDataAndDimensions(s.y, idBatch),
			tensors.FromFlatDataAndDimensions(s.c, candidates, side, side, 3), tensors.FromFlatDataAndDimensions(s.u, len(s.u)),
			tensors.FromScalar(float32(0.1))}
	}
	if err := e.PreCompile(args(steps[0])...); err != nil {
		t.Fatal(err)
	}
	if err := ctx.InitializeVariables(be, nil); err != nil {
		t.Fatal(err)
	}
	initial, err := CaptureVariables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	run := func() []SavedVar {
		if err := RestoreVariables(ctx, initial); err != nil {
			t.Fatal(err)
		}
		for _, s := range steps {
			if _, err := e.Exec(args(s)...); err != nil {
				t.Fatal(err)
			}
		}
		vars, err := CaptureVariables(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return vars
	}
	a, b := run(), run()
	if len(a) != len(b) {
		t.Fatalf("%d variables in one run, %d in the other", len(a), len(b))
	}
	differ, worst := 0, 0.0
	for i := range a {
		if bytes.Equal(a[i].Data, b[i].Data) {
			continue
		}
		differ++
		if a[i].DType == dtypes.Float32 {
			fa, fb := bytesToF32(a[i].Data), bytesToF32(b[i].Data)
			for j := range fa {
				worst = math.Max(worst, math.Abs(float64(fa[j]-fb[j])))
			}
		}
		t.Logf("differs: %s/%s", a[i].Scope, a[i].Name)
	}
	t.Logf("%d of %d variables differ between two identical runs of 3 DOS iterations; largest difference %g", differ, len(a), worst)
	if deterministic && differ > 0 {
		t.Errorf("with --xla_gpu_deterministic_ops=true, %d variables differ", differ)
	}
}

func bytesToF32(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/internal/testutil"
	"github.com/oodlab/dos/models"
	"github.com/oodlab/dos/models/optim"
	"github.com/oodlab/dos/sampling"
)

// TestDOSStepOnPaperNetwork runs two DOS iterations of the paper's network (DenseNet-BC-100,
// K+1 outputs, batch norm in inference mode for the scoring and in training mode for the step,
// in one graph) at a tiny input size: the loss is finite and changes, and the diagnostics are
// consistent.
func TestDOSStepOnPaperNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("a few seconds on the pure-Go backend")
	}
	arch, err := models.Lookup("densenet-bc-100")
	if err != nil {
		t.Fatal(err)
	}
	opt, err := optim.New(OptimizerConfig(config.PaperOptim()))
	if err != nil {
		t.Fatal(err)
	}
	const classes, idBatch, candidates, oodBatch, side = 10, 4, 12, 4, 8
	cfg := sampling.DefaultDOSConfig(candidates, oodBatch)
	cfg.KMeans.NInit, cfg.KMeans.Iters = 2, 3
	sel, err := sampling.NewDOSWithConfig(1, candidates, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := &Model{Arch: arch, Classes: classes, Outputs: classes + 1, Score: "absent", Opt: opt,
		Loss: Loss{Kind: "absent", Weight: 1}, InGraph: sel}
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, int64(3))
	e, err := context.NewExecAny(testutil.GoBackend(t), ctx, m.StepInGraph)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	images := func(n int) *tensors.Tensor {
		x := make([]float32, n*side*side*3)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		return tensors.FromFlatDataAndDimensions(x, n, side, side, 3)
	}
	var losses []float64
	for step := range 2 {
		labels := make([]int32, idBatch)
		for i := range labels {
			labels[i] = int32(r.IntN(classes))
		}
		out, err := e.Exec(images(idBatch), tensors.FromFlatDataAndDimensions(labels, idBatch), images(candidates),
			tensors.FromFlatDataAndDimensions(cfg.HostUniforms(rand.New(rand.NewPCG(uint64(step), 9))), cfg.UniformsSize()),
			tensors.FromScalar(float32(0.1)))
		if err != nil {
			t.Fatal(err)
		}
		v := func(i int) float64 { return float64(tensors.ToScalar[float32](out[i])) }
		loss, inertia, empty, pPicks, pAll := v(outLoss), v(numStepOutputs), v(numStepOutputs+1), v(numStepOutputs+2), v(numStepOutputs+3)
		t.Logf("step %d: loss %.4f inertia %.4f empty %v p_abs picks %.4f all %.4f", step, loss, inertia, empty, pPicks, pAll)
		if math.IsNaN(loss) || math.IsInf(loss, 0) || !(inertia >= 0) || empty < 0 || empty > oodBatch || pPicks > pAll+1e-6 {
			t.Fatalf("step %d: implausible outputs loss %v inertia %v empty %v picks %v all %v", step, loss, inertia, empty, pPicks, pAll)
		}
		losses = append(losses, loss)
	}
	if losses[0] == losses[1] {
		t.Fatalf("loss did not change between steps: %v", losses)
	}
}

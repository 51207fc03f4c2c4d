package models

import (
	"slices"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/internal/testutil"
	"github.com/oodlab/dos/models/nn"
)

// One graph that scores in inference mode and then runs in training mode (as
// DOS does) gives the same results as two separate graphs: the modes share
// their variables, inference leaves the running statistics alone and
// training updates them once.
func TestInferenceThenTrainingInOneGraph(t *testing.T) {
	b := testutil.GoBackend(t)
	arch, err := Lookup("small-cnn")
	if err != nil {
		t.Fatal(err)
	}
	x := tensors.FromFlatDataAndDimensions(pattern(4*8*8*1, 0.9), 4, 8, 8, 1)
	newCtx := func() *context.Context {
		ctx := context.New()
		ctx.SetParam(context.ParamInitialSeed, int64(11))
		return ctx
	}
	runGraph := func(ctx *context.Context, modes ...bool) [][]float32 {
		exec, err := context.NewExec(b, ctx, func(ctx *context.Context, x *graph.Node) []*graph.Node {
			var outs []*graph.Node
			for _, training := range modes {
				outs = append(outs, arch.Build(ctx.In("model"), x, 5, training).Logits)
			}
			return outs
		})
		if err != nil {
			t.Fatal(err)
		}
		defer exec.Finalize()
		outs, err := exec.Exec(x)
		if err != nil {
			t.Fatal(err)
		}
		var res [][]float32
		for _, o := range outs {
			res = append(res, tensors.MustCopyFlatData[float32](o))
		}
		return res
	}
	runningStats := func(ctx *context.Context) []float32 {
		var all []float32
		for v := range ctx.IterVariables() {
			if v.Name() == nn.RunningMeanVar || v.Name() == nn.RunningVarVar {
				all = append(all, tensors.MustCopyFlatData[float32](v.MustValue())...)
			}
		}
		return all
	}

	both, inferOnly, trainOnly := newCtx(), newCtx(), newCtx()
	gotBoth := runGraph(both, false, true)
	gotInfer := runGraph(inferOnly, false)
	gotTrain := runGraph(trainOnly, true)
	if both.NumVariables() != trainOnly.NumVariables() {
		t.Errorf("two builds in one graph made %d variables, one build %d", both.NumVariables(), trainOnly.NumVariables())
	}
	if !slices.Equal(gotBoth[0], gotInfer[0]) {
		t.Error("inference logits differ when training follows in the same graph")
	}
	if !slices.Equal(gotBoth[1], gotTrain[0]) {
		t.Error("training logits differ when inference precedes in the same graph")
	}
	if slices.Equal(gotBoth[0], gotBoth[1]) {
		t.Error("inference and training logits are identical: batch statistics unused")
	}
	statsBoth, statsTrain, statsInfer := runningStats(both), runningStats(trainOnly), runningStats(inferOnly)
	if len(statsBoth) == 0 || !slices.Equal(statsBoth, statsTrain) {
		t.Error("running statistics after inference+training differ from training alone")
	}
	if slices.Equal(statsInfer, statsTrain) {
		t.Error("training did not update the running statistics")
	}
	for i, v := range statsInfer { // running means 0 then variances 1, per layer
		if v != 0 && v != 1 {
			t.Fatalf("inference changed running statistic %d to %g", i, v)
		}
	}
}

package train

// The differential harness: this project's computation against what the official DOS code
// computes on the same inputs, as testdata/gen_official.py recorded it by running that code
// (github.com/lygjwy/DOS at 47ba80f and 2ca0913; see the script for what is pinned and how).

import (
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph DSL reads better unqualified.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/metrics"
	"github.com/oodlab/dos/internal/assert"
	"github.com/oodlab/dos/internal/testutil"
	"github.com/oodlab/dos/models"
	"github.com/oodlab/dos/models/objectives"
	"github.com/oodlab/dos/models/optim"
	"github.com/oodlab/dos/models/statedict"
	"github.com/oodlab/dos/sampling"
	"github.com/oodlab/dos/sampling/ondevice"
)

// official is testdata/official.json.
type official struct {
	Commits   map[string]string `json:"commits"`
	Selection struct {
		Candidates, Outputs, Dim int
		OODBatch                 int       `json:"ood_batch"`
		LogitsF                  []float64 `json:"logits"`
		FeaturesF                []float64 `json:"features"`
		Cases                    []struct {
			Name, Variant  string
			Clusters, Keep int
			Init           []float64
			Picked         []int32
			ClusterSizes   []int `json:"cluster_sizes"`
		}
	}
	Losses struct {
		Classes, ID, OOD int
		Cases            []struct {
			Loss    string
			Weight  float64
			Outputs int
			Logits  []float64
			Labels  []int32
			Total   float64
		}
	}
	SGD struct {
		Classes        int
		Labels         []int32
		LR             float64
		Loss, Loss64   float64
		LogitsBefore   []float64 `json:"logits_before"`
		LogitsBefore64 []float64 `json:"logits_before64"`
		After, After64 map[string][]float64
		Sums           map[string][2]float64
		Sums64         map[string][2]float64 `json:"sums64"`
	}
	Init struct {
		ConvStd       map[string]float64 `json:"conv_std"`
		LinearMaxAbs  float64            `json:"linear_weight_max_abs"`
		LinearBound   float64            `json:"linear_bound"`
		LinearBiasMax float64            `json:"linear_bias_max_abs"`
	}
	Normalization map[string]struct{ Mean, Std []float64 }
	Scores        struct {
		AbsentLogits []float64 `json:"absent_logits"`
		AbsentScores []float64 `json:"absent_scores"`
		MetricSets   []struct {
			ID, OOD      []float64
			FPR95, AUROC float64
			AUPRIn       float64 `json:"aupr_in"`
			AUPROut      float64 `json:"aupr_out"`
		} `json:"metric_sets"`
	}
}

func loadOfficial(t *testing.T) *official {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "official.json"))
	if err != nil {
		t.Fatal(err)
	}
	var o official
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"47ba80f71ee845157ec38c12bc6c15d64038ee47", "2ca0913122947a25507f7a3d270d0e063730d412"} {
		if !slices.Contains(slices.Collect(maps.Values(o.Commits)), c) {
			t.Fatalf("official.json was not generated from commit %s", c)
		}
	}
	return &o
}

// DOS's selection, the paper's (train_diverse.py) and the dual-batch variant
// (train_dual_batch.py), from the same candidates and initial centroids: the same picks, in the
// same order.
func TestOfficialSelection(t *testing.T) {
	o := loadOfficial(t)
	s := o.Selection
	b := testutil.GoBackend(t)
	for _, tc := range s.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			cfg := sampling.DefaultDOSConfig(s.Candidates, s.OODBatch)
			cfg.Clusters = tc.Clusters
			cfg.KMeans.NInit, cfg.KMeans.Iters = 1, 100
			if tc.Variant == "dual" {
				cfg.Keep, cfg.RawFeatures, cfg.PickNearest = tc.Keep, true, true
			}
			keys := make([]float32, cfg.Clustered()) // no fill-up in these cases
			exec, err := NewExec(b, func(l, f, c, k *Node) []*Node {
				sel := ondevice.SelectDOSFrom(l, f, c, k, cfg)
				return []*Node{sel.Indices, sel.Assign}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer exec.Finalize()
			out, err := exec.Exec(tensors.FromFlatDataAndDimensions(testutil.Floats[float32](s.LogitsF), s.Candidates, s.Outputs),
				tensors.FromFlatDataAndDimensions(testutil.Floats[float32](s.FeaturesF), s.Candidates, s.Dim),
				tensors.FromFlatDataAndDimensions(testutil.Floats[float32](tc.Init), cfg.K(), s.Dim),
				tensors.FromFlatDataAndDimensions(keys, len(keys)))
			if err != nil {
				t.Fatal(err)
			}
			got := tensors.MustCopyFlatData[int32](out[0])
			if !slices.Equal(got, tc.Picked) {
				t.Errorf("picks %v, official %v", got, tc.Picked)
			}
			sizes := make([]int, cfg.K())
			for _, a := range tensors.MustCopyFlatData[int32](out[1]) {
				sizes[a]++
			}
			if !slices.Equal(sizes, tc.ClusterSizes) {
				t.Errorf("cluster sizes %v, official %v", sizes, tc.ClusterSizes)
			}
		})
	}
}

// The loss of one step of each official trainer (train_uni, train_energy, train_abs) on the same
// logits: the objective of the step graphs.
func TestOfficialLosses(t *testing.T) {
	o := loadOfficial(t)
	l := o.Losses
	b := testutil.GoBackend(t)
	for _, tc := range l.Cases {
		m := &Model{Classes: l.Classes, Outputs: tc.Outputs, Loss: Loss{Kind: tc.Loss, Weight: tc.Weight, MIn: -25, MOut: -7}}
		exec, err := NewExec(b, func(logits, labels *Node) *Node {
			total, _, _, _ := m.objective(logits, labels, l.ID)
			return total
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Exec(tensors.FromFlatDataAndDimensions(testutil.Floats[float32](tc.Logits), l.ID+l.OOD, tc.Outputs),
			tensors.FromFlatDataAndDimensions(tc.Labels, l.ID))
		exec.Finalize()
		if err != nil {
			t.Fatal(err)
		}
		got := float64(tensors.ToScalar[float32](out[0]))
		assert.Close(t, tc.Loss, []float64{got}, []float64{tc.Total}, assert.Tol{Rel: 2e-6, Abs: 1e-6})
	}
}

// DenseNet-BC-100 with the same weights (pseudo-random, statedict.Hashed, imported through the
// PyTorch bridge) and the official code's training step (train_abs with the official optimiser:
// SGD, lr 0.1, Nesterov momentum 0.9, weight decay 1e-4) on 4 ID images and 4 outliers. In
// float64 on both sides the logits before the step, the loss, and every weight and batch-norm
// statistic after it agree to 1e-9: the same computation, not merely close numbers (in float32,
// the ReLU kinks of 100 layers turn rounding into differences of a few percent in the first
// layers' gradients, for PyTorch against itself too). In float32, as the official code runs, the
// logits and the loss agree within the official float32 run's own distance from float64.
func TestOfficialSGDStep(t *testing.T) {
	o := loadOfficial(t)
	g := o.SGD
	for _, dtype := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
		t.Run(dtype.String(), func(t *testing.T) {
			ctx, m := officialDenseNet(t, g.Classes+1, dtype)
			b := testutil.GoBackend(t)
			x := statedict.FormulaImages(8, 32, 32, 3)
			img := func(from, to int) *tensors.Tensor {
				part := x[from*32*32*3 : to*32*32*3]
				if dtype == dtypes.Float64 {
					return tensors.FromFlatDataAndDimensions(testutil.Floats[float64](part), to-from, 32, 32, 3)
				}
				return tensors.FromFlatDataAndDimensions(slices.Clone(part), to-from, 32, 32, 3)
			}
			infer, err := context.NewExec(b, ctx, func(ctx *context.Context, x *Node) *Node { l, _ := m.Infer(ctx, x); return l })
			if err != nil {
				t.Fatal(err)
			}
			out, err := infer.Exec(img(0, 4))
			if err != nil {
				t.Fatal(err)
			}
			logits := testutil.Float64s(t, out[0])
			step, err := context.NewExec(b, ctx, m.StepOutliers)
			if err != nil {
				t.Fatal(err)
			}
			lr := tensors.FromScalar(float32(g.LR))
			if dtype == dtypes.Float64 {
				lr = tensors.FromScalar(g.LR)
			}
			out, err = step.Exec(img(0, 4), tensors.FromFlatDataAndDimensions(g.Labels, 4), img(4, 8), lr)
			if err != nil {
				t.Fatal(err)
			}
			loss := testutil.Float64s(t, out[outLoss])
			if dtype == dtypes.Float32 {
				official32Like(t, "logits before the step", logits, g.LogitsBefore, g.LogitsBefore64, 1e-6)
				official32Like(t, "loss", loss, []float64{g.Loss}, []float64{g.Loss64}, 2e-6)
				return
			}
			assert.Close(t, "logits before the step", logits, g.LogitsBefore64, assert.Near(1e-9))
			assert.Close(t, "loss", loss, []float64{g.Loss64}, assert.Near(1e-11))
			after, err := statedict.Export(ctx.In(ModelScope), "densenet-bc-100", g.Classes+1)
			if err != nil {
				t.Fatal(err)
			}
			for key, want := range g.After64 {
				assert.Close(t, key, tensorValues(t, after, key), want, assert.Near(1e-9))
			}
			for key, want := range g.Sums64 {
				var sum, sq float64
				for _, v := range tensorValues(t, after, key) {
					sum, sq = sum+v, sq+v*v
				}
				assert.Close(t, key+" (sum, sum of squares)", []float64{sum, sq}, want[:], assert.Tol{Rel: 1e-9, Abs: 1e-9})
			}
			t.Logf("%d tensors after the step agree", len(g.Sums64))
		})
	}
}

// officialDenseNet returns a context holding DenseNet-BC-100 with the Hashed weights, in dtype,
// and the model of a DOS-style step on it.
func officialDenseNet(t *testing.T, outputs int, dtype dtypes.DType) (*context.Context, *Model) {
	t.Helper()
	const network = "densenet-bc-100"
	template, err := statedict.Template(network, outputs)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.New()
	if err := statedict.Import(ctx.In(ModelScope), network, outputs, statedict.Hashed(template)); err != nil {
		t.Fatal(err)
	}
	if dtype == dtypes.Float64 {
		for v := range ctx.IterVariables() {
			vals := testutil.Float64s(t, v.MustValue())
			if err := v.SetValue(tensors.FromFlatDataAndDimensions(vals, v.Shape().Dimensions...)); err != nil {
				t.Fatal(err)
			}
		}
	}
	arch, err := models.Lookup(network)
	if err != nil {
		t.Fatal(err)
	}
	opt, err := optim.New(OptimizerConfig(config.PaperOptim()))
	if err != nil {
		t.Fatal(err)
	}
	return ctx, &Model{Arch: arch, Classes: outputs - 1, Outputs: outputs, Score: config.ScoreAbsent, Opt: opt,
		Loss: Loss{Kind: config.LossAbsent, Weight: 1}}
}

// official32Like compares float32 results with the official float64 values, within 4 times the
// official float32 run's distance from them, plus floor.
func official32Like(t *testing.T, what string, ours, f32, f64 []float64, floor float64) {
	t.Helper()
	if len(ours) != len(f64) || len(f32) != len(f64) {
		t.Fatalf("%s: %d values, official %d and %d", what, len(ours), len(f32), len(f64))
	}
	var ref, worst float64
	at := 0
	for i := range f64 {
		ref = max(ref, math.Abs(f32[i]-f64[i]))
		if d := math.Abs(ours[i] - f64[i]); d > worst {
			worst, at = d, i
		}
	}
	if worst > 4*ref+floor {
		t.Errorf("%s[%d] = %.9g, official float64 %.9g (float32 %.9g): off by %.3g, allowed %.3g", what, at, ours[at], f64[at], f32[at], worst, 4*ref+floor)
	}
}

func tensorValues(t *testing.T, sd *statedict.StateDict, key string) []float64 {
	t.Helper()
	tt, ok := sd.Get(key)
	if !ok {
		t.Fatalf("no key %s", key)
	}
	v, err := tt.Float64s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A fresh DenseNet-BC-100 draws its convolutions as the official DenseNet3 does: every
// convolution's standard deviation equals the official one's within sampling error, and the
// linear layer keeps PyTorch's default bound with a zero bias.
func TestOfficialInitialisation(t *testing.T) {
	o := loadOfficial(t)
	const network = "densenet-bc-100"
	arch, err := models.Lookup(network)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, int64(1))
	m := &Model{Arch: arch, Classes: 10, Outputs: 11}
	exec, err := context.NewExec(testutil.GoBackend(t), ctx, func(ctx *context.Context, x *Node) *Node { l, _ := m.Infer(ctx, x); return l })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.Exec(tensors.FromFlatDataAndDimensions(make([]float32, 2*32*32*3), 2, 32, 32, 3)); err != nil {
		t.Fatal(err)
	}
	sd, err := statedict.Export(ctx.In(ModelScope), network, 11)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Init.ConvStd) != 99 {
		t.Fatalf("official.json has %d convolutions", len(o.Init.ConvStd))
	}
	for key, want := range o.Init.ConvStd {
		tt, _ := sd.Get(key)
		v, _ := tt.Float64s()
		var sq float64
		for _, x := range v {
			sq += x * x
		}
		got := math.Sqrt(sq / float64(len(v)))
		// Two independent draws of n normals: their stds differ by about sqrt(1/n) relative; the
		// smallest convolution has 648 weights.
		if math.Abs(got-want) > 0.15*want {
			t.Errorf("%s: std %.4f, official DenseNet3 %.4f", key, got, want)
		}
	}
	lw, _ := sd.Get("linear.weight")
	v, _ := lw.Float64s()
	var maxAbs float64
	for _, x := range v {
		maxAbs = max(maxAbs, math.Abs(x))
	}
	if maxAbs > o.Init.LinearBound || maxAbs < 0.9*o.Init.LinearMaxAbs {
		t.Errorf("linear weights: max |w| %.4f, official %.4f under the bound %.4f", maxAbs, o.Init.LinearMaxAbs, o.Init.LinearBound)
	}
	lb, _ := sd.Get("linear.bias")
	if v, _ := lb.Float64s(); slices.ContainsFunc(v, func(x float64) bool { return x != 0 }) || o.Init.LinearBiasMax != 0 {
		t.Errorf("linear bias: want zeros, as the official code's")
	}
}

// The absent-class score ranks examples as detect.py's 1 - p_abs (float32 softmax, float64
// subtraction) does, and separates the ones it ties at 1.0; the metrics of utils/metrics.py on
// the same scores, ties included, are ours.
func TestOfficialScoresAndMetrics(t *testing.T) {
	o := loadOfficial(t)
	s := o.Scores
	n := len(s.AbsentScores)
	score, err := objectives.ScoreByName(config.ScoreAbsent) // as the trainer looks it up
	if err != nil {
		t.Fatal(err)
	}
	out, err := NewExec(testutil.GoBackend(t), func(l *Node) *Node { return score(l, 4) })
	if err != nil {
		t.Fatal(err)
	}
	res, err := out.Exec(tensors.FromFlatDataAndDimensions(testutil.Floats[float32](s.AbsentLogits), n, 5))
	if err != nil {
		t.Fatal(err)
	}
	ours := testutil.Float64s(t, res[0])
	ties := 0
	for i := range n {
		for j := range n {
			switch {
			case s.AbsentScores[i] < s.AbsentScores[j] && !(ours[i] < ours[j]):
				t.Errorf("rows %d, %d: official %v < %v, ours %v, %v", i, j, s.AbsentScores[i], s.AbsentScores[j], ours[i], ours[j])
			case i < j && s.AbsentScores[i] == s.AbsentScores[j]:
				ties++
				if ours[i] == ours[j] {
					t.Errorf("rows %d, %d: tied by the official score %v and by ours", i, j, s.AbsentScores[i])
				}
			}
		}
	}
	if ties == 0 {
		t.Error("the official scores have no ties: the case lost its point")
	}
	for i, ms := range s.MetricSets {
		r, err := metrics.Compute(ms.ID, ms.OOD)
		if err != nil {
			t.Fatal(err)
		}
		what := []string{"FPR95", "AUROC", "AUPR-In", "AUPR-Out"}
		got := []float64{r.FPR95, r.AUROC, r.AUPRIn, r.AUPROut}
		want := []float64{ms.FPR95, ms.AUROC, ms.AUPRIn, ms.AUPROut}
		for k := range got {
			if math.Abs(got[k]-want[k]) > 1e-12 {
				t.Errorf("set %d: %s %.15g, utils/metrics.py %.15g", i, what[k], got[k], want[k])
			}
		}
	}
}

// The normalisation of the official code for each ID set (datasets/__init__.py) is the default
// one (benchmark.normalize: official).
func TestOfficialNormalization(t *testing.T) {
	o := loadOfficial(t)
	if len(o.Normalization) != 2 {
		t.Fatalf("official.json has %d sets", len(o.Normalization))
	}
	train := data.Synthetic(data.SyntheticConfig{N: 4, H: 4, W: 4, C: 3, Classes: 2, Look: 1, Draw: 2})
	for name, want := range o.Normalization {
		n, err := normalization(config.NormalizeOfficial, name, train)
		if err != nil {
			t.Fatal(err)
		}
		assert.Close(t, name+" mean", testutil.Floats[float64](n.Mean), want.Mean, assert.Tol{Abs: 1e-7})
		assert.Close(t, name+" std", testutil.Floats[float64](n.Std), want.Std, assert.Tol{Abs: 1e-7})
	}
}

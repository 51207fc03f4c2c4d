package objectives

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/oodlab/dos/internal/assert"
	"github.com/oodlab/dos/internal/testutil"
)

// run executes fn on the pure-Go backend.
func run(t *testing.T, backend backends.Backend, fn func(in []*graph.Node) []*graph.Node, inputs ...any) []*tensors.Tensor {
	t.Helper()
	exec, err := graph.NewExec(backend, fn)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(inputs...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rows returns rows [from, to) of the golden logits as a tensor of dtype.
func rows(dtype dtypes.DType, from, to int) *tensors.Tensor {
	data := goldenLogits[from*goldenC : to*goldenC]
	if dtype == dtypes.Float64 {
		return tensors.FromFlatDataAndDimensions(append([]float64(nil), data...), to-from, goldenC)
	}
	f := make([]float32, len(data))
	for i, x := range data {
		f[i] = float32(x)
	}
	return tensors.FromFlatDataAndDimensions(f, to-from, goldenC)
}

// dtypeCases run every golden check in float64 and float32. Scores involve no cancellation,
// so their relative tolerance holds down to tiny values; losses and gradients get a small
// absolute tolerance for float32.
var dtypeCases = []struct {
	dtype       dtypes.DType
	score, loss assert.Tol
}{
	{dtypes.Float64, assert.Tol{Rel: 1e-12, Abs: 1e-300}, assert.Tol{Rel: 1e-12, Abs: 1e-12}},
	{dtypes.Float32, assert.Tol{Rel: 3e-6, Abs: 1e-37}, assert.Tol{Rel: 3e-6, Abs: 1e-6}},
}

func TestLossesMatchPyTorch(t *testing.T) {
	backend := testutil.GoBackend(t)
	labels := tensors.FromFlatDataAndDimensions(append([]int32(nil), goldenLabels...), goldenB)
	for _, dc := range dtypeCases {
		t.Run(dc.dtype.String(), func(t *testing.T) {
			all := rows(dc.dtype, 0, goldenB)
			for _, c := range []struct {
				name     string
				loss     func(z, y *graph.Node) *graph.Node
				want     float64
				wantGrad []float64
			}{
				{"CrossEntropy", CrossEntropy, goldenCE, goldenCEGrad},
				{"AbsentClassLoss", func(z, _ *graph.Node) *graph.Node { return AbsentClassLoss(z) }, goldenAbsent, goldenAbsentGrad},
				{"OELoss", func(z, _ *graph.Node) *graph.Node { return OELoss(z) }, goldenOE, goldenOEGrad},
			} {
				out := run(t, backend, func(in []*graph.Node) []*graph.Node {
					loss := c.loss(in[0], in[1])
					return []*graph.Node{loss, graph.Gradient(loss, in[0])[0]}
				}, all, labels)
				assert.Close(t, c.name, testutil.Float64s(t, out[0]), []float64{c.want}, dc.loss)
				assert.Close(t, c.name+" gradient", testutil.Float64s(t, out[1]), c.wantGrad, dc.loss)
			}
			half := goldenB / 2
			for _, c := range []struct {
				name                    string
				id, ood                 *tensors.Tensor
				want                    float64
				wantGradIn, wantGradOut []float64
			}{
				{"EnergyLoss A", rows(dc.dtype, 0, half), rows(dc.dtype, half, goldenB),
					goldenEnergyA, goldenEnergyAGradIn, goldenEnergyAGradOut},
				{"EnergyLoss B", rows(dc.dtype, half, goldenB), rows(dc.dtype, 0, half),
					goldenEnergyB, goldenEnergyBGradIn, goldenEnergyBGradOut},
			} {
				out := run(t, backend, func(in []*graph.Node) []*graph.Node {
					loss := EnergyLoss(in[0], in[1], -25, -7)
					grads := graph.Gradient(loss, in[0], in[1])
					return []*graph.Node{loss, grads[0], grads[1]}
				}, c.id, c.ood)
				assert.Close(t, c.name, testutil.Float64s(t, out[0]), []float64{c.want}, dc.loss)
				assert.Close(t, c.name+" gradient (ID)", testutil.Float64s(t, out[1]), c.wantGradIn, dc.loss)
				assert.Close(t, c.name+" gradient (outliers)", testutil.Float64s(t, out[2]), c.wantGradOut, dc.loss)
			}
		})
	}
}

func TestScoresMatchPyTorch(t *testing.T) {
	backend := testutil.GoBackend(t)
	labels := tensors.FromFlatDataAndDimensions(append([]int32(nil), goldenLabels...), goldenB)
	for _, dc := range dtypeCases {
		t.Run(dc.dtype.String(), func(t *testing.T) {
			all := rows(dc.dtype, 0, goldenB)
			for _, c := range []struct {
				name       string
				numClasses int
				want       []float64
			}{
				{"msp", goldenC, goldenMSPK},
				{"maxlogit", goldenC, goldenMaxLogitK},
				{"energy", goldenC, goldenEnergyScoreK},
				{"msp", goldenC - 1, goldenMSPK1},
				{"maxlogit", goldenC - 1, goldenMaxLogitK1},
				{"energy", goldenC - 1, goldenEnergyScoreK1},
				{"absent", goldenC - 1, goldenAbsentLogOdds},
			} {
				score, err := ScoreByName(c.name)
				if err != nil {
					t.Fatal(err)
				}
				out := run(t, backend, func(in []*graph.Node) []*graph.Node {
					return []*graph.Node{score(in[0], c.numClasses)}
				}, all)
				assert.Close(t, c.name, testutil.Float64s(t, out[0]), c.want, dc.score)
			}
			out := run(t, backend, func(in []*graph.Node) []*graph.Node {
				return []*graph.Node{PAbs(in[0], goldenC-1)}
			}, all)
			assert.Close(t, "PAbs", testutil.Float64s(t, out[0]), goldenPAbs, dc.score)

			for _, c := range []struct {
				numClasses int
				pred       []int32
				acc        float64
			}{{goldenC, goldenPredK, goldenAccK}, {goldenC - 1, goldenPredK1, goldenAccK1}} {
				out := run(t, backend, func(in []*graph.Node) []*graph.Node {
					return []*graph.Node{Predictions(in[0], c.numClasses), Accuracy(in[0], in[1], c.numClasses)}
				}, all, labels)
				pred := tensors.MustCopyFlatData[int32](out[0])
				for i := range c.pred {
					if pred[i] != c.pred[i] {
						t.Errorf("numClasses %d: prediction[%d] = %d, want %d", c.numClasses, i, pred[i], c.pred[i])
					}
				}
				assert.Close(t, "Accuracy", testutil.Float64s(t, out[1]), []float64{c.acc}, dc.loss)
			}
		})
	}
}

// TestScoreProperties checks relations that hold whatever the logits: the absent log-odds are
// log((1 - p_abs) / p_abs), MSP in (0, 1], energy >= max logit.
func TestScoreProperties(t *testing.T) {
	backend := testutil.GoBackend(t)
	all := rows(dtypes.Float64, 0, goldenB)
	out := run(t, backend, func(in []*graph.Node) []*graph.Node {
		k := goldenC - 1
		return []*graph.Node{PAbs(in[0], k), AbsentLogOdds(in[0], k), MSP(in[0], k), Energy(in[0], k), MaxLogit(in[0], k)}
	}, all)
	pAbs, logOdds, msp, energy, maxLogit := testutil.Float64s(t, out[0]), testutil.Float64s(t, out[1]), testutil.Float64s(t, out[2]),
		testutil.Float64s(t, out[3]), testutil.Float64s(t, out[4])
	for i := range pAbs {
		if p := pAbs[i]; p > 1e-300 && p < 0.5 { // above 0.5, 1 - p cancels in float64
			if want := math.Log((1 - p) / p); math.Abs(logOdds[i]-want) > 1e-9*(1+math.Abs(want)) {
				t.Errorf("row %d: log-odds %g, want log((1-p_abs)/p_abs) = %g", i, logOdds[i], want)
			}
		}
		if !(msp[i] > 0 && msp[i] <= 1) {
			t.Errorf("row %d: MSP %g outside (0, 1]", i, msp[i])
		}
		if energy[i] < maxLogit[i] {
			t.Errorf("row %d: logsumexp %g below max logit %g", i, energy[i], maxLogit[i])
		}
	}
}

func TestRegistries(t *testing.T) {
	for _, name := range []string{"msp", "maxlogit", "energy", "absent"} {
		if _, err := ScoreByName(name); err != nil {
			t.Errorf("ScoreByName(%q): %v", name, err)
		}
	}
	_, err := ScoreByName("odin")
	if err == nil || !strings.Contains(err.Error(), `"odin"`) || !strings.Contains(err.Error(), "absent, energy, maxlogit, msp") {
		t.Errorf("ScoreByName(odin) error %v, want one naming odin and listing the scores", err)
	}
	if !ScoreNeedsAbsentClass("absent") || ScoreNeedsAbsentClass("msp") {
		t.Errorf("absent-class requirements wrong")
	}
}

// The absent score separates examples whose p_abs is far below float32's (and float64's)
// resolution of 1 - p_abs: logits [0, 0, 0, 0, -a] have p_abs = 1/(1 + 4e^a), down to 1e-35 here,
// where 1 - p_abs is exactly 1 in either precision. The log-odds log(4) + a stay distinct, in
// the order of the official 1 - p_abs.
func TestAbsentScoreHasNoArtificialTies(t *testing.T) {
	backend := testutil.GoBackend(t)
	as := []float64{5, 10, 17, 20, 30, 40, 50, 60, 70, 80}
	logits := make([]float32, 0, 5*len(as))
	for _, a := range as {
		logits = append(logits, 0, 0, 0, 0, float32(-a))
	}
	x := tensors.FromFlatDataAndDimensions(logits, len(as), 5)
	out := run(t, backend, func(in []*graph.Node) []*graph.Node {
		return []*graph.Node{AbsentLogOdds(in[0], 4), PAbs(in[0], 4)}
	}, x)
	got, pAbs := testutil.Float64s(t, out[0]), testutil.Float64s(t, out[1])
	for i, a := range as {
		if want := math.Log(4) + a; math.Abs(got[i]-want) > 1e-5*want {
			t.Errorf("a=%g: score %.9g, want log(4)+a = %.9g (p_abs %g)", a, got[i], want, pAbs[i])
		}
		if i > 0 && !(got[i] > got[i-1]) {
			t.Errorf("a=%g: score %g not above the previous %g: a tie the official float64 1 - p_abs breaks", a, got[i], got[i-1])
		}
	}
	if pAbs[len(as)-1] > 1e-30 {
		t.Errorf("the test lost its point: smallest p_abs %g", pAbs[len(as)-1])
	}
}

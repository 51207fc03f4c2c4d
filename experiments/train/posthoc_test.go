package train

import (
	stdctx "context"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph DSL reads better unqualified.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/experiments/metrics"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/internal/assert"
	"github.com/oodlab/dos/models"
	"github.com/oodlab/dos/models/backend"
	"github.com/oodlab/dos/models/objectives"
	"github.com/oodlab/dos/sampling"
)

// TestPostHocScores: the final evaluation scores the test sets with every post-hoc score of the
// model (the absent-class score only with the absent class), the method's own with the
// headline's very numbers; every score's files are written and give its metrics again; and the
// knn scores equal a brute-force float64 search over the training features computed apart.
func TestPostHocScores(t *testing.T) {
	for _, c := range []struct {
		method string
		want   []string
	}{
		{"dos", []string{"msp", "maxlogit", "energy", "absent", "knn"}},
		{"energy", []string{"msp", "maxlogit", "energy", "knn"}},
	} {
		t.Run(c.method, func(t *testing.T) {
			run := tinyRun(t, c.method)
			run.Epochs = 1
			run.Optim.Milestones = nil
			dir := t.TempDir()
			tr := newTinyTrainer(t, run, dir)
			const k = 5
			tr.Settings.Measures.KNNK = k
			out, err := tr.Run(stdctx.Background())
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for n := range out.Scores {
				names = append(names, n)
			}
			if slices.Sort(names); !slices.Equal(names, slices.Sorted(slices.Values(c.want))) {
				t.Fatalf("scores %v, want %v", names, c.want)
			}
			if out.Score != run.Method.Score || out.KNNK != k || out.KNNTrain != tr.Job.Train.N {
				t.Errorf("score %q, knn k %d over %d, want %q, %d over %d", out.Score, out.KNNK, out.KNNTrain, run.Method.Score, k, tr.Job.Train.N)
			}
			set := run.Benchmark.Tests[0]
			if out.Scores[out.Score][set] != out.PerSet[set] {
				t.Errorf("the method's own score: %+v, the headline %+v", out.Scores[out.Score][set], out.PerSet[set])
			}
			read := func(score, set string) []float64 {
				a, err := data.ReadNPY(filepath.Join(dir, store.ScoresDir, score, set+".npy"))
				if err != nil {
					t.Fatal(err)
				}
				v, err := a.Float64s()
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			for _, name := range c.want {
				r, err := metrics.Compute(read(name, idTestSet), read(name, set))
				if err != nil {
					t.Fatal(err)
				}
				if r != out.Scores[name][set] {
					t.Errorf("%s: metrics of the score files %+v, results %+v", name, r, out.Scores[name][set])
				}
			}
			if own, head := read(out.Score, set), read("", set); !slices.Equal(own, head) {
				t.Errorf("scores/%s/%s.npy differs from the headline scores/%s.npy", out.Score, set, set)
			}

			// knn, independently: the model's features (the trainer's plain inference pass),
			// normalised and searched exhaustively in float64.
			tr.execs = map[string]*context.Exec{}
			train, err := tr.scoreRows(tr.Job.Train, false, true)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []struct {
				name string
				src  data.Source
			}{{idTestSet, tr.Job.Test}, {set, tr.Job.Tests[0].Images}} {
				test, err := tr.scoreRows(s.src, false, true)
				if err != nil {
					t.Fatal(err)
				}
				assert.Close(t, "knn scores of "+s.name, read(objectives.ScoreKNN, s.name), bruteKNN(train.Features, test.Features, train.Dim, k),
					assert.Tol{Rel: 1e-5, Abs: 1e-5})
			}
		})
	}
}

// bruteKNN is minus the squared distance from each normalised test feature to its k-th nearest
// normalised training feature, by sorting all distances in float64.
func bruteKNN(train, test []float32, dim, k int) []float64 {
	norm := func(f []float32) [][]float64 {
		var out [][]float64
		for i := 0; i < len(f); i += dim {
			row := make([]float64, dim)
			s := 0.0
			for j := range dim {
				row[j] = float64(f[i+j])
				s += row[j] * row[j]
			}
			for j := range row {
				row[j] /= math.Sqrt(s) + 1e-10
			}
			out = append(out, row)
		}
		return out
	}
	tr, te := norm(train), norm(test)
	scores := make([]float64, len(te))
	for i, x := range te {
		d := make([]float64, len(tr))
		for j, y := range tr {
			for l := range x {
				d[j] += (x[l] - y[l]) * (x[l] - y[l])
			}
		}
		slices.Sort(d)
		scores[i] = -d[k-1]
	}
	return scores
}

func TestDefaultKNNK(t *testing.T) {
	for set, want := range map[string]int{"cifar10": 50, "cifar100": 200, "cifar100@0-49": 200, "imagenet": 1000, "mnist@0-4": 50} {
		if got := DefaultKNNK(set); got != want {
			t.Errorf("DefaultKNNK(%q) = %d, want %d", set, got, want)
		}
	}
}

// TestPostHocKCapped: a k above the training-set size uses the whole set, and says so.
func TestPostHocKCapped(t *testing.T) {
	run := tinyRun(t, "msp")
	run.Epochs = 1
	run.Optim.Milestones = nil
	dir := t.TempDir()
	tr := newTinyTrainer(t, run, dir)
	tr.Settings.Measures.KNNK = 1000
	var log strings.Builder
	tr.Settings.Log = &log
	out, err := tr.Run(stdctx.Background())
	if err != nil {
		t.Fatal(err)
	}
	if out.KNNK != tr.Job.Train.N {
		t.Errorf("k = %d, want the %d training images", out.KNNK, tr.Job.Train.N)
	}
	if !strings.Contains(log.String(), "k = 1000 is more than the 64 ID training images: using k = 64") {
		t.Errorf("the log does not say that k was lowered:\n%s", log.String())
	}
	if _, err := os.Stat(filepath.Join(dir, store.ScoresDir, objectives.ScoreKNN, idTestSet+".npy")); err != nil {
		t.Error(err)
	}
}

// TestEvaluationGraphsForXLA translates the post-hoc and probe graphs of DenseNet-BC-100 at the
// CIFAR-100 shapes with the XLA backend's StableHLO translation: the post-hoc graph is one
// inference pass (no more convolutions than it), the knn distances one matrix product against
// the 50,000 training features, the probe's selection one inference pass plus the selection; no
// program sends anything to the host mid-way.
func TestEvaluationGraphsForXLA(t *testing.T) {
	arch, err := models.Lookup("densenet-bc-100")
	if err != nil {
		t.Fatal(err)
	}
	const classes, batch, candidates, picks = 100, 256, 384, 64
	dosSampler, err := sampling.NewDOSWithConfig(1, candidates, sampling.DefaultDOSConfig(candidates, picks))
	if err != nil {
		t.Fatal(err)
	}
	m := &Model{Arch: arch, Classes: classes, Outputs: classes + 1, Score: "absent", InGraph: dosSampler}
	img := func(n int) shapes.Shape { return shapes.Make(dtypes.Float32, n, 32, 32, 3) }
	emit := func(name string, build func(ctx *context.Context, g *Graph) []*Node) map[string]int {
		prog, err := backend.StableHLO(name, func(g *Graph) []*Node { return build(context.New(), g) })
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		counts := map[string]int{}
		for _, c := range backend.CountOps(prog) {
			counts[c.Op] = c.Count
		}
		for _, op := range []string{"custom_call", "infeed", "outfeed", "send", "recv"} {
			if counts[op] != 0 {
				t.Errorf("%s: %d %s operations", name, counts[op], op)
			}
		}
		return counts
	}
	infer := emit("infer", func(ctx *context.Context, g *Graph) []*Node {
		l, f := m.Infer(ctx, Parameter(g, "x", img(batch)))
		return []*Node{l, f}
	})
	post := emit("posthoc", func(ctx *context.Context, g *Graph) []*Node {
		return m.postHocGraph(ctx, Parameter(g, "x", img(batch)))
	})
	dim := arch.FeatureSize(classes + 1)
	knn := emit("knn", func(ctx *context.Context, g *Graph) []*Node {
		return []*Node{knnDistances(ctx, Parameter(g, "a", shapes.Make(dtypes.Float32, batch, dim)),
			Parameter(g, "b", shapes.Make(dtypes.Float32, 50000, dim)))}
	})
	sel := emit("probe-select", func(ctx *context.Context, g *Graph) []*Node {
		return []*Node{m.probeSelect(ctx, Parameter(g, "c", img(candidates)),
			Parameter(g, "u", shapes.Make(dtypes.Float32, dosSampler.Config().UniformsSize())))}
	})
	if n := infer["convolution"]; n == 0 || post["convolution"] != n || sel["convolution"] != n {
		t.Errorf("convolutions: inference %d, post-hoc graph %d, probe selection %d: want one inference pass each", n, post["convolution"], sel["convolution"])
	}
	if knn["dot_general"] != 1 {
		t.Errorf("knn distances: %d matrix products, want 1", knn["dot_general"])
	}
}

// TestExecutorKNNK: the executor scores knn with the run's knn_k, and with the benchmark's k
// when the run leaves it at 0; results.json records the k used.
func TestExecutorKNNK(t *testing.T) {
	for _, k := range []int{0, 3} {
		run := tinyRun(t, "msp")
		run.Epochs, run.Optim.Milestones, run.Backend = 1, nil, "go"
		run.KNNK = k
		s := &store.Store{Root: t.TempDir()}
		dir, err := s.Dir("g", run)
		if err != nil {
			t.Fatal(err)
		}
		if err := dir.Create(); err != nil {
			t.Fatal(err)
		}
		if err := New("", "go", nil).Execute(stdctx.Background(), run, dir, io.Discard); err != nil {
			t.Fatal(err)
		}
		res, err := dir.Results()
		if err != nil {
			t.Fatal(err)
		}
		want := k
		if k == 0 {
			want = DefaultKNNK(run.Benchmark.ID)
		}
		if res.KNNK != want {
			t.Errorf("knn_k %d: results.json has k %d, want %d", k, res.KNNK, want)
		}
	}
}

package objectives

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/oodlab/dos/internal/assert"
	"github.com/oodlab/dos/internal/testutil"
)

// TestKNNMatchesScikitLearn pins the KNN score (graph normalisation and distances, host
// selection) against scikit-learn's NearestNeighbors (testdata/gen_knn.py), including k equal
// to the training-set size, a test feature equal to a training one, and zero features.
func TestKNNMatchesScikitLearn(t *testing.T) {
	b, err := os.ReadFile("testdata/knn.json")
	if err != nil {
		t.Fatal(err)
	}
	var gold struct {
		Dim         int
		Train, Test []float64
		Cases       []struct {
			K      int
			Scores []float64
		}
	}
	if err := json.Unmarshal(b, &gold); err != nil {
		t.Fatal(err)
	}
	f32 := func(x []float64) []float32 {
		out := make([]float32, len(x))
		for i, v := range x {
			out[i] = float32(v)
		}
		return out
	}
	nTrain, nTest := len(gold.Train)/gold.Dim, len(gold.Test)/gold.Dim
	out := run(t, testutil.GoBackend(t), func(in []*graph.Node) []*graph.Node {
		return []*graph.Node{SquaredDistances(NormalizeFeatures(in[0]), NormalizeFeatures(in[1]))}
	}, tensors.FromFlatDataAndDimensions(f32(gold.Test), nTest, gold.Dim),
		tensors.FromFlatDataAndDimensions(f32(gold.Train), nTrain, gold.Dim))
	dist := tensors.MustCopyFlatData[float32](out[0])
	if len(gold.Cases) < 4 {
		t.Fatalf("%d cases", len(gold.Cases))
	}
	for _, c := range gold.Cases {
		got := make([]float64, nTest)
		for i := range nTest {
			row := slices.Clone(dist[i*nTrain : (i+1)*nTrain])
			got[i] = KNNScore(row, c.K)
		}
		// float32 distances of unit vectors: |a|^2 + |b|^2 - 2 a.b loses about 1e-7 near 0.
		assert.Close(t, "knn scores", got, c.Scores, assert.Tol{Rel: 1e-5, Abs: 1e-6})
	}
}

// TestKthSmallestMatchesSort checks the quickselect against sorting, with many ties.
func TestKthSmallestMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		n := 1 + rng.IntN(300)
		v := make([]float32, n)
		for i := range v {
			if trial%2 == 0 {
				v[i] = float32(rng.IntN(5)) // ties
			} else {
				v[i] = rng.Float32()
			}
		}
		sorted := slices.Clone(v)
		slices.Sort(sorted)
		k := 1 + rng.IntN(n)
		if got := KthSmallest(slices.Clone(v), k); got != sorted[k-1] {
			t.Fatalf("trial %d: k=%d of %d: got %v, want %v", trial, k, n, got, sorted[k-1])
		}
	}
	if got := KthSmallest([]float32{1, float32(math.NaN()), 0}, 1); !math.IsNaN(float64(got)) {
		t.Errorf("with a NaN: got %v, want NaN", got)
	}
}

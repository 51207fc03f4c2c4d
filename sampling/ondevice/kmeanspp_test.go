package ondevice

import (
	"math"
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/oodlab/dos/internal/testutil"
	"github.com/oodlab/dos/sampling"
)

// refKMeansPP is an independent float64 reference of greedy k-means++ (scikit-learn's
// _kmeans_plusplus) driven by the same uniforms as kmeansPPInit: the first centre at
// floor(u*N), then per step LocalTrials candidates by inverse-CDF search (searchsorted, side
// left) of u*potential in the cumulative squared distances, keeping the candidate whose
// potential is smallest (first on ties). It returns the chosen point indices of one restart.
func refKMeansPP(x []float64, n, d, k, trials int, u []float32) []int {
	dist := func(i, j int) float64 {
		s := 0.0
		for c := range d {
			diff := x[i*d+c] - x[j*d+c]
			s += diff * diff
		}
		return s
	}
	first := min(int(math.Floor(float64(u[0])*float64(n))), n-1)
	chosen := []int{first}
	closest := make([]float64, n)
	pot := 0.0
	for j := range n {
		closest[j] = dist(first, j)
		pot += closest[j]
	}
	for c := 1; c < k; c++ {
		bestPot, bestCand := math.Inf(1), -1
		var bestClosest []float64
		cum := make([]float64, n)
		acc := 0.0
		for j := range n {
			acc += closest[j]
			cum[j] = acc
		}
		for tr := range trials {
			target := float64(u[1+(c-1)*trials+tr]) * pot
			cand := 0
			for cand < n && cum[cand] < target {
				cand++
			}
			cand = min(cand, n-1)
			nc := make([]float64, n)
			p := 0.0
			for j := range n {
				nc[j] = math.Min(closest[j], dist(cand, j))
				p += nc[j]
			}
			if p < bestPot {
				bestPot, bestCand, bestClosest = p, cand, nc
			}
		}
		chosen = append(chosen, bestCand)
		closest, pot = bestClosest, bestPot
	}
	return chosen
}

// TestKMeansPPInitMatchesReference runs the in-graph initialisation (3 restarts side by side) on
// the 384x32 unit vectors and checks that every restart picks the same points, in the same order,
// as the float64 reference given the same uniforms.
func TestKMeansPPInitMatchesReference(t *testing.T) {
	const n, d, k, restarts = 384, 32, 16, 3
	x := readF32(t, "unit_384x32", n, d)
	x64 := make([]float64, len(x))
	for i, v := range x {
		x64[i] = float64(v)
	}
	cfg := sampling.KMeansConfig{K: k, NInit: restarts, Iters: 1}
	trials := cfg.Trials()
	u := cfg.HostUniforms(rand.New(rand.NewPCG(5, 6)))
	exec, err := NewExec(testutil.GoBackend(t), func(xn, un *Node) *Node {
		x2 := Reshape(ReduceSum(Square(xn), -1), 1, 1, n)
		return kmeansPPInit(xn, x2, un, k, restarts, trials)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	out, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, n, d), tensors.FromFlatDataAndDimensions(u, restarts, cfg.UniformsPerRestart()))
	if err != nil {
		t.Fatal(err)
	}
	centres := tensors.MustCopyFlatData[float32](out[0]) // [R, K, D]
	per := cfg.UniformsPerRestart()
	for r := range restarts {
		want := refKMeansPP(x64, n, d, k, trials, u[r*per:(r+1)*per])
		for c, idx := range want {
			got := centres[(r*k+c)*d : (r*k+c+1)*d]
			for j := range d {
				if got[j] != x[idx*d+j] {
					t.Fatalf("restart %d, centre %d: not point %d (the reference's pick); got %v", r, c, idx, got[:4])
				}
			}
		}
	}
}

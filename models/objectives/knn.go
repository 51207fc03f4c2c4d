package objectives

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// The feature-space score of Sun et al., "Out-of-Distribution Detection with Deep Nearest
// Neighbors" (ICML 2022; code github.com/deeplearning-wisc/knn-ood): the penultimate features
// of the ID training set and of a test image are L2-normalised, and the image scores the
// negative squared Euclidean distance to its k-th nearest training feature (their run_cifar.py
// takes -D[:, -1] of faiss.IndexFlatL2.search, which returns squared distances; the negative
// distance itself ranks the same). The graph computes the distances (NormalizeFeatures,
// SquaredDistances); the k-th smallest of each row is picked on the host (KthSmallest), since
// GoMLX has no top-k operation.

// ScoreKNN names the k-nearest-neighbour score among a run's post-hoc scores.
const ScoreKNN = "knn"

// KNN's k in Sun et al. (section 4.1: chosen on validation data from 1 to 5,000): 50 for
// CIFAR-10, 200 for CIFAR-100; 1,000 with the whole ImageNet-1K training set (10 with a random
// 1% of it).
const (
	KNNKCIFAR10  = 50
	KNNKCIFAR100 = 200
	KNNKImageNet = 1000
)

// knnEps is added to the norm before dividing, as the KNN code's normaliser does.
const knnEps = 1e-10

// NormalizeFeatures divides every row of x [B, D] by its L2 norm plus 1e-10, the KNN code's
// normaliser: rows land on the unit sphere, a zero row stays zero.
func NormalizeFeatures(x *graph.Node) *graph.Node {
	if x.Rank() != 2 {
		panic(fmt.Sprintf("objectives.NormalizeFeatures: features shape %s, want [batch, dim]", x.Shape()))
	}
	norm := graph.Sqrt(graph.ReduceAndKeep(graph.Square(x), graph.ReduceSum, -1))
	return graph.Div(x, graph.AddScalar(norm, knnEps))
}

// SquaredDistances returns the squared Euclidean distances [B, N] between the rows of a [B, D]
// and those of b [N, D], computed as |a|^2 + |b|^2 - 2 a.b, as faiss's IndexFlatL2 does for
// batches. Rounding may leave a distance slightly below 0, which faiss raises to 0: KNNScore does
// that after the selection (the same, since raising to 0 keeps the order), sparing the graph a
// pass over [B, N].
func SquaredDistances(a, b *graph.Node) *graph.Node {
	if a.Rank() != 2 || b.Rank() != 2 || a.Shape().Dim(1) != b.Shape().Dim(1) {
		panic(fmt.Sprintf("objectives.SquaredDistances: shapes %s and %s, want [B, D] and [N, D]", a.Shape(), b.Shape()))
	}
	// -2 a.b with the factor on a (exact in floating point): two passes over [B, N] in all.
	dot := graph.DotGeneral(graph.MulScalar(a, -2), []int{1}, nil, b, []int{1}, nil) // [B, N]
	na := graph.ReduceAndKeep(graph.Square(a), graph.ReduceSum, -1)                  // [B, 1]
	nb := graph.ExpandAxes(graph.ReduceSum(graph.Square(b), -1), 0)                  // [1, N]
	return graph.Add(graph.Add(dot, na), nb)
}

// KthSmallest returns the k-th smallest value of v (k from 1 to len(v)), reordering v. It is
// NaN when v holds a NaN.
func KthSmallest(v []float32, k int) float32 {
	if k < 1 || k > len(v) {
		panic(fmt.Sprintf("objectives.KthSmallest: k = %d of %d values", k, len(v)))
	}
	for _, x := range v {
		if x != x {
			return float32(math.NaN())
		}
	}
	lo, hi, target := 0, len(v)-1, k-1
	for lo < hi {
		// Median of three as the pivot, then a three-way partition (ties do not degrade it).
		mid := lo + (hi-lo)/2
		a, b, c := v[lo], v[mid], v[hi]
		p := max(min(a, b), min(max(a, b), c))
		lt, i, gt := lo, lo, hi
		for i <= gt {
			switch {
			case v[i] < p:
				v[lt], v[i] = v[i], v[lt]
				lt++
				i++
			case v[i] > p:
				v[gt], v[i] = v[i], v[gt]
				gt--
			default:
				i++
			}
		}
		switch {
		case target < lt:
			hi = lt - 1
		case target > gt:
			lo = gt + 1
		default:
			return p
		}
	}
	return v[target]
}

// KNNScore is the score of one test image from its squared distances to every training
// feature (one row of SquaredDistances): minus the k-th smallest, raised to 0 first (see
// SquaredDistances). row is reordered.
func KNNScore(row []float32, k int) float64 { return -float64(max(KthSmallest(row, k), 0)) }

package ondevice

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph DSL reads better unqualified.
	"github.com/gomlx/gomlx/pkg/core/shapes"

	"github.com/oodlab/dos/sampling"
)

// UniformsShape is the shape of the uniforms input of KMeans: [NInit, UniformsPerRestart].
func UniformsShape(cfg sampling.KMeansConfig) shapes.Shape {
	return shapes.Make(dtypes.Float32, cfg.NInit, cfg.UniformsPerRestart())
}

// KMeansResult holds the graph outputs of KMeans, for the best restart.
type KMeansResult struct {
	// Assign [N] int32: index of the nearest final centroid of each point.
	Assign *Node
	// Centroids [K, D] float32.
	Centroids *Node
	// Inertia: scalar float32, sum of squared distances of the points to their centroid.
	Inertia *Node
	// EmptyClusters: scalar int32, clusters with no member in the final assignment.
	EmptyClusters *Node
	// ChangedIters: scalar int32, number of Lloyd iterations (of Iters) in which at least one
	// assignment changed; the first iteration (assignment to the initial centres) always counts.
	// ChangedIters < Iters means the kept restart converged (its last iterations were no-ops);
	// equal to Iters means it may not have.
	ChangedIters *Node
}

// KMeans clusters the rows of x ([N, D] float32) into cfg.K clusters by Euclidean distance,
// inside the graph, with static shapes:
//
//   - Initialisation: greedy k-means++ (scikit-learn's algorithm): the first centre is drawn
//     uniformly; each further centre is chosen among LocalTrials candidates, each drawn with
//     probability proportional to the squared distance to the nearest chosen centre, as the one
//     that minimises the resulting potential. Candidates are drawn by inverse-CDF search on the
//     cumulative distances with the host-generated uniforms ([NInit, UniformsPerRestart], see
//     sampling.KMeansConfig.HostUniforms); no in-graph RNG is used, so results depend only on the uniforms.
//   - cfg.Iters unrolled Lloyd iterations (assign to nearest centroid, move centroids to the mean).
//     A cluster that becomes empty receives the point farthest from its centre, as in
//     scikit-learn (see lloyd); with cfg.KeepEmpty it keeps its previous centroid instead.
//   - A final assignment step against the final centroids, so Assign is always each point's
//     nearest centroid (ties: lowest centroid index) and Inertia matches Assign and Centroids.
//   - The NInit restarts run vectorised in a leading batch dimension; the lowest inertia wins
//     (ties: lowest restart index).
//
// The configuration must be valid for N points (see sampling.KMeansConfig.Validate); an invalid one is a
// bug at graph-building time and panics.
func KMeans(x, uniforms *Node, cfg sampling.KMeansConfig) KMeansResult {
	if x.Rank() != 2 || x.DType() != dtypes.Float32 {
		panic(fmt.Errorf("ondevice.KMeans: x must be [N, D] float32, got %s", x.Shape()))
	}
	n := x.Shape().Dimensions[0]
	if err := cfg.Validate(n); err != nil {
		panic(err)
	}
	if want := UniformsShape(cfg); !uniforms.Shape().Equal(want) {
		panic(fmt.Errorf("ondevice.KMeans: uniforms must be %s, got %s", want, uniforms.Shape()))
	}
	x2 := Reshape(ReduceSum(Square(x), -1), 1, 1, n) // [1, 1, N]
	return kmeansFrom(x, x2, kmeansPPInit(x, x2, uniforms, cfg.K, cfg.NInit, cfg.Trials()), cfg)
}

// KMeansFrom is KMeans from given initial centroids [K, D] (one restart; cfg.NInit is ignored), as
// scikit-learn's KMeans(init=centroids, n_init=1): the Lloyd iterations, the empty-cluster
// relocation and the final assignment are KMeans's.
func KMeansFrom(x, init *Node, cfg sampling.KMeansConfig) KMeansResult {
	if x.Rank() != 2 || x.DType() != dtypes.Float32 {
		panic(fmt.Errorf("ondevice.KMeansFrom: x must be [N, D] float32, got %s", x.Shape()))
	}
	n, d := x.Shape().Dimensions[0], x.Shape().Dimensions[1]
	cfg.NInit = 1
	if err := cfg.Validate(n); err != nil {
		panic(err)
	}
	if !init.Shape().Equal(shapes.Make(dtypes.Float32, cfg.K, d)) {
		panic(fmt.Errorf("ondevice.KMeansFrom: initial centroids must be [%d, %d] float32, got %s", cfg.K, d, init.Shape()))
	}
	x2 := Reshape(ReduceSum(Square(x), -1), 1, 1, n) // [1, 1, N]
	return kmeansFrom(x, x2, InsertAxes(init, 0), cfg)
}

// kmeansFrom runs the Lloyd iterations from centroids [R, K, D] and keeps the best restart.
func kmeansFrom(x, x2, centroids *Node, cfg sampling.KMeansConfig) KMeansResult {
	k := cfg.K
	centroids, changedPerRestart := lloyd(x, x2, centroids, cfg.Iters, cfg.KeepEmpty)

	// Final assignment and inertia against the final centroids.
	assign, minDist := nearest(x, x2, centroids) // [R, N], [R, N]
	inertia := ReduceSum(minDist, -1)            // [R]
	best := ArgMin(inertia, 0)                   // scalar int32
	bestIdx := InsertAxes(best, 0)               // [1]

	finalAssign := Gather(assign, bestIdx)       // [N]
	finalCentroids := Gather(centroids, bestIdx) // [K, D]
	finalInertia := ReduceMin(inertia)
	counts := ReduceSum(OneHot(finalAssign, k, dtypes.Int32), 0) // [K]
	empty := ReduceSum(ConvertDType(Equal(counts, ZerosLike(counts)), dtypes.Int32))
	return KMeansResult{
		Assign:        finalAssign,
		Centroids:     finalCentroids,
		Inertia:       finalInertia,
		EmptyClusters: empty,
		ChangedIters:  Gather(changedPerRestart, bestIdx),
	}
}

// lloyd runs iters Lloyd iterations from centroids [R, K, D] (R restarts side by side) on the
// points x [N, D] (x2: their squared norms, [1, 1, N]) and returns the centroids and, per restart,
// the number of iterations in which an assignment changed ([R] int32; the first always counts).
//
// A cluster that an assignment step leaves empty is handled as scikit-learn's Lloyd iteration
// does (_relocate_empty_clusters): it receives the point farthest from its own centre, which
// leaves its old cluster; with several empty clusters, the lowest-numbered empty cluster takes
// the farthest point, the next the second farthest, and so on. That is scikit-learn's order for
// up to two (beyond, its argpartition leaves the order unspecified, but which empty cluster takes
// which point only renames clusters: the centroids are the same set). A cluster that loses its
// only point that way becomes the zero vector, as in scikit-learn. With keepEmpty, an empty
// cluster keeps its previous centroid instead.
func lloyd(x, x2, centroids *Node, iters int, keepEmpty bool) (*Node, *Node) {
	g := x.Graph()
	r, k := centroids.Shape().Dimensions[0], centroids.Shape().Dimensions[1]
	var prevAssign *Node
	changedPerRestart := Zeros(g, shapes.Make(dtypes.Int32, r))
	for range iters {
		assign, minDist := nearest(x, x2, centroids) // [R, N]
		if prevAssign == nil {
			changedPerRestart = AddScalar(changedPerRestart, 1)
		} else {
			diff := ReduceLogicalOr(NotEqual(assign, prevAssign), -1) // [R]
			changedPerRestart = Add(changedPerRestart, ConvertDType(diff, dtypes.Int32))
		}
		prevAssign = assign
		if !keepEmpty {
			assign = relocateEmpty(assign, minDist, k)
		}
		oneHot := OneHot(assign, k, dtypes.Float32)              // [R, N, K]
		counts := ReduceSum(oneHot, 1)                           // [R, K]
		sums := Einsum("rnk,nd->rkd", oneHot, x)                 // [R, K, D]
		means := Div(sums, InsertAxes(MaxScalar(counts, 1), -1)) // [R, K, D]
		if keepEmpty {
			nonEmpty := BroadcastToShape(InsertAxes(GreaterThan(counts, ZerosLike(counts)), -1), means.Shape())
			centroids = Where(nonEmpty, means, centroids)
		} else {
			// A count of zero is left only by a cluster whose single point moved: its sum, hence
			// its centroid, is zero, as in scikit-learn.
			centroids = means
		}
	}
	return centroids, changedPerRestart
}

// relocateEmpty returns the assignment [R, N] after scikit-learn's relocation (see lloyd): the
// clusters of k that assign leaves empty take the points farthest from their centres (dist, the
// squared distances [R, N]), the lowest-numbered empty cluster the farthest point. Moving points
// in the assignment, before the sums, subtracts them from their old clusters and adds them to the
// new ones with no further arithmetic.
func relocateEmpty(assign, dist *Node, k int) *Node {
	g := assign.Graph()
	n := assign.Shape().Dimensions[1]
	counts := ReduceSum(OneHot(assign, k, dtypes.Int32), 1) // [R, K]
	empty := Equal(counts, ZerosLike(counts))               // [R, K]
	// slot[r, c]: c's position among the empty clusters of restart r, in increasing order.
	before := InsertAxes(LessThan(Iota(g, shapes.Make(dtypes.Int32, k, k), 1), Iota(g, shapes.Make(dtypes.Int32, k, k), 0)), 0)
	slot := ReduceSum(ConvertDType(LogicalAnd(InsertAxes(empty, 1), before), dtypes.Int32), -1) // [R, K]
	// rank[r, i]: i's position when the points are sorted farthest first (ties: lower index first).
	// Operands are broadcast once to [R, N, N], so each comparison runs on equal shapes.
	rnn := []int{assign.Shape().Dimensions[0], n, n}
	di, dj := BroadcastToDims(InsertAxes(dist, -1), rnn...), BroadcastToDims(InsertAxes(dist, 1), rnn...)
	jFirst := BroadcastToDims(InsertAxes(LessThan(Iota(g, shapes.Make(dtypes.Int32, n, n), 1), Iota(g, shapes.Make(dtypes.Int32, n, n), 0)), 0), rnn...)
	ahead := LogicalOr(GreaterThan(dj, di), LogicalAnd(Equal(dj, di), jFirst)) // [R, N, N]: j comes before i
	rank := ReduceSum(ConvertDType(ahead, dtypes.Int32), -1)                   // [R, N]
	// move[r, c, i]: point i moves into empty cluster c (its rank is c's slot).
	move := LogicalAnd(Equal(InsertAxes(rank, 1), InsertAxes(slot, -1)), InsertAxes(empty, -1)) // [R, K, N]
	moved := ReduceLogicalOr(move, 1)                                                           // [R, N]
	target := ReduceSum(Mul(ConvertDType(move, dtypes.Int32), Iota(g, shapes.Make(dtypes.Int32, 1, k, 1), 1)), 1)
	return Where(moved, target, assign)
}

// sqDistances returns the squared Euclidean distances [R, M, N] between the centres c [R, M, D]
// and the points x [N, D] (x2 = squared norms of x, [1, 1, N]), clamped at 0.
func sqDistances(x, x2, c *Node) *Node {
	dots := Einsum("rmd,nd->rmn", c, x)            // [R, M, N]
	c2 := InsertAxes(ReduceSum(Square(c), -1), -1) // [R, M, 1]
	dist := Add(Sub(c2, MulScalar(dots, 2)), x2)
	return MaxScalar(dist, 0)
}

// nearest returns, for each restart, the index of the nearest centroid of each point [R, N]
// int32 and the squared distance to it [R, N].
func nearest(x, x2, centroids *Node) (assign, minDist *Node) {
	dist := sqDistances(x, x2, centroids) // [R, K, N]
	return ArgMin(dist, 1), ReduceMin(dist, 1)
}

// pairwiseSqDistances returns pair [N, N], pair[i, j] = |x_i|^2 - 2 x_i.x_j + |x_j|^2 clamped at
// 0 (x2: the squared norms [1, 1, N]): row i holds the distances from point i (a candidate
// centre) to every point, by the same formula as sqDistances.
func pairwiseSqDistances(x, x2 *Node) *Node {
	n := x.Shape().Dimensions[0]
	norms := Reshape(x2, n)
	return MaxScalar(Add(Sub(InsertAxes(norms, -1), MulScalar(Einsum("id,jd->ij", x, x), 2)), InsertAxes(norms, 0)), 0)
}

// upperOnes returns upper [N, N] float32, upper[i, j] = 1 if i <= j: v @ upper is the inclusive
// cumulative sum of v along N.
func upperOnes(g *Graph, n int) *Node {
	iotaRows := Iota(g, shapes.Make(dtypes.Int32, n, n), 0)
	iotaCols := Iota(g, shapes.Make(dtypes.Int32, n, n), 1)
	return ConvertDType(LessOrEqual(iotaRows, iotaCols), dtypes.Float32)
}

// kmeansPPInit returns the greedy k-means++ initial centroids [R, K, D].
//
// Centres are data points, so the squared distances between all pairs of points are computed once
// ([N, N], one matrix product) and each step reads the rows of its candidates from it; the chosen
// indices are gathered into centroids once at the end. Per step that is a gather where a
// gather, a matrix product and a reduction would be, which matters on an accelerator, where the
// K-1 sequential steps are a chain of small kernels.
func kmeansPPInit(x, x2, uniforms *Node, k, r, t int) *Node {
	g := x.Graph()
	n := x.Shape().Dimensions[0]
	nF := float64(n)

	pair := pairwiseSqDistances(x, x2)
	upper := upperOnes(g, n)

	// First centre: uniform index.
	u0 := Slice(uniforms, AxisRange(), AxisRange(0, 1))           // [R, 1]
	first := ConvertDType(Floor(MulScalar(u0, nF)), dtypes.Int32) // [R, 1]
	first = MinScalar(first, n-1)
	chosen := []*Node{first}                       // each [R, 1]
	closest := Gather(pair, InsertAxes(first, -1)) // [R, 1, N]
	closest = Reshape(closest, r, n)               // [R, N]
	pot := ReduceSum(closest, -1)                  // [R]

	for c := 1; c < k; c++ {
		start := 1 + (c-1)*t
		u := Slice(uniforms, AxisRange(), AxisRange(start, start+t)) // [R, T]
		target := Mul(u, InsertAxes(pot, -1))                        // [R, T]
		cum := MatMul(closest, upper)                                // [R, N]
		// searchsorted(cum, target, side=left) = #{j : cum[j] < target}.
		below := LessThan(InsertAxes(cum, 1), InsertAxes(target, -1)) // [R, T, N]
		cand := ReduceSum(ConvertDType(below, dtypes.Int32), -1)      // [R, T]
		cand = MinScalar(cand, n-1)
		candDist := Gather(pair, InsertAxes(cand, -1))               // [R, T, N]
		newClosest := Min(InsertAxes(closest, 1), candDist)          // [R, T, N]
		pots := ReduceSum(newClosest, -1)                            // [R, T]
		bestTrial := ArgMin(pots, -1)                                // [R]
		sel := OneHot(bestTrial, t, dtypes.Float32)                  // [R, T]
		closest = ReduceSum(Mul(InsertAxes(sel, -1), newClosest), 1) // [R, N]
		pot = ReduceMin(pots, -1)
		best := InsertAxes(ReduceSum(Mul(OneHot(bestTrial, t, dtypes.Int32), cand), -1), -1) // [R, 1]
		chosen = append(chosen, best)
	}
	idx := Concatenate(chosen, 1)         // [R, K]
	return Gather(x, InsertAxes(idx, -1)) // [R, K, D]
}

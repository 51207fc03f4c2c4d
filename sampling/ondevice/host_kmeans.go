package ondevice

import (
	"fmt"
	"math"
	"slices"

	"github.com/oodlab/dos/internal/gemm"
	"github.com/oodlab/dos/sampling"
)

// This file is KMeans on the host: the same algorithm as the graph (kmeans.go), computed in Go
// with the float32 arithmetic of GoMLX's pure-Go backend (SimpleGo v0.26.0) in the same order,
// so that for the same points and uniforms it returns the same initial centres, assignments,
// centroids and inertia, bit for bit, as the graph does on that backend (host_kmeans_test.go
// checks it). Why it exists and when it is used: see the package documentation.
//
// Where the order of the arithmetic matters, and how it is reproduced:
//
//   - Matrix products (the distances, the pairwise distances of k-means++, its cumulative sums
//     and the cluster sums of a Lloyd iteration) are DotGeneral ops, which the pure-Go backend
//     runs with internal/gemm (models/backend). The host computes the distances with the same
//     package (rowDots), so each product is the backend's by construction: gemm's result for an
//     element does not depend on the shape of the product around it. The cumulative sums and
//     the cluster sums, products with a matrix of ones and zeros, follow gemm's order directly
//     (chains of 32 from zero, added in order; a product with 1 adds the value, a product with
//     0 adds nothing): prefixSums and means.
//   - Reductions (squared norms, potentials, inertia) are sums from 0 in index order.
//   - Elementwise operations are single float32 operations; a product followed by a sum in
//     separate graph operations is written float32(a*b) here, which keeps the Go compiler from
//     fusing it into one multiply-add on the architectures where it would.
//
// What makes it fast where the graph is slow on that backend, without changing a result:
//
//   - A Lloyd iteration whose new centroids equal the old ones bit for bit is a fixed point:
//     every later iteration repeats it exactly, so the host stops there instead of running all
//     cfg.Iters (the graph, with static shapes, runs them all).
//   - The distances of a centroid that did not change are not computed again, and the first
//     iteration's distances, from centres that are data points, are rows of the pairwise matrix
//     that k-means++ computed (when both products use the same summation order).
//   - The relocation of empty clusters ranks the points only when a cluster is empty (the graph
//     ranks them in every iteration and uses the ranking only then).

// rowDots sets out[i*n+j] to the product of row i of a ([m, d]) and row j of b ([n, d]), as the
// backend's DotGeneral computes it (gemm's arithmetic, the same for any m and n).
func rowDots(out, a []float32, m int, b []float32, n, d int) {
	gemm.Multiply(1, m, n, d, gemm.RowMajor(a, m, d), gemm.Transposed(b, n, d), out, 1)
}

// sqNorm is ReduceSum(Square(v)): the squares summed from 0 in order.
func sqNorm(v []float32) float32 {
	var s float32
	for _, x := range v {
		s += float32(x * x)
	}
	return s
}

// sum32 is ReduceSum of a vector: summed from 0 in order.
func sum32(v []float32) float32 {
	var s float32
	for _, x := range v {
		s += x
	}
	return s
}

// argMin is ArgMin of a vector as SimpleGo computes it: the first smallest value, or the last
// NaN.
func argMin(v []float32) int {
	best, arg := v[0], 0
	for i := 1; i < len(v); i++ {
		if x := v[i]; x < best || x != x {
			best, arg = x, i
		}
	}
	return arg
}

// reduceMin is ReduceMin of a vector as SimpleGo computes it.
func reduceMin(v []float32) float32 {
	m := float32(math.Inf(1))
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

// distRows fills out[i*n+j] = max((c2[i] - 2 c_i.x_j) + x2[j], 0) for the m centres c ([m, d])
// and the n points x ([n, d] row-major): the squared distances of sqDistances.
func distRows(out, c, c2 []float32, m int, x, x2 []float32, d int) {
	n := len(x2)
	rowDots(out[:m*n], c, m, x, n, d)
	for i := range m {
		row := out[i*n : (i+1)*n]
		for j, dot := range row {
			row[j] = max((c2[i]-float32(dot*2))+x2[j], 0)
		}
	}
}

// HostKMeansResult is the result of HostKMeans, for the best restart: the values of the graph's
// KMeansResult.
type HostKMeansResult struct {
	// Assign [N]: the nearest final centroid of each point (ties: lowest index).
	Assign []int32
	// Centroids [K*D], row-major.
	Centroids []float32
	// Inertia is the sum of squared distances of the points to their centroid.
	Inertia float32
	// EmptyClusters counts the clusters with no member in Assign.
	EmptyClusters int32
	// ChangedIters is the number of Lloyd iterations (of cfg.Iters) in which an assignment
	// changed, the first included.
	ChangedIters int32
}

// HostKMeans is KMeans on the host: x holds n points of dimension d (row-major, n*d values),
// uniforms the [NInit, UniformsPerRestart] values of cfg.HostUniforms. For the same inputs it
// returns what KMeans returns on the pure-Go backend, bit for bit. A configuration or input
// that does not fit is an error.
func HostKMeans(x []float32, n, d int, uniforms []float32, cfg sampling.KMeansConfig) (HostKMeansResult, error) {
	if err := checkPoints(x, n, d, cfg); err != nil {
		return HostKMeansResult{}, err
	}
	per := cfg.UniformsPerRestart()
	if len(uniforms) != cfg.NInit*per {
		return HostKMeansResult{}, fmt.Errorf("ondevice.HostKMeans: %d uniforms, want NInit x UniformsPerRestart = %d x %d", len(uniforms), cfg.NInit, per)
	}
	p := newKMProblem(x, n, d, cfg)
	pair := p.pairwise()
	results := make([]kmRestart, cfg.NInit)
	for r := range results {
		chosen := p.kmeansPP(pair, uniforms[r*per:(r+1)*per], cfg.Trials())
		results[r] = p.lloydFromPoints(chosen, pair)
	}
	return p.best(results), nil
}

// HostKMeansFrom is KMeansFrom on the host: the Lloyd iterations from the initial centroids init
// ([K*D], row-major), one restart.
func HostKMeansFrom(x []float32, n, d int, init []float32, cfg sampling.KMeansConfig) (HostKMeansResult, error) {
	cfg.NInit = 1
	if err := checkPoints(x, n, d, cfg); err != nil {
		return HostKMeansResult{}, err
	}
	if len(init) != cfg.K*d {
		return HostKMeansResult{}, fmt.Errorf("ondevice.HostKMeansFrom: %d initial centroid values, want K x D = %d x %d", len(init), cfg.K, d)
	}
	p := newKMProblem(x, n, d, cfg)
	c := append([]float32(nil), init...)
	return p.best([]kmRestart{p.lloyd(c, nil)}), nil
}

func checkPoints(x []float32, n, d int, cfg sampling.KMeansConfig) error {
	if n < 1 || d < 1 || len(x) != n*d {
		return fmt.Errorf("ondevice: K-means points: %d values for %d points of dimension %d", len(x), n, d)
	}
	return cfg.Validate(n)
}

// kmProblem is the data one K-means shares between its restarts.
type kmProblem struct {
	x    []float32 // [n, d]
	x2   []float32 // [n] squared norms
	n, d int
	cfg  sampling.KMeansConfig
}

func newKMProblem(x []float32, n, d int, cfg sampling.KMeansConfig) *kmProblem {
	p := &kmProblem{x: x, n: n, d: d, cfg: cfg, x2: make([]float32, n)}
	for i := range n {
		p.x2[i] = sqNorm(x[i*d : (i+1)*d])
	}
	return p
}

func (p *kmProblem) row(i int) []float32 { return p.x[i*p.d : (i+1)*p.d] }

// pairwise returns the squared distances between all points ([n*n], row i from point i), as
// kmeansPPInit computes them: max((|x_i|^2 - 2 x_i.x_j) + |x_j|^2, 0).
func (p *kmProblem) pairwise() []float32 {
	pair := make([]float32, p.n*p.n)
	distRows(pair, p.x, p.x2, p.n, p.x, p.x2, p.d)
	return pair
}

// kmeansPP returns the indices of the K greedy k-means++ centres of one restart, from its
// uniforms u, as kmeansPPInit chooses them.
func (p *kmProblem) kmeansPP(pair, u []float32, trials int) []int {
	n, k := p.n, p.cfg.K
	first := int32(math.Floor(float64(u[0] * float32(n))))
	chosen := []int{int(min(first, int32(n-1)))}
	closest := append([]float32(nil), pair[chosen[0]*n:(chosen[0]+1)*n]...)
	pot := sum32(closest)
	cum := make([]float32, n)
	cand := make([]int, trials)
	pots := make([]float32, trials)
	next := make([][]float32, trials)
	for t := range next {
		next[t] = make([]float32, n)
	}
	for c := 1; c < k; c++ {
		prefixSums(cum, closest)
		start := 1 + (c-1)*trials
		for t := range trials {
			target := u[start+t] * pot
			below := 0 // searchsorted(cum, target, side=left), counted as the graph counts it
			for _, v := range cum {
				if v < target {
					below++
				}
			}
			cand[t] = min(below, n-1)
			row := pair[cand[t]*n : (cand[t]+1)*n]
			for j := range n {
				next[t][j] = min(closest[j], row[j])
			}
			pots[t] = sum32(next[t])
		}
		b := argMin(pots)
		copy(closest, next[b])
		pot = reduceMin(pots)
		chosen = append(chosen, cand[b])
	}
	return chosen
}

// prefixSums fills cum with the inclusive cumulative sums of v as the graph computes them, as
// the matrix product v @ upper (upper[i][j] = 1 for i <= j) in gemm's order: the products are
// v[i] or 0, so column j is the sum of the chains of 32 values before it, added in order, plus
// the chain of its own block up to j (each chain from zero; a zero product changes no sum).
func prefixSums(cum, v []float32) {
	var s float32 // the chains of the blocks before the current one, added in order
	for b := 0; b < len(v); b += gemm.ChainLength {
		var t float32
		for j := b; j < min(b+gemm.ChainLength, len(v)); j++ {
			t += v[j]
			if b == 0 {
				cum[j] = t
			} else {
				cum[j] = s + t
			}
		}
		if b == 0 {
			s = t
		} else {
			s += t
		}
	}
}

// kmRestart is the result of one restart.
type kmRestart struct {
	centroids []float32 // [k, d]
	assign    []int32   // [n], nearest final centroid
	minDist   []float32 // [n]
	changed   int32
}

// lloydFromPoints runs the Lloyd iterations from centres that are the data points chosen.
func (p *kmProblem) lloydFromPoints(chosen []int, pair []float32) kmRestart {
	k, d, n := p.cfg.K, p.d, p.n
	c := make([]float32, k*d)
	for i, idx := range chosen {
		copy(c[i*d:(i+1)*d], p.row(idx))
	}
	// A centre that is point i has the squared norm of point i (the same sum), and its distances
	// are row i of the pairwise matrix (the same products, in the same order).
	dist := make([]float32, k*n)
	for i, idx := range chosen {
		copy(dist[i*n:(i+1)*n], pair[idx*n:(idx+1)*n])
	}
	return p.lloyd(c, dist)
}

// lloyd runs cfg.Iters Lloyd iterations from the centroids c ([k, d]; modified) and the final
// assignment, as the graph's lloyd and kmeansFrom do for one restart. dist, if not nil, holds
// the squared distances [k, n] of c's centres to the points.
func (p *kmProblem) lloyd(c, dist []float32) kmRestart {
	k, d, n := p.cfg.K, p.d, p.n
	valid := make([]bool, k) // dist row of centroid i is up to date
	if dist != nil {
		for i := range valid {
			valid[i] = true
		}
	} else {
		dist = make([]float32, k*n)
	}
	stale := make([]int, 0, k)
	rows, rows2, rowDist := make([]float32, k*d), make([]float32, k), make([]float32, k*n)
	update := func() {
		stale, rows, rows2 := stale[:0], rows[:0], rows2[:0]
		for i := range k {
			if !valid[i] {
				ci := c[i*d : (i+1)*d]
				stale = append(stale, i)
				rows = append(rows, ci...)
				rows2 = append(rows2, sqNorm(ci))
				valid[i] = true
			}
		}
		if len(stale) == 0 {
			return
		}
		distRows(rowDist, rows, rows2, len(stale), p.x, p.x2, d)
		for s, i := range stale {
			copy(dist[i*n:(i+1)*n], rowDist[s*n:(s+1)*n])
		}
	}
	assign := make([]int32, n)
	prev := make([]int32, n)
	minDist := make([]float32, n)
	moved := make([]int32, n)
	next := make([]float32, k*d)
	var changed int32
	for it := range p.cfg.Iters {
		update()
		nearestOf(dist, k, n, assign, minDist)
		if it == 0 || !slices.Equal(assign, prev) {
			changed++
		}
		copy(prev, assign)
		target := assign
		if !p.cfg.KeepEmpty {
			copy(moved, assign)
			relocate(moved, minDist, k)
			target = moved
		}
		p.means(next, c, target)
		same := true
		for i := range k {
			if !equalBits(next[i*d:(i+1)*d], c[i*d:(i+1)*d]) {
				same = false
				valid[i] = false
			}
		}
		if same {
			// A fixed point: every later iteration computes these centroids again, and the final
			// assignment is this iteration's.
			return kmRestart{centroids: c, assign: assign, minDist: minDist, changed: changed}
		}
		c, next = next, c
	}
	update()
	nearestOf(dist, k, n, assign, minDist)
	return kmRestart{centroids: c, assign: assign, minDist: minDist, changed: changed}
}

// nearestOf sets assign and minDist to ArgMin and ReduceMin of dist [k, n] over the centres.
func nearestOf(dist []float32, k, n int, assign []int32, minDist []float32) {
	copy(minDist, dist[:n])
	clear(assign)
	for i := 1; i < k; i++ {
		row := dist[i*n : (i+1)*n]
		for j, v := range row {
			if v < minDist[j] || v != v {
				minDist[j], assign[j] = v, int32(i)
			}
		}
	}
}

// relocate applies relocateEmpty to assign: the clusters of k that assign leaves empty take the
// points farthest from their centres (dist), the lowest-numbered empty cluster the farthest
// point (ties: lowest index first), all moves computed from the assignment as given.
func relocate(assign []int32, dist []float32, k int) {
	counts := make([]int, k)
	for _, a := range assign {
		counts[a]++
	}
	var empty []int32
	for c, cnt := range counts {
		if cnt == 0 {
			empty = append(empty, int32(c))
		}
	}
	if len(empty) == 0 {
		return
	}
	n := len(assign)
	// rank[i]: the points j ahead of i (dist[j] > dist[i], or equal and j < i), as the graph
	// counts them; the point of rank s goes to the s-th empty cluster.
	for i := range n {
		rank := 0
		for j := range n {
			if dist[j] > dist[i] || (dist[j] == dist[i] && j < i) {
				rank++
			}
		}
		if rank < len(empty) {
			assign[i] = empty[rank] // the ranks depend on dist only, not on the moves
		}
	}
}

// means sets next to the new centroids for the assignment a: each cluster's sum of its points
// (the graph's one-hot matrix product, in its summation order) divided by max(count, 1); with
// KeepEmpty an empty cluster keeps its centroid from c.
func (p *kmProblem) means(next, c []float32, a []int32) {
	k, d, n := p.cfg.K, p.d, p.n
	clear(next)
	counts := make([]float32, k)
	for _, ai := range a {
		counts[ai]++
	}
	// The product sums over the points in gemm's chains of 32; a point outside the cluster
	// contributes a zero, which changes no sum, so each chain is the sum of the block's members,
	// in order, and the chains are added in order.
	group := make([]float32, gemm.ChainLength*d)
	var touched [gemm.ChainLength]int32
	for from := 0; from < n; from += gemm.ChainLength {
		nt := 0
		for j := from; j < min(from+gemm.ChainLength, n); j++ {
			cl := a[j]
			slot := -1
			for s := range nt {
				if touched[s] == cl {
					slot = s
					break
				}
			}
			xj := p.row(j)
			if slot < 0 {
				slot = nt
				touched[nt] = cl
				nt++
				copy(group[slot*d:(slot+1)*d], xj)
				continue
			}
			gs := group[slot*d : (slot+1)*d]
			for t := range gs {
				gs[t] = gs[t] + xj[t]
			}
		}
		for s := range nt {
			dst := next[int(touched[s])*d : (int(touched[s])+1)*d]
			gs := group[s*d : (s+1)*d]
			for t := range dst {
				dst[t] += gs[t]
			}
		}
	}
	for i := range k {
		row := next[i*d : (i+1)*d]
		if p.cfg.KeepEmpty && counts[i] == 0 {
			copy(row, c[i*d:(i+1)*d])
			continue
		}
		den := max(counts[i], 1)
		for t := range row {
			row[t] /= den
		}
	}
}

// best returns the restart with the lowest inertia (ties: lowest restart), as kmeansFrom.
func (p *kmProblem) best(rs []kmRestart) HostKMeansResult {
	inertia := make([]float32, len(rs))
	for r, res := range rs {
		inertia[r] = sum32(res.minDist)
	}
	b := rs[argMin(inertia)]
	counts := make([]int, p.cfg.K)
	for _, a := range b.assign {
		counts[a]++
	}
	var empty int32
	for _, cnt := range counts {
		if cnt == 0 {
			empty++
		}
	}
	return HostKMeansResult{Assign: b.assign, Centroids: b.centroids, Inertia: reduceMin(inertia),
		EmptyClusters: empty, ChangedIters: b.changed}
}

func equalBits(a, b []float32) bool {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

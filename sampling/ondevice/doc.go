// Package ondevice holds the parts of outlier sampling that run inside a compiled GoMLX graph:
// K-means (KMeans) and DOS's per-iteration selection (SelectDOS), and the registry of graph
// builders of in-graph samplers, through which the training step runs any sampler of package
// sampling whose Scoring is ScoreInGraph.
//
// All randomness is passed in as host-generated U(0,1) tensors (see sampling.KMeansConfig and
// sampling.DOSConfig, HostUniforms), so results are identical on every backend and reproducible
// from the run seed.
//
// # The same selection on the host, for the pure-Go backend
//
// HostKMeans and HostSelectDOS compute the same K-means and DOS selection in Go, and RegisterHost
// holds such a host form for each in-graph sampler that has one (DOS). The training loop uses it
// on the project's pure-Go backend only (experiments/train, hostselect.go); on XLA the DOS
// iteration stays one compiled graph.
//
// Why: the pure-Go backend interprets a graph operation by operation. The selection's graph is
// thousands of small operations (5 restarts run side by side through 63 k-means++ steps and 30
// unrolled Lloyd iterations, and ranks computed as [N, N] comparisons), which XLA fuses into a
// few kernels but that backend executes one at a time, element by element: at the quick grid's
// shape (128 candidates, 64 clusters, 64 features) the selection took about 150 ms, twenty times
// a training step. In Go the same algorithm costs about 1.5 ms, because the host can do what a
// graph with static shapes cannot: stop the Lloyd iterations at their fixed point (the
// remaining ones would repeat it exactly), keep the distances of the centroids that did not
// move, rank the points for the empty-cluster relocation only when a cluster is empty, and
// loop instead of materialising [N, N] comparisons. Making the backend's operations cheaper
// would not remove the per-operation cost of a graph this fragmented, nor the iterations a
// static graph must run after convergence.
//
// Why it gives the same result: the host code does its float32 arithmetic in the order the
// pure-Go backend does it: matrix products with the backend's own kernels (internal/gemm, whose
// result for an element does not depend on the product's shape; the products with matrices of
// ones and zeros in gemm's order of summation), reductions summed in index order, the distances as
// (|c|^2 - 2 c.x) + |x|^2, ties and NaN broken as SimpleGo's ArgMin breaks them, and the
// inputs (the uncertainty DOS ranks by, p_abs by default, and the normalised features) computed by the graph fragment SelectDOS uses
// (DOSHostInputs). So, for the same inputs and uniforms, the initial centres, clusters,
// centroids, inertia, picks and diagnostics are the graph's bit for bit, which
// host_kmeans_test.go checks for products of several shapes, with and without empty clusters
// and for every selection option, and experiments/train checks on whole runs. A change in how
// that backend sums a matrix product would break the equality, and those tests would say so; the official semantics (scikit-learn's float32 K-means) are met
// by both forms alike, neither reproducing scikit-learn's own summation order.
package ondevice

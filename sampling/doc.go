// Package sampling holds the outlier samplers of the experiments, registered by name (random,
// greedy, poem, dos), and the graph building blocks of DOS: K-means inside a compiled GoMLX graph
// (KMeans) and the per-iteration DOS selection (SelectDOS).
//
// All randomness used inside graphs is passed in as host-generated U(0,1) tensors drawn from a
// seeded math/rand/v2 PCG source, so results are identical on every backend and reproducible
// from the run seed.
package sampling

// Package ondevice holds the parts of outlier sampling that run inside a compiled GoMLX graph:
// K-means (KMeans) and DOS's per-iteration selection (SelectDOS), and the registry of graph
// builders of in-graph samplers, through which the training step runs any sampler of package
// sampling whose Scoring is ScoreInGraph.
//
// All randomness is passed in as host-generated U(0,1) tensors (see sampling.KMeansConfig and
// sampling.DOSConfig, HostUniforms), so results are identical on every backend and reproducible
// from the run seed.
package ondevice

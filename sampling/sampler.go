package sampling

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph DSL reads better unqualified.
)

// Scoring says what a sampler needs from the runner before it can pick an epoch's outliers.
type Scoring int

const (
	// ScoreNone: no model outputs needed (random).
	ScoreNone Scoring = iota
	// ScorePool: once per epoch, before training on it, the runner scores the pool rows listed in
	// Request.Pool with the current model in inference mode (test transform) and passes the
	// outputs to Select (greedy, poem).
	ScorePool
	// ScoreInGraph: per training iteration, the selection runs inside the train-step graph on a
	// block of candidates (dos). The sampler also implements GraphSelector; Select returns the
	// epoch's candidate order, consumed in blocks of GraphSelector.DOSConfig().Candidates.
	ScoreInGraph
)

// String returns the name of the scoring mode.
func (s Scoring) String() string {
	switch s {
	case ScoreNone:
		return "none"
	case ScorePool:
		return "pool"
	case ScoreInGraph:
		return "in-graph"
	}
	return fmt.Sprintf("Scoring(%d)", int(s))
}

// Request lists the model outputs a sampler needs for one epoch (ScorePool samplers).
type Request struct {
	// Pool lists the auxiliary-pool rows to score, in this order; nil if nothing is needed.
	Pool []int32
	// PAbs: the sampler needs p_abs = softmax(logits)[:, K] of a model with K+1 outputs.
	PAbs bool
	// Features: the sampler needs the penultimate features.
	Features bool
}

// Scores holds model outputs in the order of the rows requested.
type Scores struct {
	// PAbs has one value per requested row (if requested).
	PAbs []float32
	// Features is row-major [rows, Dim] (if requested).
	Features []float32
	// Dim is the feature dimension.
	Dim int
}

// Sampler picks the auxiliary outliers a training epoch uses. The runner drives every sampler
// the same way, per epoch e (0-based):
//
//	req := s.Request(e)               // what to score (empty for ScoreNone / ScoreInGraph)
//	scores := <score req.Pool if any> // inference mode, test transform
//	idx, err := s.Select(e, scores)   // pool rows, in the order to consume them
//	<train the epoch on idx>          // ScoreInGraph: idx are candidates, see GraphSelector
//	if l, ok := s.(Learner); ok { ... l.Feedback(e, ...) }
//
// Samplers are deterministic functions of Config.Seed, the epoch and the scores given.
type Sampler interface {
	// Name is the registered name.
	Name() string
	// Scoring says how the runner must feed the sampler.
	Scoring() Scoring
	// Request returns what the runner must score before Select(epoch).
	Request(epoch int) Request
	// Select returns the epoch's outliers as pool rows, in the order the runner consumes them.
	Select(epoch int, s Scores) ([]int32, error)
}

// GraphSelector is implemented by ScoreInGraph samplers (dos): the runner cuts the indices
// returned by Select into blocks of DOSConfig().Candidates rows, scores each block inside the
// train-step graph in inference mode, and calls Build there to pick DOSConfig().BatchSize rows.
type GraphSelector interface {
	// DOSConfig returns the selection configuration (block size, OOD batch, K-means).
	DOSConfig() DOSConfig
	// StepUniforms returns the uniforms input of Build for the given epoch and iteration,
	// [DOSConfig().UniformsSize()] float32, derived from the seed alone.
	StepUniforms(epoch, step int) []float32
	// Build adds the selection to the graph (see SelectDOS).
	Build(logits, features, uniforms *Node) DOSSelection
}

// FeedbackRequest lists the rows whose features a Learner needs after an epoch.
type FeedbackRequest struct {
	// ID lists in-distribution training rows (model in inference mode, test transform).
	ID []int32
	// Pool lists auxiliary-pool rows.
	Pool []int32
}

// Learner is implemented by samplers that learn from the model after each epoch (poem): after
// training epoch e the runner computes the features of FeedbackRequest(e) in inference mode and
// calls Feedback(e, idFeatures, poolFeatures).
type Learner interface {
	// FeedbackRequest returns the rows to featurise after training epoch e.
	FeedbackRequest(epoch int) FeedbackRequest
	// Feedback updates the sampler with the features of the requested rows.
	Feedback(epoch int, id, pool Scores) error
}

// Config holds the settings of every sampler; each sampler reads the fields it needs and
// validates them in its constructor.
type Config struct {
	// Seed drives all randomness (run seed).
	Seed uint64
	// PoolSize is the number of outliers in the auxiliary pool (TI-300K: 300,000).
	PoolSize int
	// IDSize is the number of in-distribution training images (poem's posterior data).
	IDSize int
	// OutliersPerEpoch is the number of outliers random, greedy and poem draw per epoch (50,000).
	OutliersPerEpoch int
	// Quantile is greedy's start quantile q in [0, 1) (0 in the DOS runs, 0.125 in NTOM).
	Quantile float64
	// POEM configures poem.
	POEM POEMConfig
	// DOS configures dos.
	DOS DOSConfig
}

// Constructor builds a sampler from a configuration, or says which field is wrong.
type Constructor func(cfg Config) (Sampler, error)

// constructors is the immutable table of registered samplers.
func constructors() map[string]Constructor {
	return map[string]Constructor{
		"random": NewRandom,
		"greedy": NewGreedy,
		"poem":   NewPOEM,
		"dos":    NewDOS,
	}
}

// Names returns the registered sampler names, sorted.
func Names() []string {
	names := make([]string, 0, 4)
	for n := range constructors() {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Lookup returns the constructor of the named sampler, or an error listing the accepted names.
func Lookup(name string) (Constructor, error) {
	c, ok := constructors()[name]
	if !ok {
		return nil, fmt.Errorf("sampling: unknown sampler %q; accepted: %s", name, strings.Join(Names(), ", "))
	}
	return c, nil
}

// New builds the named sampler from cfg.
func New(name string, cfg Config) (Sampler, error) {
	c, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	return c(cfg)
}

// RNG streams, so that each use of the seed draws independent numbers.
const (
	streamRandom uint64 = iota + 1
	streamPOEMWindow
	streamPOEMThompson
	streamPOEMShuffle
	streamPOEMNoise
	streamDOSPermutation
	streamDOSStep
)

// derivedRNG returns a PCG generator for (seed, stream, a, b), independent of any call order.
func derivedRNG(seed, stream uint64, a, b int) *rand.Rand {
	return rand.New(rand.NewPCG(splitMix(seed^splitMix(stream)), splitMix(uint64(a)<<32^uint64(uint32(b))^stream<<56)))
}

// splitMix is the SplitMix64 finaliser, used to decorrelate derived seeds.
func splitMix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// samplePool draws n distinct rows of [0, pool) uniformly, in random order (partial
// Fisher-Yates over a lazily materialised permutation).
func samplePool(rng *rand.Rand, pool, n int) []int32 {
	swapped := make(map[int]int, n)
	at := func(i int) int {
		if v, ok := swapped[i]; ok {
			return v
		}
		return i
	}
	out := make([]int32, n)
	for i := range n {
		j := i + rng.IntN(pool-i)
		vi, vj := at(i), at(j)
		swapped[j] = vi
		swapped[i] = vj
		out[i] = int32(vj)
	}
	return out
}

// checkScores verifies that s holds what req asked for.
func checkScores(name string, req Request, s Scores) error {
	n := len(req.Pool)
	if req.PAbs && len(s.PAbs) != n {
		return fmt.Errorf("sampling: %s: Scores.PAbs has %d values, want one per requested pool row (%d)", name, len(s.PAbs), n)
	}
	if req.Features {
		if s.Dim < 1 {
			return fmt.Errorf("sampling: %s: Scores.Dim must be >= 1, got %d", name, s.Dim)
		}
		if len(s.Features) != n*s.Dim {
			return fmt.Errorf("sampling: %s: Scores.Features has %d values, want %d rows x Dim %d = %d",
				name, len(s.Features), n, s.Dim, n*s.Dim)
		}
	}
	return nil
}

package sampling

import (
	"fmt"
	"math/rand/v2"

	"github.com/oodlab/dos/internal/registry"
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
	// block of candidates (dos). The sampler also implements InGraph, and package ondevice holds
	// its graph; Select returns the epoch's candidate order, consumed in blocks of
	// InGraph.BlockSize().
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
	// Augmented: score each row with the epoch's training augmentation, the very crops and flips
	// the outlier loader will serve if the row is selected (instead of the test transform).
	Augmented bool
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
//	<train the epoch on idx>          // ScoreInGraph: idx are candidates, see InGraph
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

// InGraph is implemented by ScoreInGraph samplers (dos): the runner cuts the indices returned by
// Select into blocks of BlockSize rows, one per training iteration, and the train-step graph
// scores each block in inference mode and selects from it with the graph that package ondevice
// registers under the sampler's name.
type InGraph interface {
	Sampler
	// BlockSize is the number of candidate rows per training iteration.
	BlockSize() int
	// UniformsSize is the length of the uniforms input of the selection graph.
	UniformsSize() int
	// StepUniforms returns the uniforms of (epoch, step), [UniformsSize()] float32 derived from
	// the seed alone.
	StepUniforms(epoch, step int) []float32
	// Diagnostics names the scalars the selection graph returns besides the picks, in order;
	// their per-epoch means go to the run's metrics.
	Diagnostics() []string
	// ScoreClean: the graph scores the candidates without augmentation and trains on the picks
	// augmented, so the runner feeds each block twice (clean, then augmented). Otherwise it
	// feeds the augmented block once, for both.
	ScoreClean() bool
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

// Env is what a sampler's constructor needs of the run besides its options block.
type Env struct {
	// Seed drives all randomness (run seed).
	Seed uint64
	// PoolSize is the number of outliers in the auxiliary pool (TI-300K: 300,000).
	PoolSize int
	// IDSize is the number of in-distribution training images (poem's posterior data).
	IDSize int
	// OutliersPerEpoch is the number of outliers an epoch-level sampler (Spec.PerEpoch) draws per
	// epoch (50,000 in the paper's runs).
	OutliersPerEpoch int
	// OODBatch is the number of outliers per training iteration (64; DOS's number of clusters).
	OODBatch int
	// IDBatch is the ID batch size and DropLast whether the ID loader drops its last partial
	// batch: with IDSize they give the iterations of an epoch.
	IDBatch  int
	DropLast bool
}

// Iters returns the number of training iterations of an epoch (0 when IDBatch is not set).
func (e Env) Iters() int {
	if e.IDBatch < 1 {
		return 0
	}
	n := e.IDSize / e.IDBatch
	if !e.DropLast && e.IDSize%e.IDBatch != 0 {
		n++
	}
	return n
}

// Options is a sampler's options block in a run's configuration (method.<Spec.Block> in YAML):
// a pointer to a struct of plain values (numbers, strings, booleans) with yaml tags, whose
// defaults are the official code's. It is defined next to the sampler that reads it.
type Options interface {
	// Check returns the problems of the block for a run with the given shape; each names its
	// field by its YAML key, relative to the block.
	Check(run RunShape) []Problem
}

// RunShape is what an options block's Check may read of the rest of the run.
type RunShape struct {
	// OODBatch is batch.ood, OutliersPerEpoch method.outliers_per_epoch, MaxPool caps.max_pool
	// (0: no cap).
	OODBatch, OutliersPerEpoch, MaxPool int
	// NoAbsentClass: the network has no absent class (method.outputs K). The zero value is a
	// network with the absent class (K+1), the default of the in-graph sampler.
	NoAbsentClass bool
}

// Problem is one invalid field of an options block.
type Problem struct {
	// Field is the YAML key within the block ("candidates").
	Field string
	// Message says what was expected and what was found.
	Message string
}

// problemf returns a Problem with a formatted message.
func problemf(field, format string, args ...any) Problem {
	return Problem{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Spec is a registered sampler.
type Spec struct {
	// Name is the sampler's name in configurations (method.sampler).
	Name string
	// Block is the YAML key of its options block under method ("" when it has none). It may
	// differ from Name: the greedy sampler's block is ntom.
	Block string
	// PerEpoch: the sampler draws method.outliers_per_epoch outliers once per epoch.
	PerEpoch bool
	// Defaults returns a fresh options block with the official values (nil when Block is "").
	Defaults func() Options
	// New builds the sampler; opts is its block (nil when Block is ""), already checked.
	New func(env Env, opts Options) (Sampler, error)
}

// samplers is the sampler registry, filled by each sampler's file (see package registry).
var samplers = registry.New[Spec]("sampler")

// Register adds a sampler; call it from an init function.
func Register(s Spec) { samplers.Register(s.Name, s) }

// Names returns the registered sampler names, sorted.
func Names() []string { return samplers.Names() }

// Lookup returns the registered sampler called name.
func Lookup(name string) (Spec, error) {
	s, err := samplers.Lookup(name)
	if err != nil {
		return Spec{}, fmt.Errorf("sampling: %w", err)
	}
	return s, nil
}

// Specs returns every registered sampler, by name.
func Specs() []Spec { return samplers.All() }

// New builds the named sampler from env and its options block (nil for samplers without one, or
// to use the defaults).
func New(name string, env Env, opts Options) (Sampler, error) {
	spec, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	if opts == nil && spec.Defaults != nil {
		opts = spec.Defaults()
	}
	return spec.New(env, opts)
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
	streamGreedyWindow
	streamGreedyShuffle
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

// scanWindow returns the n (<= pool) pool rows an epoch scans: the whole pool in row order when
// n is the pool's size, else n rows from an offset drawn from (seed, stream, epoch), wrapping
// around.
func scanWindow(seed, stream uint64, epoch, pool, n int) []int32 {
	offset := 0
	if n < pool {
		offset = derivedRNG(seed, stream, epoch, 0).IntN(pool)
	}
	rows := make([]int32, n)
	for i := range rows {
		rows[i] = int32((offset + i) % pool)
	}
	return rows
}

// SamplePool draws n distinct rows of [0, pool) uniformly, in random order (partial
// Fisher-Yates over a lazily materialised permutation).
func SamplePool(rng *rand.Rand, pool, n int) []int32 {
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

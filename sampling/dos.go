package sampling

import (
	"fmt"
	"slices"
)

func init() {
	Register(Spec{Name: "dos", Block: "dos",
		Defaults: func() Options { return DefaultDOSOptions() },
		New:      func(env Env, o Options) (Sampler, error) { return NewDOS(env, o.(*DOSOptions)) }})
}

// DOSOptions is the DOS sampler's block (method.dos). Per iteration, Candidates outliers are
// scored, their normalised features clustered by k-means into batch.ood clusters, and the least
// uncertain member of each cluster kept.
type DOSOptions struct {
	// Candidates per iteration (official: 384 = 300,000/50,000 x 64).
	Candidates int `yaml:"candidates"`
	// NInit is the number of k-means restarts, best by inertia (official: 5; an older commit
	// used 3).
	NInit int `yaml:"n_init"`
	// Iters is the number of Lloyd iterations per restart, unrolled in the graph. Deviation: the
	// official scikit-learn call allows up to 300 with tol 1e-4 and stops at convergence; a
	// compiled graph has a fixed number of iterations, after convergence they are no-ops, and
	// on DOS's 384 x 342 blocks scikit-learn itself converges within 10 (package ondevice tests).
	Iters int `yaml:"iters"`
	// Trim drops the Trim candidates with the lowest p_absent before clustering (0 in the
	// released code; docs/method.md section 2).
	Trim int `yaml:"trim"`
	// EmptyClusters is what a Lloyd iteration does with a cluster that no point chose:
	// EmptyRelocate gives it the point farthest from its centre, as scikit-learn (official);
	// EmptyKeep leaves its previous centroid.
	EmptyClusters string `yaml:"empty_clusters"`
}

// Values of DOSOptions.EmptyClusters.
const (
	EmptyRelocate = "relocate"
	EmptyKeep     = "keep"
)

// DefaultDOSOptions returns the released code's settings (github.com/lygjwy/DOS, HEAD 47ba80f,
// train_diverse.py): 384 candidates, scikit-learn KMeans(n_init=5) with its empty-cluster
// relocation, no trimming; 30 unrolled Lloyd iterations.
func DefaultDOSOptions() *DOSOptions {
	return &DOSOptions{Candidates: 384, NInit: 5, Iters: DefaultKMeansIters, Trim: 0, EmptyClusters: EmptyRelocate}
}

// Check implements Options.
func (o *DOSOptions) Check(run RunShape) []Problem {
	var ps []Problem
	if o.Candidates < run.OODBatch {
		ps = append(ps, problemf("candidates", "want >= batch.ood %d (one cluster per selected outlier), found %d", run.OODBatch, o.Candidates))
	}
	if o.NInit < 1 {
		ps = append(ps, problemf("n_init", "want >= 1, found %d", o.NInit))
	}
	if o.Iters < 1 {
		ps = append(ps, problemf("iters", "want >= 1, found %d", o.Iters))
	}
	if o.Trim < 0 {
		ps = append(ps, problemf("trim", "want >= 0, found %d", o.Trim))
	}
	if !slices.Contains([]string{EmptyRelocate, EmptyKeep}, o.EmptyClusters) {
		ps = append(ps, problemf("empty_clusters", "want one of %s, %s, found %q", EmptyRelocate, EmptyKeep, o.EmptyClusters))
	}
	if o.Trim > 0 && o.Candidates-o.Trim < run.OODBatch {
		ps = append(ps, problemf("trim", "candidates - trim = %d must stay >= batch.ood %d", o.Candidates-o.Trim, run.OODBatch))
	}
	return ps
}

// Config returns the selection's configuration for an OOD batch (= number of clusters) of
// oodBatch.
func (o *DOSOptions) Config(oodBatch int) DOSConfig {
	c := DefaultDOSConfig(o.Candidates, oodBatch)
	c.Trim = o.Trim
	c.KMeans.NInit = o.NInit
	c.KMeans.Iters = o.Iters
	c.KMeans.KeepEmpty = o.EmptyClusters == EmptyKeep
	return c
}

// Diagnostics of a DOS selection (InGraph.Diagnostics), as the run's metrics record them.
const (
	// DiagInertia is the K-means inertia: the sum of squared distances of the L2-normalised
	// candidate features to their centres.
	DiagInertia = "dos_inertia"
	// DiagEmptyClusters counts the clusters with no member in the final assignment.
	DiagEmptyClusters = "empty_clusters"
	// DiagPAbsPicks is the mean p_abs (softmax probability of the absent class) of the picks.
	DiagPAbsPicks = "pabs_picks"
	// DiagPAbsAll is the mean p_abs of all candidates of the block.
	DiagPAbsAll = "pabs_all"
)

// DOS is the diverse outlier sampler (train_diverse.py in the DOS code). Per epoch the candidates
// are a fresh random permutation of the pool (Select), cut by the runner into blocks of
// BlockSize rows, one block per training iteration; inside the train-step graph each block is
// scored in inference mode and ondevice.SelectDOS picks Config().BatchSize rows.
type DOS struct {
	seed uint64
	pool int
	cfg  DOSConfig
}

// NewDOS builds the dos sampler; it needs Seed, PoolSize and OODBatch, with
// OODBatch <= Candidates - Trim <= PoolSize.
func NewDOS(env Env, o *DOSOptions) (*DOS, error) {
	return NewDOSWithConfig(env.Seed, env.PoolSize, o.Config(env.OODBatch))
}

// NewDOSWithConfig builds the dos sampler from a selection configuration (for the performance
// harness and tests, which set fields that have no option).
func NewDOSWithConfig(seed uint64, poolSize int, cfg DOSConfig) (*DOS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sampling: dos: %w", err)
	}
	if poolSize < cfg.Candidates {
		return nil, fmt.Errorf("sampling: dos: the pool (%d outliers) is smaller than one candidate block (%d)",
			poolSize, cfg.Candidates)
	}
	cfg.KMeans.K = cfg.BatchSize
	return &DOS{seed: seed, pool: poolSize, cfg: cfg}, nil
}

// Name implements Sampler.
func (d *DOS) Name() string { return "dos" }

// Scoring implements Sampler: ScoreInGraph.
func (d *DOS) Scoring() Scoring { return ScoreInGraph }

// Request implements Sampler: nothing to score outside the train step.
func (d *DOS) Request(int) Request { return Request{} }

// Select implements Sampler: the epoch's candidate order, a random permutation of the whole pool
// (official: random.sample(range(pool), pool) per epoch). The runner uses the first
// iterations x BlockSize rows.
func (d *DOS) Select(epoch int, _ Scores) ([]int32, error) {
	return samplePool(derivedRNG(d.seed, streamDOSPermutation, epoch, 0), d.pool, d.pool), nil
}

// Config returns the selection's configuration.
func (d *DOS) Config() DOSConfig { return d.cfg }

// BlockSize implements InGraph: the candidates per iteration.
func (d *DOS) BlockSize() int { return d.cfg.Candidates }

// UniformsSize implements InGraph.
func (d *DOS) UniformsSize() int { return d.cfg.UniformsSize() }

// StepUniforms implements InGraph: the K-means and fill-up uniforms of (epoch, step).
func (d *DOS) StepUniforms(epoch, step int) []float32 {
	return d.cfg.HostUniforms(derivedRNG(d.seed, streamDOSStep, epoch, step))
}

// Diagnostics implements InGraph.
func (d *DOS) Diagnostics() []string {
	return []string{DiagInertia, DiagEmptyClusters, DiagPAbsPicks, DiagPAbsAll}
}

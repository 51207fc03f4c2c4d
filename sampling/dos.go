package sampling

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph DSL reads better unqualified.
)

// DOS is the diverse outlier sampler (train_diverse.py in the DOS code). Per epoch the candidates
// are a fresh random permutation of the pool (Select), cut by the runner into blocks of
// DOSConfig().Candidates rows, one block per training iteration; inside the train-step graph
// each block is scored in inference mode and Build (SelectDOS) picks DOSConfig().BatchSize rows.
type DOS struct {
	seed uint64
	pool int
	cfg  DOSConfig
}

// NewDOS builds the dos sampler; it needs Seed, PoolSize and a valid Config.DOS (in particular
// DOS.BatchSize <= DOS.Candidates - DOS.Trim <= PoolSize).
func NewDOS(cfg Config) (Sampler, error) {
	if err := cfg.DOS.Validate(); err != nil {
		return nil, fmt.Errorf("sampling: dos: Config.%w", err)
	}
	if cfg.PoolSize < cfg.DOS.Candidates {
		return nil, fmt.Errorf("sampling: dos: Config.PoolSize (%d) is smaller than one candidate block (DOS.Candidates %d)",
			cfg.PoolSize, cfg.DOS.Candidates)
	}
	d := cfg.DOS
	d.KMeans.K = d.BatchSize
	return &DOS{seed: cfg.Seed, pool: cfg.PoolSize, cfg: d}, nil
}

// Name implements Sampler.
func (d *DOS) Name() string { return "dos" }

// Scoring implements Sampler: ScoreInGraph.
func (d *DOS) Scoring() Scoring { return ScoreInGraph }

// Request implements Sampler: nothing to score outside the train step.
func (d *DOS) Request(int) Request { return Request{} }

// Select implements Sampler: the epoch's candidate order, a random permutation of the whole pool
// (official: random.sample(range(pool), pool) per epoch). The runner uses the first
// iterations x Candidates rows.
func (d *DOS) Select(epoch int, _ Scores) ([]int32, error) {
	return samplePool(derivedRNG(d.seed, streamDOSPermutation, epoch, 0), d.pool, d.pool), nil
}

// DOSConfig implements GraphSelector.
func (d *DOS) DOSConfig() DOSConfig { return d.cfg }

// StepUniforms implements GraphSelector: the K-means and fill-up uniforms of (epoch, step).
func (d *DOS) StepUniforms(epoch, step int) []float32 {
	return d.cfg.HostUniforms(derivedRNG(d.seed, streamDOSStep, epoch, step))
}

// Build implements GraphSelector: SelectDOS with the sampler's configuration.
func (d *DOS) Build(logits, features, uniforms *Node) DOSSelection {
	return SelectDOS(logits, features, uniforms, d.cfg)
}

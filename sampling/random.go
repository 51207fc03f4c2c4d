package sampling

import "fmt"

// Random draws OutliersPerEpoch distinct pool rows uniformly each epoch, in random order (OE,
// Energy and Share in the DOS authors' runs).
type Random struct {
	seed      uint64
	pool, per int
}

// NewRandom builds the random sampler; it needs Seed, PoolSize and OutliersPerEpoch.
func NewRandom(cfg Config) (Sampler, error) {
	if cfg.PoolSize < 1 {
		return nil, fmt.Errorf("sampling: random: Config.PoolSize must be >= 1, got %d", cfg.PoolSize)
	}
	if cfg.OutliersPerEpoch < 1 || cfg.OutliersPerEpoch > cfg.PoolSize {
		return nil, fmt.Errorf("sampling: random: Config.OutliersPerEpoch must be in [1, PoolSize=%d], got %d",
			cfg.PoolSize, cfg.OutliersPerEpoch)
	}
	return &Random{seed: cfg.Seed, pool: cfg.PoolSize, per: cfg.OutliersPerEpoch}, nil
}

// Name implements Sampler.
func (r *Random) Name() string { return "random" }

// Scoring implements Sampler: ScoreNone.
func (r *Random) Scoring() Scoring { return ScoreNone }

// Request implements Sampler: nothing to score.
func (r *Random) Request(int) Request { return Request{} }

// Select implements Sampler: OutliersPerEpoch distinct rows, a function of (Seed, epoch) only.
func (r *Random) Select(epoch int, _ Scores) ([]int32, error) {
	return samplePool(derivedRNG(r.seed, streamRandom, epoch, 0), r.pool, r.per), nil
}

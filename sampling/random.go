package sampling

import "fmt"

func init() {
	Register(Spec{Name: "random", PerEpoch: true,
		New: func(env Env, _ Options) (Sampler, error) { return NewRandom(env) }})
}

// Random draws OutliersPerEpoch distinct pool rows uniformly each epoch, in random order (OE,
// Energy and Share in the DOS authors' runs).
type Random struct {
	seed      uint64
	pool, per int
}

// NewRandom builds the random sampler; it needs Seed, PoolSize and OutliersPerEpoch.
func NewRandom(env Env) (*Random, error) {
	if env.PoolSize < 1 {
		return nil, fmt.Errorf("sampling: random: the pool must hold >= 1 outlier, got %d", env.PoolSize)
	}
	if env.OutliersPerEpoch < 1 || env.OutliersPerEpoch > env.PoolSize {
		return nil, fmt.Errorf("sampling: random: outliers per epoch must be in [1, pool size %d], got %d",
			env.PoolSize, env.OutliersPerEpoch)
	}
	return &Random{seed: env.Seed, pool: env.PoolSize, per: env.OutliersPerEpoch}, nil
}

// Name implements Sampler.
func (r *Random) Name() string { return "random" }

// Scoring implements Sampler: ScoreNone.
func (r *Random) Scoring() Scoring { return ScoreNone }

// Request implements Sampler: nothing to score.
func (r *Random) Request(int) Request { return Request{} }

// Select implements Sampler: OutliersPerEpoch distinct rows, a function of (Seed, epoch) only.
func (r *Random) Select(epoch int, _ Scores) ([]int32, error) {
	return SamplePool(derivedRNG(r.seed, streamRandom, epoch, 0), r.pool, r.per), nil
}

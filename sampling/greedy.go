package sampling

import (
	"cmp"
	"fmt"
	"slices"
)

// Greedy is NTOM's greedy quantile sampler (train_greedy_epoch.py in the DOS code): each epoch
// the whole pool is scored in inference mode, sorted by p_abs ascending (most ID-like first;
// ties by pool row), and the OutliersPerEpoch rows starting at position floor(PoolSize*Quantile)
// are kept. They are returned in that ascending order, as the official loader (shuffle=False)
// consumes them.
type Greedy struct {
	pool, per, start int
}

// NewGreedy builds the greedy sampler; it needs PoolSize, OutliersPerEpoch and Quantile, with
// floor(PoolSize*Quantile) + OutliersPerEpoch <= PoolSize.
func NewGreedy(cfg Config) (Sampler, error) {
	if cfg.PoolSize < 1 {
		return nil, fmt.Errorf("sampling: greedy: Config.PoolSize must be >= 1, got %d", cfg.PoolSize)
	}
	if cfg.Quantile < 0 || cfg.Quantile >= 1 {
		return nil, fmt.Errorf("sampling: greedy: Config.Quantile must be in [0, 1), got %g", cfg.Quantile)
	}
	start := int(float64(cfg.PoolSize) * cfg.Quantile)
	if cfg.OutliersPerEpoch < 1 || start+cfg.OutliersPerEpoch > cfg.PoolSize {
		return nil, fmt.Errorf("sampling: greedy: Config.OutliersPerEpoch (%d) must be >= 1 and fit in the pool after "+
			"the quantile start (PoolSize %d - floor(PoolSize*Quantile %g) = %d)",
			cfg.OutliersPerEpoch, cfg.PoolSize, cfg.Quantile, cfg.PoolSize-start)
	}
	return &Greedy{pool: cfg.PoolSize, per: cfg.OutliersPerEpoch, start: start}, nil
}

// Name implements Sampler.
func (g *Greedy) Name() string { return "greedy" }

// Scoring implements Sampler: ScorePool.
func (g *Greedy) Scoring() Scoring { return ScorePool }

// Request implements Sampler: p_abs of every pool row, in row order.
func (g *Greedy) Request(int) Request {
	rows := make([]int32, g.pool)
	for i := range rows {
		rows[i] = int32(i)
	}
	return Request{Pool: rows, PAbs: true}
}

// Select implements Sampler.
func (g *Greedy) Select(epoch int, s Scores) ([]int32, error) {
	req := Request{Pool: make([]int32, g.pool), PAbs: true}
	if err := checkScores("greedy", req, s); err != nil {
		return nil, err
	}
	return GreedyQuantile(s.PAbs, g.start, g.per), nil
}

// GreedyQuantile returns the rows of the n smallest-but-start scores: the rows at positions
// [start, start+n) of the stable ascending sort of scores.
func GreedyQuantile(scores []float32, start, n int) []int32 {
	order := make([]int32, len(scores))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(scores[a], scores[b]) })
	return slices.Clone(order[start : start+n])
}

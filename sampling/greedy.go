package sampling

import (
	"cmp"
	"fmt"
	"slices"
)

func init() {
	Register(Spec{Name: "greedy", Block: "ntom", PerEpoch: true,
		Defaults: func() Options { return &GreedyOptions{Quantile: 0} },
		New:      func(env Env, o Options) (Sampler, error) { return NewGreedy(env, o.(*GreedyOptions)) }})
}

// GreedyOptions is the greedy sampler's block (method.ntom): each epoch the whole pool is scored,
// sorted by p_absent ascending, and method.outliers_per_epoch outliers are kept starting at
// quantile Quantile.
type GreedyOptions struct {
	// Quantile is q in [0, 1): 0 in the DOS authors' NTOM runs, 0.125 in the NTOM paper.
	Quantile float64 `yaml:"quantile"`
}

// Check implements Options.
func (o *GreedyOptions) Check(RunShape) []Problem {
	if q := o.Quantile; !(q >= 0 && q < 1) {
		return []Problem{problemf("quantile", "want a quantile in [0, 1), found %v", q)}
	}
	return nil
}

// Greedy is NTOM's greedy quantile sampler (train_greedy_epoch.py in the DOS code): each epoch
// the whole pool is scored in inference mode, sorted by p_abs ascending (most ID-like first;
// ties by pool row), and the OutliersPerEpoch rows starting at position floor(PoolSize*Quantile)
// are kept. They are returned in that ascending order, as the official loader (shuffle=False)
// consumes them.
type Greedy struct {
	pool, per, start int
}

// NewGreedy builds the greedy sampler; it needs PoolSize and OutliersPerEpoch, with
// floor(PoolSize*Quantile) + OutliersPerEpoch <= PoolSize.
func NewGreedy(env Env, o *GreedyOptions) (*Greedy, error) {
	if env.PoolSize < 1 {
		return nil, fmt.Errorf("sampling: greedy: the pool must hold >= 1 outlier, got %d", env.PoolSize)
	}
	if p := o.Check(RunShape{}); p != nil {
		return nil, fmt.Errorf("sampling: greedy: %s: %s", p[0].Field, p[0].Message)
	}
	start := int(float64(env.PoolSize) * o.Quantile)
	if env.OutliersPerEpoch < 1 || start+env.OutliersPerEpoch > env.PoolSize {
		return nil, fmt.Errorf("sampling: greedy: outliers per epoch (%d) must be >= 1 and fit in the pool after "+
			"the quantile start (pool size %d - floor(pool size * quantile %g) = %d)",
			env.OutliersPerEpoch, env.PoolSize, o.Quantile, env.PoolSize-start)
	}
	return &Greedy{pool: env.PoolSize, per: env.OutliersPerEpoch, start: start}, nil
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

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

// GreedyOptions is the greedy sampler's block (method.ntom): each epoch Scan pool rows are
// scored, sorted by p_absent ascending, and method.outliers_per_epoch outliers are kept starting
// at quantile Quantile. The defaults are the DOS authors' NTOM (train_greedy_epoch.py at commit
// 2ca0913); method ntom-original sets those of the NTOM authors' train_ntom.py (ATOM code).
type GreedyOptions struct {
	// Quantile is q in [0, 1): 0 in the DOS authors' NTOM runs, 0.125 in the NTOM paper.
	Quantile float64 `yaml:"quantile"`
	// Scan is the number of pool rows scored per epoch: 0 (the DOS authors') scores the whole
	// pool in row order; n > 0 (train_ntom.py: 400,000) scores a contiguous window of n rows
	// from a random offset, wrapping around, at most the whole pool once.
	Scan int `yaml:"scan"`
	// ScanAugment scores the rows with the epoch's training augmentation and trains on those
	// same crops and flips (train_ntom.py keeps the augmented tensors it scored); false (the
	// DOS authors') scores them with the test transform.
	ScanAugment bool `yaml:"scan_augment"`
	// Shuffle serves the selected outliers in random order (train_ntom.py's loader shuffles);
	// false (the DOS authors') serves them by ascending p_absent.
	Shuffle bool `yaml:"shuffle"`
}

// Check implements Options.
func (o *GreedyOptions) Check(run RunShape) []Problem {
	var ps []Problem
	if q := o.Quantile; !(q >= 0 && q < 1) {
		ps = append(ps, problemf("quantile", "want a quantile in [0, 1), found %v", q))
	}
	if o.Scan < 0 {
		ps = append(ps, problemf("scan", "want >= 0 (0: the whole pool), found %d", o.Scan))
	} else if o.Scan > 0 && o.Scan < run.OutliersPerEpoch {
		ps = append(ps, problemf("scan", "want >= method.outliers_per_epoch %d, found %d", run.OutliersPerEpoch, o.Scan))
	}
	return ps
}

// Greedy is NTOM's greedy quantile sampler (train_greedy_epoch.py in the DOS code): each epoch
// the scanned pool rows are scored in inference mode, sorted by p_abs ascending (most ID-like
// first; ties by scan position), and the OutliersPerEpoch rows starting at position
// floor(scanned*Quantile) are kept. Unless Shuffle, they are returned in that ascending order,
// as the official loader (shuffle=False) consumes them.
type Greedy struct {
	seed                   uint64
	pool, per, start, scan int
	opts                   GreedyOptions
}

// NewGreedy builds the greedy sampler; it needs PoolSize and OutliersPerEpoch, with
// floor(scanned*Quantile) + OutliersPerEpoch <= scanned rows.
func NewGreedy(env Env, o *GreedyOptions) (*Greedy, error) {
	if env.PoolSize < 1 {
		return nil, fmt.Errorf("sampling: greedy: the pool must hold >= 1 outlier, got %d", env.PoolSize)
	}
	if p := o.Check(RunShape{}); p != nil {
		return nil, fmt.Errorf("sampling: greedy: %s: %s", p[0].Field, p[0].Message)
	}
	scan := env.PoolSize
	if o.Scan > 0 {
		scan = min(o.Scan, env.PoolSize)
	}
	start := int(float64(scan) * o.Quantile)
	if env.OutliersPerEpoch < 1 || start+env.OutliersPerEpoch > scan {
		return nil, fmt.Errorf("sampling: greedy: outliers per epoch (%d) must be >= 1 and fit in the %d rows scanned after "+
			"the quantile start (%d - floor(%d * quantile %g) = %d)",
			env.OutliersPerEpoch, scan, scan, scan, o.Quantile, scan-start)
	}
	return &Greedy{seed: env.Seed, pool: env.PoolSize, per: env.OutliersPerEpoch, start: start, scan: scan, opts: *o}, nil
}

// Name implements Sampler.
func (g *Greedy) Name() string { return "greedy" }

// Scoring implements Sampler: ScorePool.
func (g *Greedy) Scoring() Scoring { return ScorePool }

// window returns the pool rows scanned in the epoch: the whole pool in row order, or Scan rows
// from a random offset, wrapping around.
func (g *Greedy) window(epoch int) []int32 {
	return scanWindow(g.seed, streamGreedyWindow, epoch, g.pool, g.scan)
}

// Request implements Sampler: p_abs of the scanned rows, augmented as training will see them
// with ScanAugment.
func (g *Greedy) Request(epoch int) Request {
	return Request{Pool: g.window(epoch), PAbs: true, Augmented: g.opts.ScanAugment}
}

// Select implements Sampler.
func (g *Greedy) Select(epoch int, s Scores) ([]int32, error) {
	rows := g.window(epoch)
	if err := checkScores("greedy", Request{Pool: rows, PAbs: true}, s); err != nil {
		return nil, err
	}
	picked := GreedyQuantile(s.PAbs, g.start, g.per)
	out := make([]int32, len(picked))
	for i, p := range picked {
		out[i] = rows[p]
	}
	if g.opts.Shuffle {
		rng := derivedRNG(g.seed, streamGreedyShuffle, epoch, 0)
		rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	}
	return out, nil
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

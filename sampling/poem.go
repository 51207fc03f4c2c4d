package sampling

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
)

func init() {
	Register(Spec{Name: "poem", Block: "poem", PerEpoch: true,
		Defaults: func() Options { return DefaultPOEMOptions() },
		New:      func(env Env, o Options) (Sampler, error) { return NewPOEM(env, o.(*POEMOptions)) }})
}

// POEMOptions is the POEM sampler's block (method.poem): the hyperparameters of the official POEM
// code (train_poem.py, neural_linear_opt.py in github.com/deeplearning-wisc/poem).
type POEMOptions struct {
	// Candidates is the number of pool rows scanned per epoch (official: 200 batches of 2,000 =
	// 400,000), a contiguous window from a random offset, wrapping around; if it is at least the
	// pool size the whole pool is scanned once (the official loader would rescan, producing
	// duplicates; here each row is scored once).
	Candidates int `yaml:"candidates"`
	// Sigma is the prior variance of the head's weights (--sigma 20).
	Sigma float64 `yaml:"sigma"`
	// SigmaN is the noise variance (--sigma_n 0.5).
	SigmaN float64 `yaml:"sigma_n"`
	// Conf is the regression target magnitude: ID rows regress to -Conf, outliers to +Conf (--conf 3).
	Conf float64 `yaml:"conf"`
	// A0, B0 and LambdaPrior are the official script's inverse-gamma prior options (--a0 6, --b0 6,
	// --lambda_prior 0.25). The script parses them but its posterior and its Thompson sampling
	// never read them, so they are accepted, checked and recorded in the run's configuration
	// (and so its ID), and change nothing.
	A0 float64 `yaml:"a0"`
	// B0: see A0.
	B0 float64 `yaml:"b0"`
	// LambdaPrior: see A0.
	LambdaPrior float64 `yaml:"lambda_prior"`
	// BufferEpochs is the number of most recent epochs of selected outliers (and as many copies of
	// the ID set) the posterior is fitted on (--BUF_SIZE 4).
	BufferEpochs int `yaml:"buffer_epochs"`
}

// poemPriorMeanStd is the standard deviation of the random prior mean of the head's weights
// (0.01 in the official code), before the first posterior fit.
const poemPriorMeanStd = 0.01

// DefaultPOEMOptions returns the official POEM hyperparameters.
func DefaultPOEMOptions() *POEMOptions {
	return &POEMOptions{Candidates: 400_000, Sigma: 20, SigmaN: 0.5, Conf: 3, A0: 6, B0: 6, LambdaPrior: 0.25, BufferEpochs: 4}
}

// Check implements Options.
func (o *POEMOptions) Check(run RunShape) []Problem {
	var ps []Problem
	if o.Candidates < run.OutliersPerEpoch {
		ps = append(ps, problemf("candidates", "want >= method.outliers_per_epoch %d, found %d", run.OutliersPerEpoch, o.Candidates))
	}
	for _, f := range []struct {
		key string
		v   float64
	}{{"sigma", o.Sigma}, {"sigma_n", o.SigmaN}, {"conf", o.Conf}, {"a0", o.A0}, {"b0", o.B0}, {"lambda_prior", o.LambdaPrior}} {
		if !(f.v > 0) {
			ps = append(ps, problemf(f.key, "want > 0, found %v", f.v))
		}
	}
	if o.BufferEpochs < 1 {
		ps = append(ps, problemf("buffer_epochs", "want >= 1, found %d", o.BufferEpochs))
	}
	return ps
}

// POEM is the posterior-sampling outlier miner: a Bayesian linear regression head on the
// penultimate features (no bias) regresses ID rows to -Conf and selected outliers to +Conf (plus
// one noise offset drawn once, as the official code). Each epoch a weight vector w is
// Thompson-sampled from the posterior, the window of Candidates pool rows is scored by w.z, and
// the OutliersPerEpoch rows with the smallest |w.z| (closest to the boundary) are kept, in random
// order (the official loader shuffles).
//
// Posterior as the official code computes it: A = Z'WZ/SigmaN + I/Sigma, mean = A^-1 Z'Wy/SigmaN,
// covariance = Sigma*A^-1 (the code's extra factor Sigma is kept), where the ID rows carry weight
// equal to the number of buffered epochs (the code repeats the ID set that many times). Before the
// first Feedback the prior is mean ~ N(0, PriorMeanStd^2), covariance Sigma*I. POEM is a Learner:
// after each epoch the runner passes the features of the ID set and of the buffered outliers.
type POEM struct {
	seed      uint64
	pool, per int
	idSize    int
	cfg       POEMOptions
	noise     float64

	mu, w []float64       // posterior mean and the last Thompson sample (nil before the first Select)
	chol  []float64       // Cholesky factor of A, row-major lower [dim, dim]; nil: prior
	dim   int             // feature dimension, fixed by the first scores seen
	sel   map[int][]int32 // selections of recent epochs, for the posterior buffer
}

// NewPOEM builds the poem sampler; it needs Seed, PoolSize, IDSize and OutliersPerEpoch.
func NewPOEM(env Env, o *POEMOptions) (*POEM, error) {
	switch {
	case env.PoolSize < 1:
		return nil, fmt.Errorf("sampling: poem: the pool must hold >= 1 outlier, got %d", env.PoolSize)
	case env.IDSize < 1:
		return nil, fmt.Errorf("sampling: poem: the ID training set (the posterior's data) must hold >= 1 image, got %d", env.IDSize)
	case o.Candidates < 1:
		return nil, fmt.Errorf("sampling: poem: candidates must be >= 1, got %d", o.Candidates)
	case env.OutliersPerEpoch < 1 || env.OutliersPerEpoch > min(o.Candidates, env.PoolSize):
		return nil, fmt.Errorf("sampling: poem: outliers per epoch must be in [1, min(candidates, pool size) = %d], got %d",
			min(o.Candidates, env.PoolSize), env.OutliersPerEpoch)
	case !(o.Sigma > 0) || !(o.SigmaN > 0):
		return nil, fmt.Errorf("sampling: poem: sigma and sigma_n must be > 0, got %g and %g", o.Sigma, o.SigmaN)
	case o.BufferEpochs < 1:
		return nil, fmt.Errorf("sampling: poem: buffer_epochs must be >= 1, got %d", o.BufferEpochs)
	case math.IsNaN(o.Conf):
		return nil, fmt.Errorf("sampling: poem: conf must be a number, got %g", o.Conf)
	}
	noise := derivedRNG(env.Seed, streamPOEMNoise, 0, 0).NormFloat64() * math.Sqrt(o.SigmaN)
	return &POEM{seed: env.Seed, pool: env.PoolSize, per: env.OutliersPerEpoch, idSize: env.IDSize, cfg: *o,
		noise: noise, sel: map[int][]int32{}}, nil
}

// Name implements Sampler.
func (p *POEM) Name() string { return "poem" }

// Scoring implements Sampler: ScorePool.
func (p *POEM) Scoring() Scoring { return ScorePool }

// window returns the pool rows scanned in the epoch.
func (p *POEM) window(epoch int) []int32 {
	return scanWindow(p.seed, streamPOEMWindow, epoch, p.pool, min(p.cfg.Candidates, p.pool))
}

// Request implements Sampler: the features of the epoch's window of pool rows.
func (p *POEM) Request(epoch int) Request {
	return Request{Pool: p.window(epoch), Features: true}
}

// Select implements Sampler: Thompson-samples the head and keeps the rows closest to its boundary.
func (p *POEM) Select(epoch int, s Scores) ([]int32, error) {
	rows := p.window(epoch)
	if err := checkScores("poem", Request{Pool: rows, Features: true}, s); err != nil {
		return nil, err
	}
	if err := p.setDim(s.Dim); err != nil {
		return nil, err
	}
	p.w = p.thompson(derivedRNG(p.seed, streamPOEMThompson, epoch, 0))
	picked := BoundarySelect(s.Features, s.Dim, p.w, p.per)
	out := make([]int32, len(picked))
	for i, r := range picked {
		out[i] = rows[r]
	}
	rng := derivedRNG(p.seed, streamPOEMShuffle, epoch, 0)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	p.sel[epoch] = out
	for e := range p.sel {
		if e <= epoch-p.cfg.BufferEpochs {
			delete(p.sel, e)
		}
	}
	return out, nil
}

// setDim fixes the feature dimension and draws the prior mean at the first call.
func (p *POEM) setDim(dim int) error {
	if p.dim == 0 {
		p.dim = dim
		rng := derivedRNG(p.seed, streamPOEMThompson, -1, 0)
		p.mu = make([]float64, dim)
		for i := range p.mu {
			p.mu[i] = rng.NormFloat64() * poemPriorMeanStd
		}
		return nil
	}
	if dim != p.dim {
		return fmt.Errorf("sampling: poem: feature dimension changed from %d to %d", p.dim, dim)
	}
	return nil
}

// thompson draws w ~ N(mu, Sigma*A^-1) (prior: N(mu, Sigma*I)).
func (p *POEM) thompson(rng *rand.Rand) []float64 {
	d := p.dim
	eps := make([]float64, d)
	for i := range eps {
		eps[i] = rng.NormFloat64()
	}
	if p.chol != nil {
		// A = L L'; x = L'^-1 eps has covariance A^-1.
		solveUpperFromLowerT(p.chol, d, eps)
	}
	scale := math.Sqrt(p.cfg.Sigma)
	w := make([]float64, d)
	for i := range w {
		w[i] = p.mu[i] + scale*eps[i]
	}
	return w
}

// BoundarySelect returns the n rows of features ([rows, dim] row-major) with the smallest |w.z|,
// ordered by increasing |w.z| (ties: lower row first).
func BoundarySelect(features []float32, dim int, w []float64, n int) []int32 {
	rows := len(features) / dim
	abs := make([]float64, rows)
	for r := range rows {
		var s float64
		for j, v := range features[r*dim : (r+1)*dim] {
			s += w[j] * float64(v)
		}
		abs[r] = math.Abs(s)
	}
	order := make([]int32, rows)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(abs[a], abs[b]) })
	return slices.Clone(order[:n])
}

// buffered returns the buffered epochs (at most BufferEpochs, ending at epoch) in order.
func (p *POEM) buffered(epoch int) []int {
	var eps []int
	for e := epoch - p.cfg.BufferEpochs + 1; e <= epoch; e++ {
		if _, ok := p.sel[e]; ok {
			eps = append(eps, e)
		}
	}
	return eps
}

// FeedbackRequest implements Learner: all ID rows, and the outliers selected in the buffered
// epochs (up to BufferEpochs, ending at epoch), concatenated in epoch order.
func (p *POEM) FeedbackRequest(epoch int) FeedbackRequest {
	id := make([]int32, p.idSize)
	for i := range id {
		id[i] = int32(i)
	}
	var pool []int32
	for _, e := range p.buffered(epoch) {
		pool = append(pool, p.sel[e]...)
	}
	return FeedbackRequest{ID: id, Pool: pool}
}

// Feedback implements Learner: refits the posterior on the features of FeedbackRequest(epoch).
func (p *POEM) Feedback(epoch int, id, pool Scores) error {
	req := p.FeedbackRequest(epoch)
	eps := len(p.buffered(epoch))
	if eps == 0 {
		return fmt.Errorf("sampling: poem: Feedback for epoch %d without a Select for it", epoch)
	}
	if err := checkScores("poem feedback (ID)", Request{Pool: req.ID, Features: true}, id); err != nil {
		return err
	}
	if err := checkScores("poem feedback (outliers)", Request{Pool: req.Pool, Features: true}, pool); err != nil {
		return err
	}
	if id.Dim != pool.Dim {
		return fmt.Errorf("sampling: poem: feedback ID features have Dim %d, outlier features %d", id.Dim, pool.Dim)
	}
	if err := p.setDim(id.Dim); err != nil {
		return err
	}
	d := p.dim
	a := make([]float64, d*d)
	b := make([]float64, d)
	yID, yOOD := -p.cfg.Conf+p.noise, p.cfg.Conf+p.noise
	accumulateGram(a, b, id.Features, d, float64(eps), yID)
	accumulateGram(a, b, pool.Features, d, 1, yOOD)
	for i := range d {
		for j := range i + 1 {
			a[i*d+j] /= p.cfg.SigmaN
		}
		a[i*d+i] += 1 / p.cfg.Sigma
		b[i] /= p.cfg.SigmaN
	}
	if err := choleskyInPlace(a, d); err != nil {
		return fmt.Errorf("sampling: poem: posterior precision at epoch %d: %w", epoch, err)
	}
	// mu = A^-1 b = L'^-1 L^-1 b.
	solveLower(a, d, b)
	solveUpperFromLowerT(a, d, b)
	p.chol, p.mu = a, b
	return nil
}

// PosteriorMean returns a copy of the current posterior mean of the head (nil before the
// feature dimension is known).
func (p *POEM) PosteriorMean() []float64 { return slices.Clone(p.mu) }

// gramChunks is the fixed number of row chunks of the Gram accumulation: results do not depend
// on the number of CPUs.
const gramChunks = 16

// accumulateGram adds weight * sum_r z_r z_r' to the lower triangle of a ([d, d] row-major) and
// weight * y * sum_r z_r to b, for the rows z_r of feats ([rows, d]), in parallel over a fixed
// number of chunks reduced in chunk order.
func accumulateGram(a, b []float64, feats []float32, d int, weight, y float64) {
	rows := len(feats) / d
	if rows == 0 {
		return
	}
	partA := make([][]float64, gramChunks)
	partB := make([][]float64, gramChunks)
	var wg sync.WaitGroup
	for c := range gramChunks {
		lo, hi := c*rows/gramChunks, (c+1)*rows/gramChunks
		if lo == hi {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pa, pb := make([]float64, d*d), make([]float64, d)
			z := make([]float64, d)
			for r := lo; r < hi; r++ {
				for j, v := range feats[r*d : (r+1)*d] {
					z[j] = float64(v)
				}
				for i := range d {
					zi := z[i]
					pb[i] += zi
					row := pa[i*d : i*d+i+1]
					for j := range row {
						row[j] += zi * z[j]
					}
				}
			}
			partA[c], partB[c] = pa, pb
		}()
	}
	wg.Wait()
	for c := range gramChunks {
		if partA[c] == nil {
			continue
		}
		for i := range d {
			for j := range i + 1 {
				a[i*d+j] += weight * partA[c][i*d+j]
			}
			b[i] += weight * y * partB[c][i]
		}
	}
}

// choleskyInPlace replaces the lower triangle of the symmetric positive-definite a ([d, d],
// lower triangle used) by L with a = L L', and zeroes the strict upper triangle.
func choleskyInPlace(a []float64, d int) error {
	for j := range d {
		s := a[j*d+j]
		for k := range j {
			s -= a[j*d+k] * a[j*d+k]
		}
		if !(s > 0) {
			return fmt.Errorf("matrix not positive definite (pivot %d is %g)", j, s)
		}
		ljj := math.Sqrt(s)
		a[j*d+j] = ljj
		for i := j + 1; i < d; i++ {
			s := a[i*d+j]
			for k := range j {
				s -= a[i*d+k] * a[j*d+k]
			}
			a[i*d+j] = s / ljj
		}
		for k := j + 1; k < d; k++ {
			a[j*d+k] = 0
		}
	}
	return nil
}

// solveLower solves L x = b in place (L lower triangular [d, d]).
func solveLower(l []float64, d int, b []float64) {
	for i := range d {
		s := b[i]
		for k := range i {
			s -= l[i*d+k] * b[k]
		}
		b[i] = s / l[i*d+i]
	}
}

// solveUpperFromLowerT solves L' x = b in place (L lower triangular [d, d]).
func solveUpperFromLowerT(l []float64, d int, b []float64) {
	for i := d - 1; i >= 0; i-- {
		s := b[i]
		for k := i + 1; k < d; k++ {
			s -= l[k*d+i] * b[k]
		}
		b[i] = s / l[i*d+i]
	}
}

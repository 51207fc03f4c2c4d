package sampling

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

func init() {
	Register(Spec{Name: "dos", Block: "dos",
		Defaults: func() Options { return DefaultDOSOptions() },
		New:      func(env Env, o Options) (Sampler, error) { return NewDOS(env, o.(*DOSOptions)) }})
}

// DOSOptions is the DOS sampler's block (method.dos). Per iteration, Candidates outliers are
// scored, their normalised features clustered by k-means into batch.ood clusters, and the least
// uncertain member of each cluster kept. Every field defaults to the released code's value;
// the others are the paper's ablations (grid cifar100-ti300k-ablations) or the dual-batch
// variant's settings.
type DOSOptions struct {
	// Candidates per iteration (official: 384 = 300,000/50,000 x 64; train_diverse.py sets it
	// through --size_candidate_ood, the candidates drawn per epoch). The diverse variant reads
	// an epoch's blocks from one permutation of the pool, so a block larger than the pool over
	// the epoch's iterations ends the epoch early (the ID and candidate loaders are zipped, as
	// in the official code).
	Candidates int `yaml:"candidates"`
	// NInit is the number of k-means restarts, best by inertia (official: 5; an older commit
	// used 3).
	NInit int `yaml:"n_init"`
	// Iters is the number of Lloyd iterations per restart, unrolled in the graph. Deviation: the
	// official scikit-learn call allows up to 300 with tol 1e-4 and stops at convergence; a
	// compiled graph has a fixed number of iterations, after convergence they are no-ops, and
	// on DOS's 384 x 342 blocks scikit-learn itself converges within 10 (package ondevice tests).
	Iters int `yaml:"iters"`
	// Trim drops the Trim least uncertain candidates (lowest p_absent) before clustering (0 in the
	// released code; docs/method.md section 2).
	Trim int `yaml:"trim"`
	// EmptyClusters is what a Lloyd iteration does with a cluster that no point chose:
	// EmptyRelocate gives it the point farthest from its centre, as scikit-learn (official);
	// EmptyKeep leaves its previous centroid.
	EmptyClusters string `yaml:"empty_clusters"`
	// Clusters is the number of clusters k (train_diverse.py --num_cluster); 0 means batch.ood,
	// the official default. With k <= batch.ood each cluster gives its floor(batch.ood/k) best
	// members, with k > batch.ood the first batch.ood clusters give one each; the rest is
	// filled at random.
	Clusters int `yaml:"clusters"`
	// Normalize L2-normalises the candidates' features before clustering (true in the paper's
	// DOS; false in the dual-batch variant).
	Normalize bool `yaml:"normalize"`
	// Pick is how a cluster's members are chosen: PickMinPAbs (the least uncertain by
	// Uncertainty, the smallest p_absent by default: the paper's DOS), PickNearest (nearest the
	// centroid: the dual-batch variant) or PickRandom (uniformly at random: an ablation that
	// keeps the clusters' diversity but ignores uncertainty; no official code does it).
	Pick string `yaml:"pick"`
	// KeepRatio clusters only the least uncertain fraction of each block (lowest p_absent: the
	// dual-batch variant's --ood_ratio, 0.8 in its run scripts); 1 keeps all.
	KeepRatio float64 `yaml:"keep_ratio"`
	// Variant is where the candidates come from: VariantDiverse (train_diverse.py, the paper's
	// text: blocks of a per-epoch permutation of the pool, scored with the training
	// augmentation) or VariantDualBatch (train_dual_batch.py, which the run scripts of commit
	// 2ca0913 call: a fresh random sample of the pool per iteration, scored without
	// augmentation; the picks are trained with it). Method dos-dual sets it with the dual-batch
	// values of Normalize, Pick, KeepRatio and NInit.
	Variant string `yaml:"variant"`
	// Uncertainty is the score that ranks the candidates for Pick min-pabs, Trim and KeepRatio
	// (smallest first): UncertaintyAbsent (p_absent, the paper's DOS; needs method.outputs K+1),
	// or, for a network without the absent class, UncertaintyEnergy (-logsumexp of the logits,
	// the official get_energy_weight: method dos-energy), UncertaintyMaxLogit (-max logit) or
	// UncertaintyMSP (1 - max softmax, get_msp_weight). config.yaml leaves it out at its
	// default (MarshalYAML), so runs that keep p_absent keep the ID they had before it existed.
	Uncertainty string `yaml:"uncertainty"`
}

// dosFields is DOSOptions without its YAML method, to encode the fields.
type dosFields DOSOptions

// MarshalYAML writes the block's fields, leaving out uncertainty where it is the default
// (absent): reading the block back gives the default again, so the run is the same, and a run
// that keeps the default has the ID it had before the option existed.
func (o DOSOptions) MarshalYAML() (any, error) {
	var n yaml.Node
	if err := n.Encode(dosFields(o)); err != nil {
		return nil, err
	}
	if o.Uncertainty == UncertaintyAbsent {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "uncertainty" {
				n.Content = append(n.Content[:i], n.Content[i+2:]...)
				break
			}
		}
	}
	return &n, nil
}

// Values of DOSOptions.Pick and DOSOptions.Variant.
const (
	PickMinPAbs      = "min-pabs"
	PickNearest      = "nearest"
	PickRandom       = "random"
	VariantDiverse   = "diverse"
	VariantDualBatch = "dual-batch"
)

// Values of DOSOptions.EmptyClusters.
const (
	EmptyRelocate = "relocate"
	EmptyKeep     = "keep"
)

// DefaultDOSOptions returns the released code's settings (github.com/lygjwy/DOS, HEAD 47ba80f,
// train_diverse.py): 384 candidates, scikit-learn KMeans(n_init=5) with its empty-cluster
// relocation, no trimming, normalised features, k = batch.ood clusters, the member with the
// smallest p_absent per cluster; 30 unrolled Lloyd iterations.
func DefaultDOSOptions() *DOSOptions {
	return &DOSOptions{Candidates: 384, NInit: 5, Iters: DefaultKMeansIters, Trim: 0, EmptyClusters: EmptyRelocate,
		Clusters: 0, Normalize: true, Pick: PickMinPAbs, KeepRatio: 1, Variant: VariantDiverse, Uncertainty: UncertaintyAbsent}
}

// Check implements Options.
func (o *DOSOptions) Check(run RunShape) []Problem {
	var ps []Problem
	if o.Candidates < run.OODBatch {
		ps = append(ps, problemf("candidates", "want >= batch.ood %d (one cluster per selected outlier), found %d", run.OODBatch, o.Candidates))
	} else if run.MaxPool > 0 && o.Candidates > run.MaxPool {
		ps = append(ps, problemf("candidates", "want <= caps.max_pool %d (a block is drawn from the pool), found %d", run.MaxPool, o.Candidates))
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
	if !slices.Contains([]string{PickMinPAbs, PickNearest, PickRandom}, o.Pick) {
		ps = append(ps, problemf("pick", "want one of %s, %s, %s, found %q", PickMinPAbs, PickNearest, PickRandom, o.Pick))
	}
	switch {
	case !slices.Contains(Uncertainties(), o.Uncertainty):
		ps = append(ps, problemf("uncertainty", "want one of %s, found %q", strings.Join(Uncertainties(), ", "), o.Uncertainty))
	case o.Uncertainty == UncertaintyAbsent && run.NoAbsentClass:
		ps = append(ps, problemf("uncertainty", "%s (p_absent) needs a network with the absent class (method.outputs K+1); "+
			"for K outputs want one of %s, %s, %s", UncertaintyAbsent, UncertaintyEnergy, UncertaintyMaxLogit, UncertaintyMSP))
	case o.Uncertainty != UncertaintyAbsent && !run.NoAbsentClass:
		ps = append(ps, problemf("uncertainty", "%s is computed over all outputs, the absent class's too: with method.outputs K+1 "+
			"want %s (p_absent), found %q", o.Uncertainty, UncertaintyAbsent, o.Uncertainty))
	}
	if !slices.Contains([]string{VariantDiverse, VariantDualBatch}, o.Variant) {
		ps = append(ps, problemf("variant", "want one of %s, %s, found %q", VariantDiverse, VariantDualBatch, o.Variant))
	}
	if !(o.KeepRatio > 0 && o.KeepRatio <= 1) {
		ps = append(ps, problemf("keep_ratio", "want a fraction in (0, 1], found %v", o.KeepRatio))
	}
	if o.Clusters < 0 {
		ps = append(ps, problemf("clusters", "want >= 0 (0: batch.ood), found %d", o.Clusters))
	}
	if len(ps) == 0 && o.Candidates >= 1 && run.OODBatch >= 1 {
		c := o.Config(run.OODBatch)
		left := c.Clustered()
		if left < run.OODBatch {
			ps = append(ps, problemf("trim", "%d candidates are left to cluster after trim %d and keep_ratio %v: want >= batch.ood %d",
				left, o.Trim, o.KeepRatio, run.OODBatch))
		}
		if k := c.K(); k > left {
			ps = append(ps, problemf("clusters", "want <= the %d candidates left to cluster, found %d", left, k))
		}
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
	c.Clusters = o.Clusters
	c.RawFeatures = !o.Normalize
	c.PickNearest = o.Pick == PickNearest
	c.PickRandom = o.Pick == PickRandom
	c.Uncertainty = o.Uncertainty
	if o.KeepRatio < 1 {
		c.Keep = int(float64(o.Candidates) * o.KeepRatio) // int(candidate_ood_size * ood_ratio)
	}
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

// DiagUncertaintyPicks and DiagUncertaintyAll name the mean selection uncertainty of the picks
// and of the whole block for an uncertainty kind (DOSOptions.Uncertainty): DiagPAbsPicks and
// DiagPAbsAll for p_abs, "<kind>_picks" and "<kind>_all" for the others (energy_picks: the
// mean of -logsumexp), so that no plot draws energies on a p_abs axis.
func DiagUncertaintyPicks(kind string) string {
	if kind == UncertaintyAbsent || kind == "" {
		return DiagPAbsPicks
	}
	return kind + "_picks"
}

// DiagUncertaintyAll: see DiagUncertaintyPicks.
func DiagUncertaintyAll(kind string) string {
	if kind == UncertaintyAbsent || kind == "" {
		return DiagPAbsAll
	}
	return kind + "_all"
}

// DOS is the diverse outlier sampler (train_diverse.py in the DOS code). Per epoch the candidates
// are a fresh random permutation of the pool (Select), cut by the runner into blocks of
// BlockSize rows, one block per training iteration; inside the train-step graph each block is
// scored in inference mode and ondevice.SelectDOS picks Config().BatchSize rows.
type DOS struct {
	seed  uint64
	pool  int
	cfg   DOSConfig
	dual  bool // the dual-batch variant
	iters int  // iterations per epoch (dual-batch: one fresh sample each)
}

// NewDOS builds the dos sampler; it needs Seed, PoolSize and OODBatch, with
// OODBatch <= Candidates - Trim <= PoolSize.
func NewDOS(env Env, o *DOSOptions) (*DOS, error) {
	d, err := NewDOSWithConfig(env.Seed, env.PoolSize, o.Config(env.OODBatch))
	if err != nil {
		return nil, err
	}
	if o.Variant == VariantDualBatch {
		if env.Iters() < 1 {
			return nil, fmt.Errorf("sampling: dos: the dual-batch variant needs the ID set's size and batch (got %d and %d)", env.IDSize, env.IDBatch)
		}
		d.dual, d.iters = true, env.Iters()
	}
	return d, nil
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
	return &DOS{seed: seed, pool: poolSize, cfg: cfg}, nil
}

// Name implements Sampler.
func (d *DOS) Name() string { return "dos" }

// Scoring implements Sampler: ScoreInGraph.
func (d *DOS) Scoring() Scoring { return ScoreInGraph }

// Request implements Sampler: nothing to score outside the train step.
func (d *DOS) Request(int) Request { return Request{} }

// Select implements Sampler: the epoch's candidates, consumed BlockSize at a time. The paper's
// variant: a random permutation of the whole pool (official: random.sample(range(pool), pool)
// per epoch), of which the runner uses the first iterations x BlockSize rows. The dual-batch
// variant: per iteration a fresh sample of BlockSize distinct rows (official:
// random.sample(range(pool), candidate_ood_size) per iteration), concatenated.
func (d *DOS) Select(epoch int, _ Scores) ([]int32, error) {
	if !d.dual {
		return SamplePool(derivedRNG(d.seed, streamDOSPermutation, epoch, 0), d.pool, d.pool), nil
	}
	out := make([]int32, 0, d.iters*d.cfg.Candidates)
	for it := range d.iters {
		out = append(out, SamplePool(derivedRNG(d.seed, streamDOSPermutation, epoch, it+1), d.pool, d.cfg.Candidates)...)
	}
	return out, nil
}

// ScoreClean implements InGraph: the dual-batch variant scores its candidates without
// augmentation (official: test_all_set_ood) and trains on the picks augmented.
func (d *DOS) ScoreClean() bool { return d.dual }

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

// Diagnostics implements InGraph: the inertia, the empty clusters, and the mean selection
// uncertainty of the picks and of the block (p_abs by default; DiagUncertaintyPicks).
func (d *DOS) Diagnostics() []string {
	kind := d.cfg.UncertaintyKind()
	return []string{DiagInertia, DiagEmptyClusters, DiagUncertaintyPicks(kind), DiagUncertaintyAll(kind)}
}

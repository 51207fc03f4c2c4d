package sampling

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// KMeansConfig configures the in-graph K-means (see KMeans).
type KMeansConfig struct {
	// K is the number of clusters (>= 1, <= number of points).
	K int
	// NInit is the number of restarts run side by side in one batch dimension; the restart with
	// the lowest inertia is kept. scikit-learn's KMeans(n_init=5) as used by DOS: 5.
	NInit int
	// Iters is the fixed number of Lloyd iterations unrolled in the graph. Once the assignment
	// stops changing an iteration is a no-op (same assignment gives the same centroids), so a
	// restart that converged early keeps its result.
	Iters int
	// KeepEmpty makes a cluster left empty by an assignment step keep its previous centroid. The
	// default (false) relocates it to the point farthest from its centre, as scikit-learn does.
	KeepEmpty bool
	// LocalTrials is the number of candidate centres drawn per k-means++ step; the one that lowers
	// the potential (sum of squared distances) most is kept ("greedy k-means++", as scikit-learn).
	// 0 means scikit-learn's default 2+floor(ln K); 1 is plain k-means++.
	LocalTrials int
}

// DefaultKMeansConfig returns the configuration used for DOS: k clusters, 5 restarts (as the
// official code's n_init=5), greedy k-means++ with scikit-learn's number of local trials, and
// DefaultKMeansIters Lloyd iterations.
func DefaultKMeansConfig(k int) KMeansConfig {
	return KMeansConfig{K: k, NInit: 5, Iters: DefaultKMeansIters}
}

// DefaultKMeansIters is the number of unrolled Lloyd iterations used by DefaultKMeansConfig.
// scikit-learn iterates up to 300 times until the assignment no longer changes (or the centres
// move less than tol); on 384 points in 64 clusters it converges in well under this many
// iterations (see the tests, which report the number of iterations that changed an assignment).
const DefaultKMeansIters = 30

// Trials returns the effective number of local k-means++ trials (LocalTrials, or
// scikit-learn's default 2+floor(ln K) when it is 0).
func (c KMeansConfig) Trials() int {
	if c.LocalTrials > 0 {
		return c.LocalTrials
	}
	return 2 + int(math.Log(float64(c.K)))
}

// Validate checks the configuration for n points; it returns an error naming the field at fault.
func (c KMeansConfig) Validate(n int) error {
	switch {
	case c.K < 1:
		return fmt.Errorf("sampling: KMeansConfig.K must be >= 1, got %d", c.K)
	case c.K > n:
		return fmt.Errorf("sampling: KMeansConfig.K (%d clusters) must not exceed the number of points (%d)", c.K, n)
	case c.NInit < 1:
		return fmt.Errorf("sampling: KMeansConfig.NInit must be >= 1, got %d", c.NInit)
	case c.Iters < 1:
		return fmt.Errorf("sampling: KMeansConfig.Iters must be >= 1, got %d", c.Iters)
	case c.LocalTrials < 0:
		return fmt.Errorf("sampling: KMeansConfig.LocalTrials must be >= 0 (0 = scikit-learn default), got %d", c.LocalTrials)
	}
	return nil
}

// UniformsPerRestart is the number of U(0,1) values one restart consumes: one for the first
// centre, then LocalTrials per further centre.
func (c KMeansConfig) UniformsPerRestart() int {
	return 1 + (c.K-1)*c.Trials()
}

// HostUniforms draws the uniforms input of KMeans from rng, as a row-major
// [NInit, UniformsPerRestart] slice.
func (c KMeansConfig) HostUniforms(rng *rand.Rand) []float32 {
	u := make([]float32, c.NInit*c.UniformsPerRestart())
	fillUniforms(rng, u)
	return u
}

// fillUniforms fills u with U[0,1) float32 values.
func fillUniforms(rng *rand.Rand, u []float32) {
	for i := range u {
		u[i] = rng.Float32()
	}
}

// DOSConfig configures the per-iteration DOS selection (ondevice.SelectDOS).
type DOSConfig struct {
	// Candidates is the number of candidate outliers scored per training iteration (official: 384).
	Candidates int
	// BatchSize is the OOD batch size: the number of outliers selected (official: 64).
	BatchSize int
	// Clusters is the number of K-means clusters k; 0 means BatchSize (the official default,
	// train_diverse.py --num_cluster 64). With k <= BatchSize each cluster gives its
	// floor(BatchSize/k) best members; with k > BatchSize clusters 0..BatchSize-1 give one each;
	// slots left are filled at random, as the official code does.
	Clusters int
	// Trim drops the Trim least uncertain candidates (lowest p_abs, by default) before
	// clustering; they are neither clustered nor used to fill up. 0 (default) is the released
	// code.
	Trim int
	// Keep, when > 0, clusters only the Keep least uncertain candidates (the dual-batch
	// variant's int(candidates * ood_ratio)); the others are neither clustered nor used to fill
	// up. 0 keeps all.
	Keep int
	// RawFeatures clusters the features as they are instead of L2-normalised (the dual-batch
	// variant).
	RawFeatures bool
	// PickNearest picks from each cluster the members nearest its centroid (the dual-batch
	// variant) instead of the least uncertain ones (the paper's DOS).
	PickNearest bool
	// PickRandom picks from each cluster members drawn uniformly at random (an ablation of the
	// pick rule; no official code does it) instead of the least uncertain ones. It draws one more
	// random key per clustered candidate (UniformsSize). At most one of PickNearest and
	// PickRandom is set.
	PickRandom bool
	// Uncertainty is the score by which candidates are ranked for Trim and Keep and picked
	// (smallest first: the least uncertain, most in-distribution-looking outliers): Uncertainty*
	// of this package; "" means UncertaintyAbsent, the paper's p_abs.
	Uncertainty string
	// KMeans configures the clustering; its K is not read: KMeansConfig sets it to K().
	KMeans KMeansConfig
}

// DefaultDOSConfig returns the official configuration for the given candidate block size and OOD
// batch size: no trimming, K-means with k = batchSize and 5 restarts (DefaultKMeansConfig).
func DefaultDOSConfig(candidates, batchSize int) DOSConfig {
	return DOSConfig{Candidates: candidates, BatchSize: batchSize, KMeans: DefaultKMeansConfig(batchSize)}
}

// Values of DOSConfig.Uncertainty and DOSOptions.Uncertainty: what "uncertain" means when DOS
// ranks its candidates. Each is an out-of-distribution weight of the official code's
// scores/utils.py (higher = more OOD-looking), computed over all outputs of the network.
const (
	// UncertaintyAbsent is p_abs = softmax(logits)[K], the probability of the absent class (the
	// paper's DOS; get_abs_weight). It needs a network with the absent class.
	UncertaintyAbsent = "absent"
	// UncertaintyEnergy is the free energy -logsumexp(logits) (get_energy_weight), for a network
	// without the absent class trained with the energy loss.
	UncertaintyEnergy = "energy"
	// UncertaintyMaxLogit is -max(logits), the maximum-logit score negated (no official weight;
	// the paper's method description allows it where there is no absent class).
	UncertaintyMaxLogit = "maxlogit"
	// UncertaintyMSP is 1 - max softmax(logits) (get_msp_weight).
	UncertaintyMSP = "msp"
)

// Uncertainties lists the values of DOSConfig.Uncertainty, the paper's first.
func Uncertainties() []string {
	return []string{UncertaintyAbsent, UncertaintyEnergy, UncertaintyMaxLogit, UncertaintyMSP}
}

// UncertaintyKind is the effective Uncertainty: UncertaintyAbsent when it is "".
func (c DOSConfig) UncertaintyKind() string {
	if c.Uncertainty == "" {
		return UncertaintyAbsent
	}
	return c.Uncertainty
}

// K is the number of clusters.
func (c DOSConfig) K() int {
	if c.Clusters > 0 {
		return c.Clusters
	}
	return c.BatchSize
}

// PerCluster is the number of members picked from each of the first min(K, BatchSize) clusters.
func (c DOSConfig) PerCluster() int {
	if k := c.K(); k <= c.BatchSize {
		return c.BatchSize / k
	}
	return 1
}

// kept is the number of candidates at the low end of the uncertainty order that may be
// clustered.
func (c DOSConfig) kept() int {
	if c.Keep > 0 {
		return c.Keep
	}
	return c.Candidates
}

// Clustered is the number of candidates that are clustered: those whose uncertainty rank
// (ascending) is in [Trim, Keep).
func (c DOSConfig) Clustered() int { return c.kept() - c.Trim }

// KMeansConfig returns the K-means configuration with K = the number of clusters.
func (c DOSConfig) KMeansConfig() KMeansConfig {
	km := c.KMeans
	km.K = c.K()
	return km
}

// Validate checks the configuration; errors name the field at fault.
func (c DOSConfig) Validate() error {
	switch {
	case c.Candidates < 1:
		return fmt.Errorf("sampling: DOSConfig.Candidates must be >= 1, got %d", c.Candidates)
	case c.BatchSize < 1:
		return fmt.Errorf("sampling: DOSConfig.BatchSize (OOD batch) must be >= 1, got %d", c.BatchSize)
	case c.Clusters < 0:
		return fmt.Errorf("sampling: DOSConfig.Clusters must be >= 0 (0 = BatchSize), got %d", c.Clusters)
	case c.Trim < 0:
		return fmt.Errorf("sampling: DOSConfig.Trim must be >= 0, got %d", c.Trim)
	case c.Keep < 0 || c.Keep > c.Candidates:
		return fmt.Errorf("sampling: DOSConfig.Keep must be in [0, Candidates=%d], got %d", c.Candidates, c.Keep)
	case c.BatchSize > c.Clustered():
		return fmt.Errorf("sampling: DOSConfig.BatchSize (%d outliers) exceeds the candidates left to cluster "+
			"(%d of %d: Trim %d, Keep %d)", c.BatchSize, c.Clustered(), c.Candidates, c.Trim, c.Keep)
	case c.K() > c.Clustered():
		return fmt.Errorf("sampling: DOSConfig.Clusters (%d) exceeds the candidates left to cluster (%d)", c.K(), c.Clustered())
	case c.PickNearest && c.PickRandom:
		return fmt.Errorf("sampling: DOSConfig.PickNearest and PickRandom are both set: want one pick rule")
	case !slices.Contains(Uncertainties(), c.UncertaintyKind()):
		return fmt.Errorf("sampling: DOSConfig.Uncertainty must be one of %s, got %q", strings.Join(Uncertainties(), ", "), c.Uncertainty)
	}
	if err := c.KMeansConfig().Validate(c.Clustered()); err != nil {
		return fmt.Errorf("DOSConfig.KMeans: %w", err)
	}
	return nil
}

// UniformsSize is the length of the flat uniforms input of SelectDOS: the K-means uniforms
// ([NInit, UniformsPerRestart] flattened), one random key per clustered candidate for the
// fill-up and, with PickRandom, one more per clustered candidate for the picks. The picks' keys
// come last, so that the other options draw the same uniforms as before they existed.
func (c DOSConfig) UniformsSize() int {
	km := c.KMeansConfig()
	n := km.NInit*km.UniformsPerRestart() + c.Clustered()
	if c.PickRandom {
		n += c.Clustered()
	}
	return n
}

// HostUniforms draws the uniforms input of SelectDOS from rng.
func (c DOSConfig) HostUniforms(rng *rand.Rand) []float32 {
	u := make([]float32, c.UniformsSize())
	fillUniforms(rng, u)
	return u
}

package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph DSL reads better unqualified.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/experiments/metrics"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/sampling"
	"github.com/oodlab/dos/sampling/ondevice"
)

// The outlier probe: the DOS paper's analysis of the outliers a sampler picks (its Figure 3:
// diversity as the Calinski-Harabasz index of their features, uncertainty as their mean
// absent-class probability), for every method that trains on outliers, measured the same way
// for all of them.
//
// At Measures.Probes iterations of each epoch, evenly spaced (iteration floor(j*iters/P) for
// j = 0..P-1; every iteration when P >= iters), just before the train step and with the model
// that step starts from, the probe takes the outliers the step trains on (the iteration's outlier
// batch; for DOS, the picks its selection makes from the iteration's candidate block: a step that
// selects on the host is asked for them, otherwise the selection graph runs alone on the step's
// inputs, which on XLA, compiled apart from the step, may round differently and so differ in a
// rare near-tie) and a uniform sample of the pool drawn from (seed, epoch, iteration), so that the two
// make ProbeCandidates rows (384 by default, the candidate block of DOS and of its authors'
// analysis script). It scores them all in inference mode with the test transform and records
//
//   - diversity: metrics.SelectionDiversity of the penultimate features (not normalised), the
//     candidates being the outliers and the sample: the authors' analysis (train_analysis.py at
//     commit 2ca0913) labels its 384 candidates by one K-means step started at the picks'
//     features and takes calinski_harabasz_score; the sample stands in for DOS's block, which
//     is itself a uniform draw from the pool, so that every method is measured against the same
//     kind of candidates;
//   - uncertainty: the mean over the outliers of the model's own uncertainty (store's
//     Uncertainty kinds: p_abs with the absent class, else 1 - MSP or the free energy after the
//     method's test score), and the same mean over the sample, the level of a sampler that
//     ignores uncertainty.
//
// The epoch's record holds the means over its probes (store.DiagDiversity,
// store.DiagUncertaintyPrefix+kind, store.DiagReferenceUncertaintyPrefix+kind). The probe only
// reads the model: training, its randomness and the run ID are unchanged. It costs
// Probes x ProbeCandidates inference images per epoch, plus for DOS one more selection per probe;
// its time counts in the epoch's seconds.

// Measures are the settings of what the trainer measures besides training, none of which
// changes what a run trains (they are not part of its configuration or ID).
type Measures struct {
	// Probes is the number of probed iterations per epoch; 0 means DefaultProbes, a negative
	// value turns the probe off.
	Probes int
	// ProbeCandidates is the number of rows the probe scores per probed iteration: the outliers
	// trained on plus a uniform sample of the pool; 0 means DefaultProbeCandidates.
	ProbeCandidates int
	// KNNK is the k of the knn score; 0 means DefaultKNNK("") (the executor sets the benchmark's).
	KNNK int
}

// DefaultProbes is the number of probed iterations per epoch.
const DefaultProbes = 4

// DefaultProbeCandidates is the rows per probe: 384, the official DOS candidate block.
const DefaultProbeCandidates = 384

// probeStream separates the probe's random sample from every other use of the seed.
const probeStream uint64 = 0x9b0be

func (t *Trainer) probes() int {
	switch p := t.Settings.Measures.Probes; {
	case p < 0 || t.Sampler == nil:
		return 0
	case p == 0:
		return DefaultProbes
	default:
		return p
	}
}

// probeDue reports whether iteration iter of an epoch of iters iterations is probed: every one
// when Probes is at least iters.
func (t *Trainer) probeDue(iter, iters int) bool {
	p := t.probes()
	if p >= iters {
		return p > 0
	}
	for j := range p {
		if j*iters/p == iter {
			return true
		}
	}
	return false
}

// ProbeProgress is what the probe has accumulated in an epoch, per diagnostic: the sum of its
// values and their number (a mid-epoch checkpoint carries it in EpochProgress).
type ProbeProgress struct {
	Sums   map[string]float64
	Counts map[string]int
}

func (p *ProbeProgress) add(key string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	if p.Sums == nil {
		p.Sums, p.Counts = map[string]float64{}, map[string]int{}
	}
	p.Sums[key] += v
	p.Counts[key]++
}

// clone returns a deep copy (nil for an empty one).
func (p *ProbeProgress) clone() *ProbeProgress {
	if p == nil || len(p.Sums) == 0 {
		return nil
	}
	c := &ProbeProgress{Sums: map[string]float64{}, Counts: map[string]int{}}
	for k, v := range p.Sums {
		c.Sums[k], c.Counts[k] = v, p.Counts[k]
	}
	return c
}

// addTo writes the means into the epoch's record.
func (p *ProbeProgress) addTo(rec *store.EpochRecord) {
	for k, v := range p.Sums {
		if rec.Diagnostics == nil {
			rec.Diagnostics = map[string]float64{}
		}
		rec.Diagnostics[k] = v / float64(p.Counts[k])
	}
}

// probe measures the outliers of iteration iter of ep when it is a probed one (see above) and
// adds the measures to acc. args are the step's arguments (epochFeed.next).
func (t *Trainer) probe(ep *epochRun, iter int, feed *epochFeed, args []any, acc *ProbeProgress) error {
	if feed.ood == nil || !t.probeDue(iter, feed.iters) {
		return nil
	}
	picked, err := t.probePicks(ep, iter, feed, args)
	if err != nil {
		return fmt.Errorf("outlier probe (epoch %d, iteration %d): %w", ep.Epoch+1, iter+1, err)
	}
	if len(picked) == 0 {
		return nil
	}
	rows := append(picked, t.probeSample(ep.Epoch, iter, len(picked))...)
	feats, dim, unc, err := t.probeScore(rows)
	if err != nil {
		return fmt.Errorf("outlier probe (epoch %d, iteration %d): %w", ep.Epoch+1, iter+1, err)
	}
	kind := t.uncertaintyKind()
	n := len(picked)
	acc.add(store.DiagUncertaintyPrefix+kind, mean(unc[:n]))
	if len(rows) > n {
		acc.add(store.DiagReferenceUncertaintyPrefix+kind, mean(unc[n:]))
	}
	sel := make([]int, n)
	for i := range sel {
		sel[i] = i
	}
	// An error means degenerate features (fewer than two distinct clusters, e.g. a network whose
	// features are all zero): the probe has no diversity to record, and says nothing.
	if div, err := metrics.SelectionDiversity(feats, dim, sel); err == nil {
		acc.add(store.DiagDiversity, div)
	}
	return nil
}

// probePicks returns the pool rows the step of iteration iter trains on, in a new slice.
func (t *Trainer) probePicks(ep *epochRun, iter int, feed *epochFeed, args []any) ([]int32, error) {
	if feed.inGraph == nil {
		lo := min(iter*t.OODBatch, len(ep.Rows))
		return slices.Clone(ep.Rows[lo:min(lo+t.OODBatch, len(ep.Rows))]), nil
	}
	bs := feed.inGraph.BlockSize()
	block := ep.Rows[iter*bs : (iter+1)*bs]
	// The step's arguments (epochFeed.next): x, labels, the block it scores (the clean block for a
	// ScoreClean sampler, else the augmented one), ..., uniforms, lr.
	scoreOn, uniforms := args[2], args[len(args)-2]
	var idx []int32
	if s, ok := any(feed.step).(stepSelector); ok {
		// A step that selects on the host: its own selection, the very picks the step makes.
		ti, ok1 := scoreOn.(*tensors.Tensor)
		tu, ok2 := uniforms.(*tensors.Tensor)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("step arguments are %T and %T, want tensors", scoreOn, uniforms)
		}
		var err error
		if idx, _, err = s.Select(ti, tu); err != nil {
			return nil, err
		}
	} else {
		e, err := t.exec("probe-select", t.Model.probeSelect)
		if err != nil {
			return nil, err
		}
		out, err := e.Exec(scoreOn, uniforms)
		if err != nil {
			return nil, err
		}
		idx = tensors.MustCopyFlatData[int32](out[0])
	}
	picked := make([]int32, len(idx))
	for i, j := range idx {
		picked[i] = block[j]
	}
	return picked, nil
}

// stepSelector is a train step that runs an in-graph sampler's selection on the host and can run
// it alone (the pure-Go backend's split DOS step): the probe asks it for the step's picks.
type stepSelector interface {
	Select(scoreOn, uniforms *tensors.Tensor) ([]int32, []float32, error)
}

// probeSelect is the selection of an in-graph sampler alone: the first half of the step graph
// (Model.StepInGraph), returning the picks' indices in the block.
func (m *Model) probeSelect(ctx *context.Context, scoreOn, uniforms *Node) *Node {
	scored := m.forward(ctx, scoreOn, false)
	return ondevice.Build(m.InGraph, scored.Logits, scored.Features, uniforms).Indices
}

// probeSample draws the probe's uniform sample of the pool for (epoch, iter): enough distinct
// rows to make ProbeCandidates with the n outliers (fewer when the pool is smaller).
func (t *Trainer) probeSample(epoch, iter, n int) []int32 {
	size := t.Settings.Measures.ProbeCandidates
	if size <= 0 {
		size = DefaultProbeCandidates
	}
	pool := t.Job.Pool.Len()
	m := min(max(size-n, 0), pool)
	return sampling.SamplePool(rand.New(rand.NewPCG(t.Seed^probeStream, uint64(epoch)<<32|uint64(uint32(iter)))), pool, m)
}

// probeScore returns the penultimate features (row-major, float64) and the uncertainty of the
// pool rows, in inference mode with the test transform.
func (t *Trainer) probeScore(rows []int32) (feats []float64, dim int, unc []float64, err error) {
	loader := data.ScoringPass(subset{t.Job.Pool, rows}, nil, t.evalBatch(), t.Job.Norm)
	kind := t.uncertaintyKind()
	k := t.Model.Outputs
	err = t.forEachLoaderBatch("infer", t.Model.Infer, loader, 0, func(out []*tensors.Tensor, n int) {
		logits := tensors.MustCopyFlatData[float32](out[0])
		f := tensors.MustCopyFlatData[float32](out[1])
		dim = out[1].Shape().Dimensions[1]
		for i := range n {
			unc = append(unc, uncertainty(kind, logits[i*k:(i+1)*k], t.Model.Classes))
			for _, v := range f[i*dim : (i+1)*dim] {
				feats = append(feats, float64(v))
			}
		}
	})
	return feats, dim, unc, err
}

// uncertaintyKind is the model's own uncertainty: p_abs with the absent class, else the one of
// the method's test score.
func (t *Trainer) uncertaintyKind() string {
	if t.Model.Outputs == t.Model.Classes+1 {
		return store.UncertaintyPAbs
	}
	switch t.Model.Score {
	case "energy":
		return store.UncertaintyEnergy
	case "maxlogit":
		return store.UncertaintyMaxLogit
	}
	return store.UncertaintyMSP
}

// uncertainty computes one uncertainty kind from a row of logits (numClasses ID logits, then the
// absent one if any), in float64.
func uncertainty(kind string, row []float32, numClasses int) float64 {
	if kind == store.UncertaintyPAbs {
		m := float64(slices.Max(row))
		sum := 0.0
		for _, v := range row {
			sum += math.Exp(float64(v) - m)
		}
		return math.Exp(float64(row[len(row)-1])-m) / sum
	}
	id := row[:numClasses]
	m := float64(slices.Max(id))
	sum := 0.0
	for _, v := range id {
		sum += math.Exp(float64(v) - m)
	}
	switch kind {
	case store.UncertaintyEnergy:
		return -(m + math.Log(sum))
	case store.UncertaintyMaxLogit:
		return -m
	}
	return 1 - 1/sum
}

package train

import (
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph DSL reads better unqualified.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/experiments/metrics"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/models/objectives"
)

// Post-hoc scores: the final evaluation scores every test image with every post-hoc score that
// applies to the trained model, in the same inference pass as its method's own score (which
// stays the headline: Outcome.PerSet, results.json's sets):
//
//   - msp, maxlogit and energy over the K ID logits, and absent for a net with the absent
//     class (objectives.PostHocScores);
//   - knn (objectives.ScoreKNN; Sun et al., ICML 2022): minus the squared distance from the
//     image's L2-normalised penultimate features to the k-th nearest of the ID training set's
//     (all its images, test transform, inference mode). k is Measures.KNNK: the executor sets
//     Sun et al.'s value for the benchmark (DefaultKNNK), at most the training-set size.
//
// Their metrics go to Outcome.Scores (results.json's scores), their score files to
// scores/<score>/<set>.npy. The distances are computed in a graph, on the device, against the
// training features held there; the k-th smallest of each row is picked on the host.

// DefaultKNNK is the k of the knn score for an ID set (a benchmark.id, class selections
// allowed): Sun et al.'s 50 for CIFAR-10, 200 for CIFAR-100 and 1,000 for ImageNet-1K (with its
// whole training set); 50, their CIFAR-10 value and their code's, for any other set.
func DefaultKNNK(idSet string) int {
	name, _, _ := strings.Cut(idSet, "@")
	switch name {
	case "cifar100":
		return objectives.KNNKCIFAR100
	case "imagenet", "imagenet1k":
		return objectives.KNNKImageNet
	}
	return objectives.KNNKCIFAR10
}

// idTestSet names the ID test set's score file, beside the OOD test sets'.
const idTestSet = "id-test"

// postHoc collects the post-hoc scores of the final evaluation.
type postHoc struct {
	t *Trainer
	// names are the logit scores, in the order of postHocGraph's outputs; own is the index of
	// the method's score among them.
	names []string
	own   int
	// k is the knn's k; train the normalised training features [N, D] (kept on the device by
	// GoMLX after the first use), nTrain their number.
	k      int
	train  *tensors.Tensor
	nTrain int
	// scores[score][set] are the scores of a set ("id-test" or an OOD test set).
	scores map[string]map[string][]float64
	start  time.Time
}

// newPostHoc prepares the post-hoc scores: it computes the training set's features.
func (t *Trainer) newPostHoc() (*postHoc, error) {
	m := t.Model
	p := &postHoc{t: t, names: objectives.PostHocScores(m.Outputs, m.Classes), scores: map[string]map[string][]float64{}, start: time.Now()}
	p.own = slices.Index(p.names, m.Score)
	if p.own < 0 {
		return nil, fmt.Errorf("the method's score %q is not a post-hoc score of a net with %d outputs for %d classes (%s)",
			m.Score, m.Outputs, m.Classes, strings.Join(p.names, ", "))
	}
	var feats []float32
	dim := 0
	err := t.forEachBatch("posthoc", m.postHocGraph, t.Job.Train, func(out []*tensors.Tensor, n int) {
		dim = out[1].Shape().Dimensions[1]
		tensors.MustConstFlatData(out[1], func(f []float32) { feats = append(feats, f[:n*dim]...) })
	})
	if err != nil {
		return nil, fmt.Errorf("features of the ID training set: %w", err)
	}
	p.nTrain = t.Job.Train.N
	p.train = tensors.FromFlatDataAndDimensions(feats, p.nTrain, dim)
	p.k = t.Settings.Measures.KNNK
	if p.k <= 0 {
		p.k = DefaultKNNK("")
	}
	if p.k > p.nTrain {
		t.logf("knn score: k = %d is more than the %d ID training images: using k = %d", p.k, p.nTrain, p.nTrain)
		p.k = p.nTrain
	}
	return p, nil
}

// postHocGraph returns, in inference mode, the predicted class, the L2-normalised penultimate
// features and every logit score of PostHocScores, in that order.
func (m *Model) postHocGraph(ctx *context.Context, x *Node) []*Node {
	logits, features := m.Infer(ctx, x)
	out := []*Node{objectives.Predictions(logits, m.Classes), objectives.NormalizeFeatures(features)}
	for _, name := range objectives.PostHocScores(m.Outputs, m.Classes) {
		// The names come from objectives itself: an unknown one is a bug.
		fn, err := objectives.ScoreByName(name)
		if err != nil {
			panic(err)
		}
		out = append(out, fn(logits, m.Classes))
	}
	return out
}

// knnDistances is the graph of the knn score's squared distances [B, N] between normalised test
// features [B, D] and normalised training features [N, D].
func knnDistances(_ *context.Context, test, train *Node) *Node {
	return objectives.SquaredDistances(test, train)
}

// scoreSet scores src (the set called set) with every post-hoc score and returns the method's
// own score and the predicted classes, as Trainer.scoreSet does.
func (p *postHoc) scoreSet(set string, src data.Source) (own []float64, preds []int32, err error) {
	t := p.t
	logit := make([][]float64, len(p.names))
	var knn []float64
	var knnErr error
	err = t.forEachBatch("posthoc", t.Model.postHocGraph, src, func(out []*tensors.Tensor, n int) {
		preds = append(preds, tensors.MustCopyFlatData[int32](out[0])[:n]...)
		for j := range p.names {
			for _, v := range tensors.MustCopyFlatData[float32](out[2+j])[:n] {
				logit[j] = append(logit[j], float64(v))
			}
		}
		if knnErr != nil {
			return
		}
		s, err := p.knnBatch(out[1], n)
		if err != nil {
			knnErr = err
			return
		}
		knn = append(knn, s...)
	})
	if err == nil {
		err = knnErr
	}
	if err != nil {
		return nil, nil, err
	}
	for j, name := range p.names {
		p.put(name, set, logit[j])
	}
	p.put(objectives.ScoreKNN, set, knn)
	return logit[p.own], preds, nil
}

func (p *postHoc) put(score, set string, s []float64) {
	if p.scores[score] == nil {
		p.scores[score] = map[string][]float64{}
	}
	p.scores[score][set] = s
}

// knnBatch returns the knn scores of the first n rows of a batch of normalised features.
func (p *postHoc) knnBatch(feats *tensors.Tensor, n int) ([]float64, error) {
	e, err := p.t.exec("knn", knnDistances)
	if err != nil {
		return nil, err
	}
	out, err := e.Exec(feats, p.train)
	if err != nil {
		return nil, err
	}
	defer func() { _ = out[0].FinalizeAll() }()
	scores := make([]float64, n)
	// The distances [B, N] are read in place, not copied (with ImageNet's N = 1.28M a batch's
	// copy was a gigabyte): KNNScore reorders its row, so each goroutine copies one row at a time
	// into a buffer of its own. One row per goroutine at a time: the k-th smallest of N distances
	// is linear in N.
	err = tensors.ConstFlatData(out[0], func(dist []float32) {
		var wg sync.WaitGroup
		workers := max(1, min(runtime.GOMAXPROCS(0), n))
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				row := make([]float32, p.nTrain)
				for i := w; i < n; i += workers {
					copy(row, dist[i*p.nTrain:(i+1)*p.nTrain])
					scores[i] = objectives.KNNScore(row, p.k)
				}
			}()
		}
		wg.Wait()
	})
	if err != nil {
		return nil, err
	}
	return scores, nil
}

// finish computes the metrics of every score on every OOD test set into out and writes the score
// files.
func (p *postHoc) finish(out *Outcome) error {
	t := p.t
	out.Score, out.KNNK, out.KNNTrain = t.Model.Score, p.k, p.nTrain
	out.Scores = map[string]map[string]metrics.Result{}
	dir := t.Settings.Dir.File(store.ScoresDir)
	for _, name := range append(slices.Clone(p.names), objectives.ScoreKNN) {
		byset := p.scores[name]
		out.Scores[name] = map[string]metrics.Result{}
		if err := writeScores(filepath.Join(dir, name), idTestSet, byset[idTestSet]); err != nil {
			return err
		}
		for _, ts := range t.Job.Tests {
			r, err := metrics.Compute(byset[idTestSet], byset[ts.Name])
			if err != nil {
				return fmt.Errorf("metrics of score %s on test set %s: %w", name, ts.Name, err)
			}
			out.Scores[name][ts.Name] = r
			if err := writeScores(filepath.Join(dir, name), ts.Name, byset[ts.Name]); err != nil {
				return err
			}
		}
	}
	t.logf("final evaluation with the post-hoc scores %s (knn: k = %d, %d ID training images): %.1fs",
		strings.Join(append(slices.Clone(p.names), objectives.ScoreKNN), ", "), p.k, p.nTrain, time.Since(p.start).Seconds())
	return nil
}

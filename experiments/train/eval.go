package train

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/experiments/metrics"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/internal/atomicfile"
	"github.com/oodlab/dos/sampling"
)

// Inference: every pass of the model in inference mode (scoring a pool for a sampler, the
// features a learning sampler asks for, the test sets) goes through forEachBatch.

// DiagAUROCPrefix starts the diagnostic of an OOD test set's AUROC in an epoch record
// ("auroc/svhn").
const DiagAUROCPrefix = "auroc/"

// defaultEvalBatch is the batch size of inference passes unless Settings.EvalBatch says otherwise.
const defaultEvalBatch = 256

// evalBatch is the batch size of inference passes.
func (t *Trainer) evalBatch() int {
	if t.Settings.EvalBatch > 0 {
		return t.Settings.EvalBatch
	}
	return defaultEvalBatch
}

// forEachBatch runs the graph fn (compiled once under name) over src with the test transform, in
// fixed-size batches (the last one padded, so that one executable serves all), and calls visit
// with the outputs and the number of real rows in the batch.
func (t *Trainer) forEachBatch(name string, fn any, src data.Source, visit func(out []*tensors.Tensor, n int)) error {
	return t.forEachLoaderBatch(name, fn, data.ScoringPass(src, nil, t.evalBatch(), t.Job.Norm), 0, visit)
}

// forEachLoaderBatch is forEachBatch over the batches of loader in epoch (whose batch size must
// be evalBatch).
func (t *Trainer) forEachLoaderBatch(name string, fn any, loader *data.Loader, epoch int, visit func(out []*tensors.Tensor, n int)) error {
	batch := loader.BatchSize
	e, err := t.exec(name, fn)
	if err != nil {
		return err
	}
	for it := range loader.ItersPerEpoch() {
		b, err := loader.Batch(epoch, it)
		if err != nil {
			return err
		}
		x := b.X
		if b.N < batch {
			x = make([]float32, batch*b.H*b.W*b.C)
			copy(x, b.X)
		}
		out, err := e.Exec(tensors.FromFlatDataAndDimensions(x, batch, b.H, b.W, b.C))
		if err != nil {
			return err
		}
		visit(out, b.N)
	}
	return nil
}

// scorePool returns what a sampler asks to know of the pool rows of req before epoch: their p_abs
// and features in inference mode, with the test transform, or with req.Augmented the training
// augmentation the outlier loader will apply to them in epoch.
func (t *Trainer) scorePool(epoch int, req sampling.Request) (sampling.Scores, error) {
	loader := &data.Loader{Src: t.Job.Pool, BatchSize: t.evalBatch(), Order: listOrder{req.Pool}, Norm: t.Job.Norm}
	if req.Augmented {
		loader.Aug, loader.Seed, loader.Stream = t.Job.Aug, t.Seed, oodStream
	}
	return t.scoreLoader(loader, epoch, req.PAbs, req.Features)
}

// scoreRows runs the model in inference mode over src (test transform) and returns what a
// sampler asked for: p_abs (of a K+1-output model) and the penultimate features.
func (t *Trainer) scoreRows(src data.Source, pabs, features bool) (sampling.Scores, error) {
	return t.scoreLoader(data.ScoringPass(src, nil, t.evalBatch(), t.Job.Norm), 0, pabs, features)
}

// scoreLoader is scoreRows over the batches of a loader in epoch.
func (t *Trainer) scoreLoader(loader *data.Loader, epoch int, pabs, features bool) (sampling.Scores, error) {
	var s sampling.Scores
	err := t.forEachLoaderBatch("infer", t.Model.Infer, loader, epoch, func(out []*tensors.Tensor, n int) {
		if pabs {
			logits := tensors.MustCopyFlatData[float32](out[0])
			k := t.Model.Outputs
			for i := range n {
				s.PAbs = append(s.PAbs, pAbs(logits[i*k:(i+1)*k]))
			}
		}
		if features {
			s.Dim = out[1].Shape().Dimensions[1]
			tensors.MustConstFlatData(out[1], func(f []float32) { s.Features = append(s.Features, f[:n*s.Dim]...) })
		}
	})
	return s, err
}

// pAbs is softmax(row)[last], computed stably on the host.
func pAbs(row []float32) float32 {
	m := row[0]
	for _, v := range row {
		m = max(m, v)
	}
	sum := 0.0
	for _, v := range row {
		sum += math.Exp(float64(v - m))
	}
	return float32(math.Exp(float64(row[len(row)-1]-m)) / sum)
}

// scoreSet returns the test score and the predicted class of every image of src.
func (t *Trainer) scoreSet(src data.Source) (scores []float64, preds []int32, err error) {
	err = t.forEachBatch("score", t.Model.ScoreGraph, src, func(out []*tensors.Tensor, n int) {
		s := tensors.MustCopyFlatData[float32](out[0])
		p := tensors.MustCopyFlatData[int32](out[1])
		for i := range n {
			scores = append(scores, float64(s[i]))
			preds = append(preds, p[i])
		}
	})
	return scores, preds, err
}

// evaluate scores the ID test set and every OOD test set into rec; with final, it also writes
// the score files and returns the outcome.
func (t *Trainer) evaluate(rec *store.EpochRecord, final bool) (*Outcome, error) {
	scoreSet := func(_ string, src data.Source) ([]float64, []int32, error) { return t.scoreSet(src) }
	var post *postHoc
	if final {
		// Every post-hoc score in the same pass as the method's own (posthoc.go).
		var err error
		if post, err = t.newPostHoc(); err != nil {
			return nil, err
		}
		scoreSet = post.scoreSet
	}
	idScores, preds, err := scoreSet(idTestSet, t.Job.Test)
	if err != nil {
		return nil, fmt.Errorf("scoring the ID test set: %w", err)
	}
	acc, err := metrics.Accuracy(preds, t.Job.Test.Labels)
	if err != nil {
		return nil, err
	}
	rec.TestAcc = &acc
	rec.FPR95 = map[string]float64{}
	if rec.Diagnostics == nil {
		rec.Diagnostics = map[string]float64{}
	}
	out := &Outcome{IDAccuracy: acc, PerSet: map[string]metrics.Result{}}
	if final {
		if err := writeScores(t.Settings.Dir.File(store.ScoresDir), idTestSet, idScores); err != nil {
			return nil, err
		}
	}
	for _, ts := range t.Job.Tests {
		s, _, err := scoreSet(ts.Name, ts.Images)
		if err != nil {
			return nil, fmt.Errorf("scoring test set %s: %w", ts.Name, err)
		}
		r, err := metrics.Compute(idScores, s)
		if err != nil {
			return nil, fmt.Errorf("metrics of test set %s: %w", ts.Name, err)
		}
		out.PerSet[ts.Name] = r
		rec.FPR95[ts.Name] = r.FPR95
		rec.Diagnostics[DiagAUROCPrefix+ts.Name] = r.AUROC
		if ws := r.Warnings.List(); ws != nil {
			if rec.Warnings == nil {
				rec.Warnings = map[string][]string{}
			}
			rec.Warnings[ts.Name] = ws
			for _, w := range ws {
				t.logf("warning: epoch %d, test set %s: degenerate scores: %s", rec.Epoch, ts.Name, w)
			}
		}
		if final {
			if err := writeScores(t.Settings.Dir.File(store.ScoresDir), ts.Name, s); err != nil {
				return nil, err
			}
		}
	}
	if post != nil {
		if err := post.finish(out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// writeScores writes a score file, <dir>/<name>.npy, atomically.
func writeScores(dir, name string, scores []float64) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := data.EncodeNPY(&buf, []int{len(scores)}, scores, 1); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, name+".npy"), buf.Bytes())
}

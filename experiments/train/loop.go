package train

import (
	"bytes"
	stdctx "context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/benchmarks/metrics"
	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/models/optim"
	"github.com/oodlab/dos/sampling"
)

// ErrInterrupted is returned when training stopped because its context was cancelled, after
// a checkpoint of the position reached was written.
var ErrInterrupted = errors.New("training interrupted; checkpoint written, the run resumes from it")

// Settings are the training-loop settings that do not change what a run computes.
type Settings struct {
	// Dir is the run's directory: checkpoint, metrics.jsonl and score files go there.
	Dir *store.RunDir
	// CheckpointEvery writes a mid-epoch checkpoint every so many iterations (0: only at the
	// end of each epoch and when interrupted).
	CheckpointEvery int
	// EvalEvery evaluates test accuracy and OOD metrics every so many epochs (0: only at the end).
	EvalEvery int
	// Log receives one line per epoch and notices; Progress the live progress bar (may be nil).
	Log, Progress io.Writer
	// EvalBatch is the batch size of scoring passes (default 256).
	EvalBatch int
	// AfterStep, if set, is called after every training iteration (tests use it to slow a run
	// down so that it can be killed mid-epoch).
	AfterStep func(epoch, iter int)
}

// Outcome is what a finished training run measured.
type Outcome struct {
	IDAccuracy float64                   `json:"id_accuracy"`
	PerSet     map[string]metrics.Result `json:"per_set"`
	Epochs     int                       `json:"epochs"`
	Seconds    float64                   `json:"train_seconds"`
	// EvalSeconds is the time of the final evaluation.
	EvalSeconds float64 `json:"eval_seconds"`
}

// Trainer runs one configured training job.
type Trainer struct {
	Backend  backends.Backend
	Model    *Model
	Job      *Job
	Sampler  sampling.Sampler // nil for methods without outliers
	Schedule optim.Schedule
	Epochs   int
	IDBatch  int
	OODBatch int
	Seed     uint64
	Settings Settings

	ctx   *context.Context
	execs map[string]*context.Exec
}

func (t *Trainer) logf(format string, args ...any) {
	if t.Settings.Log != nil {
		fmt.Fprintf(t.Settings.Log, format+"\n", args...)
	}
}

func (t *Trainer) exec(name string, fn any) (*context.Exec, error) {
	if e, ok := t.execs[name]; ok {
		return e, nil
	}
	e, err := context.NewExecAny(t.Backend, t.ctx, fn)
	if err != nil {
		return nil, err
	}
	t.execs[name] = e
	return e, nil
}

// Run trains from the checkpoint (if any) to the end and evaluates. It returns ErrInterrupted
// when cancelled, after writing a checkpoint.
func (t *Trainer) Run(cancel stdctx.Context) (*Outcome, error) {
	if err := t.Model.check(); err != nil {
		return nil, err
	}
	t.ctx = context.New()
	t.ctx.SetParam(context.ParamInitialSeed, int64(t.Seed))
	t.execs = map[string]*context.Exec{}
	defer func() {
		for _, e := range t.execs {
			e.Finalize()
		}
	}()
	pos := Position{}
	var samplerState []byte
	elapsed := 0.0
	ckpt, err := LoadCheckpoint(t.checkpointPath())
	if err != nil {
		return nil, err
	}
	if ckpt != nil {
		if err := RestoreVariables(t.ctx, ckpt.Vars); err != nil {
			return nil, fmt.Errorf("checkpoint %s: %w", t.checkpointPath(), err)
		}
		pos, samplerState, elapsed = ckpt.Position, ckpt.SamplerState, ckpt.Elapsed
		if err := t.restoreSampler(samplerState); err != nil {
			return nil, fmt.Errorf("checkpoint %s: sampler state: %w", t.checkpointPath(), err)
		}
		t.logf("resuming from epoch %d, iteration %d (%s)", pos.Epoch, pos.Iter, t.checkpointPath())
	}
	if err := trimRecords(t.Settings.Dir, pos.Epoch); err != nil {
		return nil, err
	}
	idLoader := data.TrainLoader(t.Job.Train, t.IDBatch, t.Seed, augOrZero(t.Job.Aug), t.Job.Norm)
	idLoader.Aug = t.Job.Aug
	iters := idLoader.ItersPerEpoch()
	if iters == 0 {
		return nil, fmt.Errorf("ID training set has %d images, fewer than one batch of %d", t.Job.Train.N, t.IDBatch)
	}
	for epoch := pos.Epoch; epoch < t.Epochs; epoch++ {
		start := time.Now()
		startIter := 0
		if epoch == pos.Epoch {
			startIter = pos.Iter
		}
		rows, err := t.epochRows(epoch, startIter, samplerState)
		if err != nil {
			return nil, err
		}
		rec, stopped, err := t.trainEpoch(cancel, epoch, startIter, iters, idLoader, rows, &elapsed, start)
		if err != nil {
			return nil, err
		}
		if stopped {
			return nil, ErrInterrupted
		}
		if err := t.feedback(epoch); err != nil {
			return nil, err
		}
		elapsed += time.Since(start).Seconds()
		rec.Seconds = time.Since(start).Seconds()
		if t.Settings.EvalEvery > 0 && (epoch+1)%t.Settings.EvalEvery == 0 && epoch+1 < t.Epochs {
			if _, err := t.evaluate(rec, false); err != nil {
				return nil, err
			}
		}
		samplerState = nil
		rec.Time = time.Now().UTC()
		// The record goes first: a run killed between the two writes repeats the epoch's record,
		// which trimRecords drops on resume, rather than losing it.
		if err := t.Settings.Dir.AppendEpoch(*rec); err != nil {
			return nil, err
		}
		if err := t.save(Position{Epoch: epoch + 1}, nil, elapsed); err != nil {
			return nil, err
		}
		t.logf("epoch %d/%d loss %.4f (id %.4f, ood %.4f) train-acc %.3f lr %.4g %.1fs %.0f img/s%s",
			epoch+1, t.Epochs, rec.Loss, rec.Diagnostics["id_loss"], rec.Diagnostics["ood_loss"], rec.Diagnostics["train_acc"],
			rec.LR, rec.Seconds, rec.ImagesPerSec, evalSuffix(rec))
	}
	last := &store.EpochRecord{Epoch: t.Epochs}
	evalStart := time.Now()
	out, err := t.evaluate(last, true)
	if err != nil {
		return nil, err
	}
	out.Epochs = t.Epochs
	out.Seconds = elapsed
	out.EvalSeconds = time.Since(evalStart).Seconds()
	return out, nil
}

func evalSuffix(r *store.EpochRecord) string {
	if r.TestAcc == nil {
		return ""
	}
	s := fmt.Sprintf(" test-acc %.3f", *r.TestAcc)
	for name, v := range r.FPR95 {
		s += fmt.Sprintf(" fpr95[%s] %.3f", name, v)
	}
	return s
}

func augOrZero(a *data.Augment) data.Augment {
	if a == nil {
		return data.Augment{}
	}
	return *a
}

// epochRows returns the pool rows the sampler picked for the epoch (DOS: the candidate order).
// A run resumed mid-epoch reuses the rows saved in the checkpoint, since the model that chose
// them is gone.
func (t *Trainer) epochRows(epoch, startIter int, saved []byte) ([]int32, error) {
	if t.Sampler == nil {
		return nil, nil
	}
	if startIter > 0 && len(saved) > 0 {
		rows, _, err := decodeState(saved)
		return rows, err
	}
	var scores sampling.Scores
	if t.Sampler.Scoring() == sampling.ScorePool {
		req := t.Sampler.Request(epoch)
		var err error
		if scores, err = t.scoreRows(subset{t.Job.Pool, req.Pool}, req.PAbs, req.Features); err != nil {
			return nil, err
		}
	}
	rows, err := t.Sampler.Select(epoch, scores)
	if err != nil {
		return nil, fmt.Errorf("sampler %s, epoch %d: %w", t.Sampler.Name(), epoch, err)
	}
	return rows, nil
}

// feedback gives a learning sampler (POEM) the features it asks for after an epoch.
func (t *Trainer) feedback(epoch int) error {
	l, ok := t.Sampler.(sampling.Learner)
	if !ok || t.Sampler == nil {
		return nil
	}
	req := l.FeedbackRequest(epoch)
	id, err := t.scoreRows(subset{t.Job.Train, req.ID}, false, true)
	if err != nil {
		return err
	}
	pool, err := t.scoreRows(subset{t.Job.Pool, req.Pool}, false, true)
	if err != nil {
		return err
	}
	return l.Feedback(epoch, id, pool)
}

// scoreRows runs the model in inference mode over src (test transform) and returns what a
// sampler asked for: p_abs (of a K+1-output model) and the penultimate features.
func (t *Trainer) scoreRows(src data.Source, pabs, features bool) (sampling.Scores, error) {
	var s sampling.Scores
	err := t.inferPass(src, func(logits, feats []float32, n, dim int) {
		k := t.Model.Outputs
		for i := range n {
			if pabs {
				s.PAbs = append(s.PAbs, pAbs(logits[i*k:(i+1)*k]))
			}
		}
		if features {
			s.Features = append(s.Features, feats[:n*dim]...)
			s.Dim = dim
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

// inferPass feeds src in fixed-size batches (the last one padded, so one executable serves all)
// and calls fn with the logits and features of the real rows.
func (t *Trainer) inferPass(src data.Source, fn func(logits, feats []float32, n, dim int)) error {
	batch := t.Settings.EvalBatch
	if batch <= 0 {
		batch = 256
	}
	loader := data.ScoringPass(src, nil, batch, t.Job.Norm)
	e, err := t.exec("infer", t.Model.Infer)
	if err != nil {
		return err
	}
	for it := range loader.ItersPerEpoch() {
		b, err := loader.Batch(0, it)
		if err != nil {
			return err
		}
		x := padBatch(b, batch)
		out, err := e.Exec(tensors.FromFlatDataAndDimensions(x, batch, b.H, b.W, b.C))
		if err != nil {
			return err
		}
		logits := tensors.MustCopyFlatData[float32](out[0])
		feats := tensors.MustCopyFlatData[float32](out[1])
		fn(logits, feats, b.N, out[1].Shape().Dimensions[1])
	}
	return nil
}

func padBatch(b *data.Batch, size int) []float32 {
	if b.N == size {
		return b.X
	}
	x := make([]float32, size*b.H*b.W*b.C)
	copy(x, b.X)
	return x
}

// trainEpoch runs the iterations [startIter, iters) of epoch. It returns stopped=true after
// writing a checkpoint when cancel is done.
func (t *Trainer) trainEpoch(cancel stdctx.Context, epoch, startIter, iters int, idLoader *data.Loader,
	rows []int32, elapsed *float64, epochStart time.Time) (*store.EpochRecord, bool, error) {
	rec := &store.EpochRecord{Epoch: epoch + 1, Diagnostics: map[string]float64{}}
	var ood *data.Loader
	oodBatch := t.OODBatch
	dos, isDOS := t.Sampler.(sampling.GraphSelector)
	if t.Sampler != nil {
		if isDOS {
			oodBatch = dos.DOSConfig().Candidates
		}
		ood = &data.Loader{Src: t.Job.Pool, BatchSize: oodBatch, Order: listOrder{rows}, Aug: t.Job.Aug,
			Norm: t.Job.Norm, Seed: t.Seed, Stream: 2, DropLast: true}
		if n := ood.ItersPerEpoch(); n < iters {
			iters = n // the ID and outlier loaders are zipped: the shorter one ends the epoch
		}
	}
	state := encodeState(rows, t.samplerState())
	idIt := idLoader.Iterate(epoch, startIter, epoch+1)
	defer idIt.Close()
	var oodIt *data.Iterator
	if ood != nil {
		oodIt = ood.Iterate(epoch, startIter, epoch+1)
		defer oodIt.Close()
	}
	step, err := t.stepExec(isDOS)
	if err != nil {
		return nil, false, err
	}
	var sums [numStepOutputs]float64
	diag := map[string]float64{}
	images := 0
	bar := newProgress(t.Settings.Progress, epoch+1, t.Epochs, startIter, iters)
	for iter := startIter; iter < iters; iter++ {
		if cancel.Err() != nil {
			bar.done()
			*elapsed += time.Since(epochStart).Seconds()
			if err := t.save(Position{Epoch: epoch, Iter: iter}, state, *elapsed); err != nil {
				return nil, false, err
			}
			return nil, true, nil
		}
		idb, err := idIt.Next()
		if err != nil {
			return nil, false, fmt.Errorf("ID batch (epoch %d, iteration %d): %w", epoch, iter, err)
		}
		lr := t.Schedule.LR(epoch, iter, iters)
		args := []any{tensors.FromFlatDataAndDimensions(idb.X, idb.N, idb.H, idb.W, idb.C),
			tensors.FromFlatDataAndDimensions(idb.Labels, idb.N)}
		if oodIt != nil {
			ob, err := oodIt.Next()
			if err != nil {
				return nil, false, fmt.Errorf("outlier batch (epoch %d, iteration %d): %w", epoch, iter, err)
			}
			args = append(args, tensors.FromFlatDataAndDimensions(ob.X, ob.N, ob.H, ob.W, ob.C))
			if isDOS {
				args = append(args, tensors.FromFlatDataAndDimensions(dos.StepUniforms(epoch, iter), dos.DOSConfig().UniformsSize()))
			}
			images += t.OODBatch
		}
		args = append(args, tensors.FromScalar(float32(lr)))
		out, err := step.Exec(args...)
		if err != nil {
			return nil, false, fmt.Errorf("train step (epoch %d, iteration %d): %w", epoch, iter, err)
		}
		vals := make([]float64, len(out))
		for i, o := range out {
			vals[i] = float64(tensors.ToScalar[float32](o))
		}
		if math.IsNaN(vals[outLoss]) || math.IsInf(vals[outLoss], 0) {
			return nil, false, fmt.Errorf("loss is %v at epoch %d, iteration %d (id loss %v, outlier loss %v): "+
				"run stopped; the last good checkpoint (%s) is kept", vals[outLoss], epoch, iter, vals[outIDLoss], vals[outOODLoss], t.checkpointPath())
		}
		for i := range numStepOutputs {
			sums[i] += vals[i]
		}
		if isDOS {
			for i, name := range []string{"dos_inertia", "empty_clusters", "pabs_picks", "pabs_all"} {
				diag[name] += vals[numStepOutputs+i]
			}
		}
		images += idb.N
		rec.LR = lr
		done := iter - startIter + 1
		bar.update(iter+1, sums[outLoss]/float64(done), float64(images)/time.Since(epochStart).Seconds())
		if t.Settings.AfterStep != nil {
			t.Settings.AfterStep(epoch, iter)
		}
		if t.Settings.CheckpointEvery > 0 && (iter+1)%t.Settings.CheckpointEvery == 0 && iter+1 < iters {
			if err := t.save(Position{Epoch: epoch, Iter: iter + 1}, state, *elapsed+time.Since(epochStart).Seconds()); err != nil {
				return nil, false, err
			}
		}
	}
	bar.done()
	n := float64(iters - startIter)
	if n > 0 {
		rec.Loss = sums[outLoss] / n
		rec.Diagnostics["id_loss"], rec.Diagnostics["ood_loss"], rec.Diagnostics["train_acc"] =
			sums[outIDLoss]/n, sums[outOODLoss]/n, sums[outAccuracy]/n
		for k, v := range diag {
			rec.Diagnostics[k] = v / n
		}
	}
	rec.ImagesPerSec = float64(images) / time.Since(epochStart).Seconds()
	return rec, false, nil
}

// stepExec returns the method's train-step executable: plain, with an outlier batch, or DOS.
func (t *Trainer) stepExec(isDOS bool) (*context.Exec, error) {
	switch {
	case t.Sampler == nil:
		return t.exec("plain", t.Model.StepPlain)
	case isDOS:
		return t.exec("dos", t.Model.StepDOS)
	default:
		return t.exec("outliers", t.Model.StepOutliers)
	}
}

// samplerState returns the sampler's own state, for samplers that keep one across epochs.
func (t *Trainer) samplerState() []byte {
	if s, ok := t.Sampler.(statefulSampler); ok {
		b, err := s.MarshalState()
		if err == nil {
			return b
		}
		t.logf("warning: sampler %s state not saved: %v", t.Sampler.Name(), err)
	}
	return nil
}

func (t *Trainer) restoreSampler(state []byte) error {
	if len(state) == 0 {
		return nil
	}
	_, own, err := decodeState(state)
	if err != nil {
		return err
	}
	if s, ok := t.Sampler.(statefulSampler); ok && len(own) > 0 {
		return s.UnmarshalState(own)
	}
	return nil
}

// encodeState packs the epoch's rows and the sampler's own state.
func encodeState(rows []int32, own []byte) []byte {
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, int64(len(rows)))
	binary.Write(&buf, binary.LittleEndian, rows)
	buf.Write(own)
	return buf.Bytes()
}

func decodeState(b []byte) (rows []int32, own []byte, err error) {
	r := bytes.NewReader(b)
	var n int64
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil || n < 0 || n > int64(len(b)) {
		return nil, nil, fmt.Errorf("corrupt sampler state")
	}
	rows = make([]int32, n)
	if err := binary.Read(r, binary.LittleEndian, rows); err != nil {
		return nil, nil, fmt.Errorf("corrupt sampler state: %w", err)
	}
	own = b[len(b)-r.Len():]
	return rows, own, nil
}

// checkpointPath is the run's checkpoint file.
func (t *Trainer) checkpointPath() string {
	return filepath.Join(t.Settings.Dir.File(store.CheckpointDir), "training.ckpt")
}

func (t *Trainer) save(pos Position, samplerState []byte, elapsed float64) error {
	if pos.Iter == 0 {
		// At an epoch boundary the next epoch's rows are chosen afresh; keep the sampler's own state.
		samplerState = encodeState(nil, t.samplerState())
	}
	vars, err := CaptureVariables(t.ctx)
	if err != nil {
		return err
	}
	c := &Checkpoint{Position: pos, SamplerState: samplerState, Elapsed: elapsed, Vars: vars}
	if err := os.MkdirAll(t.Settings.Dir.File(store.CheckpointDir), 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return c.Save(t.checkpointPath())
}

// evaluate scores the ID test set and every OOD test set; with final, it also writes the score
// files and returns the outcome.
func (t *Trainer) evaluate(rec *store.EpochRecord, final bool) (*Outcome, error) {
	e, err := t.exec("score", t.Model.ScoreGraph)
	if err != nil {
		return nil, err
	}
	batch := t.Settings.EvalBatch
	if batch <= 0 {
		batch = 256
	}
	scoreSet := func(src data.Source) (scores []float64, preds []int32, err error) {
		loader := data.ScoringPass(src, nil, batch, t.Job.Norm)
		for it := range loader.ItersPerEpoch() {
			b, err := loader.Batch(0, it)
			if err != nil {
				return nil, nil, err
			}
			out, err := e.Exec(tensors.FromFlatDataAndDimensions(padBatch(b, batch), batch, b.H, b.W, b.C))
			if err != nil {
				return nil, nil, err
			}
			s := tensors.MustCopyFlatData[float32](out[0])
			p := tensors.MustCopyFlatData[int32](out[1])
			for i := range b.N {
				scores = append(scores, float64(s[i]))
				preds = append(preds, p[i])
			}
		}
		return scores, preds, nil
	}
	idScores, preds, err := scoreSet(t.Job.Test)
	if err != nil {
		return nil, fmt.Errorf("scoring the ID test set: %w", err)
	}
	acc, err := metrics.Accuracy(preds, t.Job.Test.Labels)
	if err != nil {
		return nil, err
	}
	rec.TestAcc = &acc
	rec.FPR95 = map[string]float64{}
	out := &Outcome{IDAccuracy: acc, PerSet: map[string]metrics.Result{}}
	if final {
		if err := writeScores(t.Settings.Dir.File(store.ScoresDir), "id-test", idScores); err != nil {
			return nil, err
		}
	}
	for _, ts := range t.Job.Tests {
		s, _, err := scoreSet(ts.Images)
		if err != nil {
			return nil, fmt.Errorf("scoring test set %s: %w", ts.Name, err)
		}
		r, err := metrics.Compute(idScores, s)
		if err != nil {
			return nil, fmt.Errorf("metrics of test set %s: %w", ts.Name, err)
		}
		out.PerSet[ts.Name] = r
		rec.FPR95[ts.Name] = r.FPR95
		if rec.Diagnostics == nil {
			rec.Diagnostics = map[string]float64{}
		}
		rec.Diagnostics["auroc/"+ts.Name] = r.AUROC
		if final {
			if err := writeScores(t.Settings.Dir.File(store.ScoresDir), ts.Name, s); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func writeScores(dir, name string, scores []float64) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, name+".npy")
	var buf bytes.Buffer
	if err := data.EncodeNPY(&buf, []int{len(scores)}, scores, 1); err != nil {
		return err
	}
	return store.WriteFileAtomic(path, buf.Bytes())
}

// statefulSampler is a sampler whose choices depend on state it keeps across epochs (POEM's
// posterior buffer); the checkpoint saves that state so that a resumed run continues exactly.
type statefulSampler interface {
	MarshalState() ([]byte, error)
	UnmarshalState([]byte) error
}

// trimRecords keeps the records of the first epochs epochs in the run's metrics file: those of
// later epochs were written by a run that stopped before checkpointing them, and will be redone.
func trimRecords(dir *store.RunDir, epochs int) error {
	recs, err := dir.Epochs()
	if err != nil {
		return err
	}
	var keep bytes.Buffer
	dropped := false
	for _, r := range recs {
		if r.Epoch > epochs {
			dropped = true
			continue
		}
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		keep.Write(append(b, '\n'))
	}
	if !dropped {
		return nil
	}
	return store.WriteFileAtomic(dir.File(store.MetricsFile), keep.Bytes())
}

package train

import (
	stdctx "context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/experiments/metrics"
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
	// Measures are the outlier probe's and the post-hoc scores' settings (probe.go, posthoc.go).
	Measures Measures
	// SelectionInGraph keeps an in-graph sampler's selection inside the step graph on the
	// pure-Go backend too, where the trainer otherwise runs it on the host with the same result
	// (hostselect.go); tests compare the two.
	SelectionInGraph bool
}

// Outcome is what a finished training run measured.
type Outcome struct {
	IDAccuracy float64                   `json:"id_accuracy"`
	PerSet     map[string]metrics.Result `json:"per_set"`
	Epochs     int                       `json:"epochs"`
	Seconds    float64                   `json:"train_seconds"`
	// EvalSeconds is the time of the final evaluation.
	EvalSeconds float64 `json:"eval_seconds"`
	// Score names the method's own score (that of PerSet); Scores holds the metrics of every
	// post-hoc score per OOD test set, KNNK and KNNTrain the knn score's k and training images
	// (posthoc.go).
	Score    string                               `json:"score"`
	Scores   map[string]map[string]metrics.Result `json:"scores"`
	KNNK     int                                  `json:"knn_k"`
	KNNTrain int                                  `json:"knn_train"`
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
	// DropLast drops the last partial ID and outlier batch of each epoch (batch.drop_last).
	DropLast bool
	Seed     uint64
	Settings Settings

	ctx   *context.Context
	execs map[string]*context.Exec
	watch *divergenceWatch
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

// Diagnostics of an epoch record written by the training loop (besides the sampler's own, see
// sampling.InGraph, and the test sets' AUROC, DiagAUROCPrefix).
const (
	// DiagIDLoss is the mean cross-entropy of the ID batches.
	DiagIDLoss = "id_loss"
	// DiagOODLoss is the mean outlier loss (before its weight).
	DiagOODLoss = "ood_loss"
	// DiagTrainAcc is the mean accuracy on the ID training batches.
	DiagTrainAcc = "train_acc"
)

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
	pos, samplerState, progress, elapsed, err := t.resume()
	if err != nil {
		return nil, err
	}
	t.watch = &divergenceWatch{}
	if recs, err := t.Settings.Dir.Epochs(); err == nil && len(recs) > 0 {
		t.watch.firstRecord = &recs[0]
	}
	idLoader := data.TrainLoaderSource(t.Job.Train.Source, t.Job.Train.Labels, t.IDBatch, t.Seed, augOrZero(t.Job.Aug), t.Job.Norm)
	idLoader.Aug = t.Job.Aug
	idLoader.DropLast = t.DropLast
	iters := idLoader.ItersPerEpoch()
	if iters == 0 {
		return nil, fmt.Errorf("ID training set has %d images, fewer than one batch of %d", t.Job.Train.N, t.IDBatch)
	}
	for epoch := pos.Epoch; epoch < t.Epochs; epoch++ {
		ep := &epochRun{Epoch: epoch, Iters: iters, IDLoader: idLoader, Start: time.Now(), Elapsed: elapsed}
		if epoch == pos.Epoch && pos.Iter > 0 {
			ep.StartIter, ep.Progress = pos.Iter, progress
		}
		if ep.Rows, err = t.epochRows(epoch, ep.StartIter, samplerState); err != nil {
			return nil, err
		}
		rec, err := t.trainEpoch(cancel, ep)
		if err != nil {
			return nil, err
		}
		if err := t.feedback(epoch); err != nil {
			return nil, err
		}
		elapsed += time.Since(ep.Start).Seconds()
		rec.Seconds = ep.earlierSeconds() + time.Since(ep.Start).Seconds()
		rec.ImagesPerSec = float64(rec.Images) / rec.Seconds
		if err := t.watch.epochDone(rec, t.Epochs); err != nil {
			return nil, t.failure(err)
		}
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
		if err := t.save(Position{Epoch: epoch + 1}, nil, elapsed, nil); err != nil {
			return nil, err
		}
		t.logf("epoch %d/%d loss %.4f (id %.4f, ood %.4f) train-acc %.3f lr %.4g %.1fs %.0f img/s%s",
			epoch+1, t.Epochs, rec.Loss, rec.Diagnostics[DiagIDLoss], rec.Diagnostics[DiagOODLoss], rec.Diagnostics[DiagTrainAcc],
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
	for _, name := range slices.Sorted(maps.Keys(r.FPR95)) {
		s += fmt.Sprintf(" fpr95[%s] %.3f", name, r.FPR95[name])
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
		if scores, err = t.scorePool(epoch, req); err != nil {
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
	if !ok {
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

// epochRun is one epoch to train: iterations [StartIter, Iters) of Epoch (0-based).
type epochRun struct {
	Epoch, StartIter, Iters int
	// IDLoader serves the ID batches; Rows are the pool rows the sampler chose (nil: none).
	IDLoader *data.Loader
	Rows     []int32
	// Start is when the epoch (or its resumed part) began; Elapsed the training seconds of the
	// run before it.
	Start   time.Time
	Elapsed float64
	// Progress is what the epoch accumulated before a mid-epoch checkpoint it resumes from.
	Progress *EpochProgress
}

// earlierSeconds is the epoch's wall time before the checkpoint it resumed from.
func (ep *epochRun) earlierSeconds() float64 {
	if ep.Progress == nil {
		return 0
	}
	return ep.Progress.Seconds
}

// trainEpoch trains the iterations of ep and returns its record. When cancel is done it writes a
// checkpoint of the position reached and returns ErrInterrupted. An epoch without a single
// iteration, a loss that is not a number and a loss that grew by orders of magnitude are errors:
// a run must never end "done" on a network it did not train.
func (t *Trainer) trainEpoch(cancel stdctx.Context, ep *epochRun) (*store.EpochRecord, error) {
	feed, err := t.openEpoch(ep)
	if err != nil {
		return nil, err
	}
	defer feed.close()
	if feed.iters == 0 {
		return nil, fmt.Errorf("epoch %d/%d would run no iteration: %s", ep.Epoch+1, t.Epochs, feed.why)
	}
	state := encodeState(ep.Rows, t.samplerState())
	sums := newEpochSums(ep.Progress)
	bar := newProgress(t.Settings.Progress, ep.Epoch+1, t.Epochs, ep.StartIter, feed.iters)
	defer bar.done()
	checkpoint := func(iter int) error {
		progress := sums.progress(ep.earlierSeconds() + time.Since(ep.Start).Seconds())
		return t.save(Position{Epoch: ep.Epoch, Iter: iter}, state, ep.Elapsed+time.Since(ep.Start).Seconds(), progress)
	}
	for iter := ep.StartIter; iter < feed.iters; iter++ {
		if cancel.Err() != nil {
			if err := checkpoint(iter); err != nil {
				return nil, err
			}
			return nil, ErrInterrupted
		}
		lr := t.Schedule.LR(ep.Epoch, iter, feed.iters)
		args, images, err := feed.next(ep.Epoch, iter, lr)
		if err != nil {
			return nil, err
		}
		if err := t.probe(ep, iter, feed, args, &sums.probe); err != nil {
			return nil, err
		}
		out, err := feed.step.Exec(args...)
		if err != nil {
			return nil, fmt.Errorf("train step (epoch %d/%d, iteration %d/%d): %w", ep.Epoch+1, t.Epochs, iter+1, feed.iters, err)
		}
		vals := make([]float64, len(out))
		for i, o := range out {
			vals[i] = float64(tensors.ToScalar[float32](o))
		}
		if err := t.watch.step(vals, ep.Epoch, iter, t.Epochs, feed.iters); err != nil {
			return nil, t.failure(err)
		}
		sums.add(vals, feed.diagNames, images, lr)
		bar.update(iter+1, sums.loss[outLoss]/float64(sums.steps), float64(sums.images)/(ep.earlierSeconds()+time.Since(ep.Start).Seconds()))
		if t.Settings.AfterStep != nil {
			t.Settings.AfterStep(ep.Epoch, iter)
		}
		if t.Settings.CheckpointEvery > 0 && (iter+1)%t.Settings.CheckpointEvery == 0 && iter+1 < feed.iters {
			if err := checkpoint(iter + 1); err != nil {
				return nil, err
			}
		}
	}
	return sums.record(ep.Epoch + 1), nil
}

// failure completes a training failure with what was kept and what to do.
func (t *Trainer) failure(err error) error {
	kept := "no checkpoint was written yet: the run will start again from scratch"
	if c, lerr := LoadCheckpoint(t.checkpointPath()); lerr == nil && c != nil {
		at := fmt.Sprintf("after epoch %d of %d", c.Position.Epoch, t.Epochs)
		if c.Position.Iter > 0 {
			at = fmt.Sprintf("epoch %d/%d, before iteration %d", c.Position.Epoch+1, t.Epochs, c.Position.Iter+1)
		}
		kept = fmt.Sprintf("the last checkpoint (%s) is kept in %s", at, t.checkpointPath())
	}
	return fmt.Errorf("%w. The run stopped; %s. Lowering optim.lr (or another change of the configuration) makes it a new run, "+
		"with a new ID; running the same configuration again retries it from that checkpoint", err, kept)
}

// epochFeed serves the inputs of an epoch's train steps.
type epochFeed struct {
	// iters is the number of iterations of the epoch: the ID batches, or fewer outlier batches;
	// why says what limits it.
	iters   int
	why     string
	id, ood *data.Iterator // ood is nil for methods without outliers
	clean   *data.Iterator // the candidate blocks without augmentation (InGraph.ScoreClean)
	inGraph sampling.InGraph
	// diagNames names the step's outputs after the common ones (an in-graph sampler's
	// diagnostics; none otherwise).
	diagNames []string
	step      stepExecutor
	oodSize   int // outliers trained on per iteration
}

// openEpoch prepares the loaders and the step executable of ep.
func (t *Trainer) openEpoch(ep *epochRun) (*epochFeed, error) {
	f := &epochFeed{iters: ep.Iters}
	f.why = fmt.Sprintf("%d ID training images in batches of %d (batch.drop_last %v)", t.Job.Train.N, t.IDBatch, t.DropLast)
	var ood *data.Loader
	if t.Sampler != nil {
		oodBatch, dropLast := t.OODBatch, t.DropLast
		if ig, ok := t.Sampler.(sampling.InGraph); ok {
			// Candidate blocks are always whole.
			f.inGraph, oodBatch, dropLast = ig, ig.BlockSize(), true
			f.diagNames = ig.Diagnostics()
		}
		newOOD := func(aug *data.Augment) *data.Loader {
			return &data.Loader{Src: t.Job.Pool, BatchSize: oodBatch, Order: listOrder{ep.Rows}, Aug: aug,
				Norm: t.Job.Norm, Seed: t.Seed, Stream: oodStream, DropLast: dropLast}
		}
		ood = newOOD(t.Job.Aug)
		// The ID and outlier loaders are zipped: the shorter one ends the epoch.
		if n := ood.ItersPerEpoch(); n < f.iters {
			f.iters = n
			f.why = fmt.Sprintf("%d outliers chosen for the epoch in batches of %d (batch.drop_last %v)", len(ep.Rows), oodBatch, dropLast)
		}
		f.oodSize = t.OODBatch
		if f.inGraph != nil && f.inGraph.ScoreClean() {
			f.clean = newOOD(nil).Iterate(ep.Epoch, ep.StartIter, ep.Epoch+1)
		}
	}
	step, err := t.stepExec(f.inGraph)
	if err != nil {
		return nil, err
	}
	f.step = step
	f.id = ep.IDLoader.Iterate(ep.Epoch, ep.StartIter, ep.Epoch+1)
	if ood != nil {
		f.ood = ood.Iterate(ep.Epoch, ep.StartIter, ep.Epoch+1)
	}
	return f, nil
}

func (f *epochFeed) close() {
	f.id.Close()
	if f.ood != nil {
		f.ood.Close()
	}
	if f.clean != nil {
		f.clean.Close()
	}
}

// next returns the step's arguments for iteration iter and the number of images it trains on.
func (f *epochFeed) next(epoch, iter int, lr float64) (args []any, images int, err error) {
	idb, err := f.id.Next()
	if err != nil {
		return nil, 0, fmt.Errorf("ID batch (epoch %d, iteration %d): %w", epoch, iter, err)
	}
	args = []any{tensors.FromFlatDataAndDimensions(idb.X, idb.N, idb.H, idb.W, idb.C),
		tensors.FromFlatDataAndDimensions(idb.Labels, idb.N)}
	images = idb.N
	if f.ood != nil {
		if f.clean != nil {
			cb, err := f.clean.Next()
			if err != nil {
				return nil, 0, fmt.Errorf("candidate block (epoch %d, iteration %d): %w", epoch, iter, err)
			}
			args = append(args, tensors.FromFlatDataAndDimensions(cb.X, cb.N, cb.H, cb.W, cb.C))
		}
		ob, err := f.ood.Next()
		if err != nil {
			return nil, 0, fmt.Errorf("outlier batch (epoch %d, iteration %d): %w", epoch, iter, err)
		}
		args = append(args, tensors.FromFlatDataAndDimensions(ob.X, ob.N, ob.H, ob.W, ob.C))
		if f.inGraph != nil {
			args = append(args, tensors.FromFlatDataAndDimensions(f.inGraph.StepUniforms(epoch, iter), f.inGraph.UniformsSize()))
			images += f.oodSize
		} else {
			images += ob.N
		}
	}
	return append(args, tensors.FromScalar(float32(lr))), images, nil
}

// epochSums are the running sums of an epoch's step outputs.
type epochSums struct {
	steps, images int
	loss          [numStepOutputs]float64
	diag          map[string]float64
	lr            float64
	probe         ProbeProgress // the outlier probe's measures (probe.go)
}

// newEpochSums starts an epoch's sums, from what it accumulated before a mid-epoch checkpoint
// (nil: from zero).
func newEpochSums(p *EpochProgress) *epochSums {
	s := &epochSums{diag: map[string]float64{}}
	if p != nil {
		s.steps, s.images, s.loss, s.lr = p.Steps, p.Images, p.Sums, p.LR
		for k, v := range p.Diag {
			s.diag[k] = v
		}
		if c := p.Probe.clone(); c != nil {
			s.probe = *c
		}
	}
	return s
}

// add adds one step's outputs: the common ones, then one per name of diagNames.
func (s *epochSums) add(vals []float64, diagNames []string, images int, lr float64) {
	s.steps++
	s.images += images
	s.lr = lr
	for i := range numStepOutputs {
		s.loss[i] += vals[i]
	}
	for i, name := range diagNames {
		s.diag[name] += vals[numStepOutputs+i]
	}
}

// progress returns the sums for a mid-epoch checkpoint, with the epoch's seconds so far.
func (s *epochSums) progress(seconds float64) *EpochProgress {
	p := &EpochProgress{Steps: s.steps, Images: s.images, Sums: s.loss, Diag: map[string]float64{}, Seconds: seconds, LR: s.lr}
	for k, v := range s.diag {
		p.Diag[k] = v
	}
	p.Probe = s.probe.clone()
	return p
}

// record returns the epoch's record with the means of the sums.
func (s *epochSums) record(epoch int) *store.EpochRecord {
	rec := &store.EpochRecord{Epoch: epoch, Iterations: s.steps, Images: s.images, LR: s.lr, Diagnostics: map[string]float64{}}
	if s.steps == 0 {
		return rec
	}
	n := float64(s.steps)
	rec.Loss = s.loss[outLoss] / n
	rec.Diagnostics[DiagIDLoss] = s.loss[outIDLoss] / n
	rec.Diagnostics[DiagOODLoss] = s.loss[outOODLoss] / n
	rec.Diagnostics[DiagTrainAcc] = s.loss[outAccuracy] / n
	for k, v := range s.diag {
		rec.Diagnostics[k] = v / n
	}
	s.probe.addTo(rec)
	return rec
}

// oodStream separates the outlier loader's augmentation from the ID loader's (data.Loader.Stream).
const oodStream = 2

// stepExec returns the method's train-step executable: plain, with an outlier batch, or with a
// selection inside the graph (on the pure-Go backend: on the host, see hostselect.go).
func (t *Trainer) stepExec(inGraph sampling.InGraph) (stepExecutor, error) {
	if h, err := t.hostStep(inGraph); err != nil {
		return nil, err
	} else if h != nil {
		return h, nil
	}
	switch {
	case t.Sampler == nil:
		return t.exec("plain", t.Model.StepPlain)
	case inGraph != nil && inGraph.ScoreClean():
		return t.exec("in-graph-clean", t.Model.StepInGraphClean)
	case inGraph != nil:
		return t.exec("in-graph", t.Model.StepInGraph)
	default:
		return t.exec("outliers", t.Model.StepOutliers)
	}
}

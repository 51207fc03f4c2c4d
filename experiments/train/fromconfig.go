package train

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"

	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/models"
	"github.com/oodlab/dos/models/optim"
	"github.com/oodlab/dos/sampling"
	"github.com/oodlab/dos/sampling/ondevice"
)

// LoadJob reads the data of run's benchmark from dataDir, applying the run's caps. ImageNet-scale
// sets are evaluated at benchmark.image_size (data.OpenSized).
func LoadJob(run *config.Run, dataDir string) (*Job, error) {
	b := run.Benchmark
	idRef, err := data.ParseRef(b.ID)
	if err != nil {
		return nil, fmt.Errorf("benchmark.id: %w", err)
	}
	job := &Job{}
	// The training split stays a Source: in memory for the small sets, decoded on demand for
	// ImageNet (data.Open).
	trainSrc, err := data.OpenSized(idRef.Name, dataDir, "train", b.ImageSize)
	if err != nil {
		return nil, fmt.Errorf("benchmark.id %s (train split): %w", b.ID, err)
	}
	train, trainLabels, err := idRef.SelectSource(trainSrc, run.Caps.MaxTrain, true)
	if err != nil {
		return nil, fmt.Errorf("benchmark.id: %w", err)
	}
	job.Train = &TrainSet{Source: train, N: train.Len(), Labels: trainLabels}
	test, err := data.LoadSized(idRef.Name, dataDir, "test", b.ImageSize)
	if err != nil {
		return nil, fmt.Errorf("benchmark.id %s (test split): %w", b.ID, err)
	}
	if job.Test, err = idRef.Select(test, run.Caps.MaxTest, true); err != nil {
		return nil, fmt.Errorf("benchmark.id: %w", err)
	}
	if job.Train.Labels == nil {
		return nil, fmt.Errorf("benchmark.id %s: has no labels", b.ID)
	}
	job.Classes = len(idRef.Classes)
	if job.Classes == 0 {
		spec, err := data.Lookup(idRef.Name)
		if err != nil {
			return nil, err
		}
		job.Classes = spec.Classes
	}
	norm, err := normalization(b.Normalize, idRef.Name, job.Train.Source)
	if err != nil {
		return nil, err
	}
	job.Norm = norm
	switch aug := run.Benchmark.Augment; aug {
	case "", config.AugmentPaper:
		a := data.PaperAugment()
		job.Aug = &a
	case config.AugmentImageNet:
		a := data.ImageNetAugment(b.ImageSize)
		job.Aug = &a
	case config.AugmentNone:
	default:
		return nil, fmt.Errorf("benchmark.augment %q: want %s, %s or %s", aug, config.AugmentPaper, config.AugmentImageNet, config.AugmentNone)
	}
	if run.Method.Sampler != config.SamplerNone {
		ref, err := data.ParseRef(b.Pool)
		if err != nil {
			return nil, fmt.Errorf("benchmark.pool: %w", err)
		}
		if ref.Classes == nil {
			src, err := data.OpenSized(ref.Name, dataDir, "train", b.ImageSize)
			if err != nil {
				return nil, fmt.Errorf("benchmark.pool %s: %w", b.Pool, err)
			}
			job.Pool = data.Head(src, run.Caps.MaxPool) // keeps the images as stored (data.RawSource)
		} else {
			m, err := data.LoadSized(ref.Name, dataDir, "train", b.ImageSize)
			if err != nil {
				return nil, fmt.Errorf("benchmark.pool %s: %w", b.Pool, err)
			}
			if m, err = ref.Select(m, run.Caps.MaxPool, false); err != nil {
				return nil, fmt.Errorf("benchmark.pool: %w", err)
			}
			job.Pool = m
		}
	}
	for i, name := range b.Tests {
		ref, err := data.ParseRef(name)
		if err != nil {
			return nil, fmt.Errorf("benchmark.tests[%d]: %w", i, err)
		}
		m, err := data.LoadSized(ref.Name, dataDir, "test", b.ImageSize)
		if err != nil {
			return nil, fmt.Errorf("benchmark.tests[%d] %s: %w", i, name, err)
		}
		if m, err = ref.Select(m, run.Caps.MaxTest, false); err != nil {
			return nil, fmt.Errorf("benchmark.tests[%d]: %w", i, err)
		}
		job.Tests = append(job.Tests, TestSet{Name: name, Images: m})
	}
	if err := checkShapes(job); err != nil {
		return nil, err
	}
	return job, nil
}

// normalization returns the per-channel normalisation of benchmark.normalize for the ID set
// name (whose training split is train).
func normalization(mode, name string, train data.Source) (data.Normalize, error) {
	switch mode {
	case config.NormalizeOfficial, "":
		if n, ok := data.OfficialNormalize(name); ok {
			return n, nil
		}
	case config.NormalizeOE:
		if n, ok := data.OENormalize(name); ok {
			return n, nil
		}
	case config.NormalizeComputed:
	default:
		return data.Normalize{}, fmt.Errorf("benchmark.normalize %q: want %s, %s or %s", mode,
			config.NormalizeOfficial, config.NormalizeOE, config.NormalizeComputed)
	}
	return data.ComputeNormalizeSource(train)
}

// checkShapes requires every set of a job to have the ID images' shape: the network sees them
// all in one graph.
func checkShapes(job *Job) error {
	h, w, c := job.Train.Dims()
	want := [3]int{h, w, c}
	check := func(field, name string, src data.Source) error {
		h, w, c := src.Dims()
		return shapeErr(field, name, [3]int{h, w, c}, want)
	}
	if err := check("benchmark.id", "test split", job.Test); err != nil {
		return err
	}
	if job.Pool != nil {
		if err := check("benchmark.pool", "", job.Pool); err != nil {
			return err
		}
	}
	for i, ts := range job.Tests {
		if err := check(fmt.Sprintf("benchmark.tests[%d]", i), ts.Name, ts.Images); err != nil {
			return err
		}
	}
	return nil
}

// shapeErr is the error of the set name (at field) whose images are got high, wide and deep, the
// ID images want; nil when the two agree.
func shapeErr(field, name string, got, want [3]int) error {
	if got == want {
		return nil
	}
	return fmt.Errorf("%s %s: images are %dx%dx%d, the ID images %dx%dx%d: every set of a benchmark needs the ID shape",
		field, name, got[0], got[1], got[2], want[0], want[1], want[2])
}

// NewTrainer builds the trainer of run on job's data.
func NewTrainer(be backends.Backend, run *config.Run, job *Job, settings Settings) (*Trainer, error) {
	arch, err := models.Lookup(run.Network)
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	meth := run.Method
	outputs := job.Classes
	if meth.Outputs == config.OutputsAbsent {
		outputs++
	}
	opt, err := optim.New(OptimizerConfig(run.Optim))
	if err != nil {
		return nil, fmt.Errorf("optim: %w", err)
	}
	var sched optim.Schedule
	switch run.Optim.Schedule {
	case config.ScheduleMultistep:
		sched, err = optim.MultiStep(run.Optim.LR, run.Optim.Milestones, run.Optim.Gamma)
	case config.ScheduleCosine:
		sched, err = optim.Cosine(run.Optim.LR, 1e-6, run.Epochs)
	default:
		err = fmt.Errorf("unknown schedule %q", run.Optim.Schedule)
	}
	if err != nil {
		return nil, fmt.Errorf("optim.schedule: %w", err)
	}
	m := &Model{Arch: arch, Classes: job.Classes, Outputs: outputs, Score: meth.Score, Opt: opt,
		Loss: Loss{Kind: meth.Loss, Weight: meth.Weight}}
	if meth.Energy != nil {
		m.Loss.MIn, m.Loss.MOut = meth.Energy.MIn, meth.Energy.MOut
	}
	m.WeightInit, m.Init = run.WeightInit, run.Init
	t := &Trainer{Backend: be, Model: m, Job: job, Schedule: sched, Epochs: run.Epochs,
		IDBatch: run.Batch.ID, OODBatch: run.Batch.OOD, DropLast: run.Batch.DropLast, Seed: run.Seed, Settings: settings}
	if meth.Sampler != config.SamplerNone {
		if t.Sampler, err = sampling.New(meth.Sampler, samplerEnv(run, job.Train.N, job.Pool.Len()), meth.SamplerOptions()); err != nil {
			return nil, fmt.Errorf("method.sampler %s: %w", meth.Sampler, err)
		}
		if ig, ok := t.Sampler.(sampling.InGraph); ok {
			if err := ondevice.Check(ig); err != nil {
				return nil, fmt.Errorf("method.sampler: %w", err)
			}
			m.InGraph = ig
		}
	}
	return t, nil
}

// samplerEnv is the sampler's view of run with idSize ID training images and a pool of poolSize
// (the trainer's and Check's).
func samplerEnv(run *config.Run, idSize, poolSize int) sampling.Env {
	return sampling.Env{Seed: run.Seed, PoolSize: poolSize, IDSize: idSize,
		OutliersPerEpoch: min(run.Method.OutliersPerEpoch, poolSize), OODBatch: run.Batch.OOD,
		IDBatch: run.Batch.ID, DropLast: run.Batch.DropLast}
}

// OptimizerConfig returns the optimiser of a run's optim block (the learning rate and its
// schedule are applied per step by the loop).
func OptimizerConfig(o config.Optim) optim.Config {
	return optim.Config{Momentum: o.Momentum, Nesterov: o.Nesterov, WeightDecay: o.WeightDecay}
}

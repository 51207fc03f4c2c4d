package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/oodlab/dos/sampling"
)

// Normalize drops what does not apply to the run's method, so that the
// canonical form (and the ID) depends only on what the run uses: the
// hyperparameter blocks of other samplers and losses, the outlier pool,
// weight and outliers-per-epoch of a run without outliers, outliers per
// epoch for DOS (it selects Batch.OOD per iteration), and milestones and
// gamma under a cosine schedule.
func (r *Run) Normalize() {
	m := &r.Method
	if m.Loss != LossEnergy {
		m.Energy = nil
	}
	spec, lookupErr := sampling.Lookup(m.Sampler)
	known := lookupErr == nil
	for key := range m.Samplers {
		if !known || key != spec.Block {
			delete(m.Samplers, key)
		}
	}
	if len(m.Samplers) == 0 {
		m.Samplers = nil
	}
	if known && !spec.PerEpoch {
		m.OutliersPerEpoch = 0
	}
	if m.Sampler == SamplerNone {
		m.OutliersPerEpoch = 0
		r.Benchmark.Pool = ""
		if m.Loss == LossNone {
			m.Weight = 0
		}
	}
	if r.Optim.Schedule == ScheduleCosine {
		r.Optim.Milestones = nil
		r.Optim.Gamma = 0
	}
	if len(r.Optim.Milestones) == 0 {
		r.Optim.Milestones = nil
	}
}

// one-of value sets, for validation messages.
var (
	losses    = []string{LossNone, LossOE, LossEnergy, LossAbsent}
	scores    = []string{ScoreMSP, ScoreEnergy, ScoreAbsent}
	outputs   = []string{OutputsK, OutputsAbsent}
	schedules = []string{ScheduleMultistep, ScheduleCosine}
)

// Validate checks every field of a resolved run and returns all problems
// found, each naming file, field, what was expected and what was found.
func (r *Run) Validate(file string) error {
	v := &validator{file: file}
	r.validateMethod(v)
	r.validateData(v)
	r.validateOptim(v)
	return v.err()
}

// validateMethod checks method.* and what the method needs of the rest of the run.
func (r *Run) validateMethod(v *validator) {
	m := &r.Method
	if _, err := LookupMethod(m.Name); err != nil {
		v.add("method.name", "%v", err)
	}
	spec, samplerErr := sampling.Lookup(m.Sampler)
	if m.Sampler != SamplerNone && samplerErr != nil {
		v.add("method.sampler", "want one of %s, found %q", strings.Join(append([]string{SamplerNone}, sampling.Names()...), ", "), m.Sampler)
	}
	v.oneOf("method.loss", m.Loss, losses)
	v.oneOf("method.score", m.Score, scores)
	v.oneOf("method.outputs", m.Outputs, outputs)
	if (m.Loss == LossAbsent || m.Score == ScoreAbsent) && m.Outputs != OutputsAbsent {
		v.add("method.outputs", "loss or score %q needs outputs %q, found %q", LossAbsent, OutputsAbsent, m.Outputs)
	}
	if (m.Sampler == SamplerNone) != (m.Loss == LossNone) {
		v.add("method.loss", "a loss on outliers needs a sampler and vice versa; found sampler %q, loss %q", m.Sampler, m.Loss)
	}
	if m.Sampler != SamplerNone {
		if r.Benchmark.Pool == "" {
			v.add("benchmark.pool", "sampler %q needs an outlier pool, found none", m.Sampler)
		}
		v.min("batch.ood", r.Batch.OOD, 1)
		if !(m.Weight > 0) {
			v.add("method.weight", "want > 0, found %v", m.Weight)
		}
	}
	if samplerErr == nil && spec.PerEpoch {
		v.min("method.outliers_per_epoch", m.OutliersPerEpoch, 1)
		if r.Caps.MaxPool > 0 && m.OutliersPerEpoch > r.Caps.MaxPool {
			v.add("method.outliers_per_epoch", "want <= caps.max_pool %d, found %d", r.Caps.MaxPool, m.OutliersPerEpoch)
		}
	}
	if m.Loss == LossEnergy {
		if m.Energy == nil {
			v.add("method.energy", "loss energy needs margins m_in and m_out, found none")
		} else if !(m.Energy.MIn < m.Energy.MOut) {
			v.add("method.energy", "want m_in < m_out, found m_in %v, m_out %v", m.Energy.MIn, m.Energy.MOut)
		}
	}
	if samplerErr == nil && spec.Block != "" {
		block := "method." + spec.Block
		if o := m.Samplers[spec.Block]; o == nil {
			v.add(block, "sampler %s needs its block, found none", m.Sampler)
		} else {
			for _, p := range o.Check(sampling.RunShape{OODBatch: r.Batch.OOD, OutliersPerEpoch: m.OutliersPerEpoch, MaxPool: r.Caps.MaxPool,
				NoAbsentClass: m.Outputs != OutputsAbsent}) {
				v.add(block+"."+p.Field, "%s", p.Message)
			}
		}
	}
}

// validateData checks the network, the benchmark, the sizes and the caps.
func (r *Run) validateData(v *validator) {
	// Whether the network exists is checked by the experiments command and the trainer, which
	// know the network registry (package models); this package stays free of GoMLX.
	if r.Network == "" {
		v.add("network", "want a network name, found none")
	}
	b := &r.Benchmark
	if b.ID == "" {
		v.add("benchmark.id", "want an ID data set name, found none")
	}
	if len(b.Tests) == 0 {
		v.add("benchmark.tests", "want at least one OOD test set, found none")
	}
	for i, t := range b.Tests {
		if t == "" {
			v.add(fmt.Sprintf("benchmark.tests[%d]", i), "want a data set name, found an empty one")
		} else if slices.Index(b.Tests, t) != i {
			v.add(fmt.Sprintf("benchmark.tests[%d]", i), "test set %q listed twice", t)
		}
	}
	v.min("benchmark.image_size", b.ImageSize, 1)
	if b.Augment != AugmentPaper && b.Augment != AugmentNone && b.Augment != AugmentImageNet {
		v.add("benchmark.augment", "want %s, %s or %s, found %q", AugmentPaper, AugmentNone, AugmentImageNet, b.Augment)
	}
	v.oneOf("benchmark.normalize", b.Normalize, []string{NormalizeOfficial, NormalizeOE, NormalizeComputed})
	v.oneOf("weight_init", r.WeightInit, []string{WeightInitOfficial, WeightInitHe})
	v.min("eval_every", r.EvalEvery, 0)
	v.min("knn_k", r.KNNK, 0)
	v.min("epochs", r.Epochs, 1)
	v.min("batch.id", r.Batch.ID, 1)
	v.min("caps.max_train", r.Caps.MaxTrain, 0)
	v.min("caps.max_pool", r.Caps.MaxPool, 0)
	v.min("caps.max_test", r.Caps.MaxTest, 0)
}

// validateOptim checks optim.*.
func (r *Run) validateOptim(v *validator) {
	o := &r.Optim
	if o.Name != "sgd" {
		v.add("optim.name", "want sgd, found %q", o.Name)
	}
	v.positive("optim.lr", o.LR)
	if !(o.Momentum >= 0 && o.Momentum < 1) {
		v.add("optim.momentum", "want a value in [0, 1), found %v", o.Momentum)
	}
	if o.Nesterov && o.Momentum == 0 {
		v.add("optim.nesterov", "Nesterov momentum needs momentum > 0, found 0")
	}
	if !(o.WeightDecay >= 0) {
		v.add("optim.weight_decay", "want >= 0, found %v", o.WeightDecay)
	}
	v.oneOf("optim.schedule", o.Schedule, schedules)
	if o.Schedule == ScheduleMultistep {
		for i, e := range o.Milestones {
			if e < 1 || e >= r.Epochs {
				v.add(fmt.Sprintf("optim.milestones[%d]", i), "want an epoch in [1, epochs=%d), found %d", r.Epochs, e)
			} else if i > 0 && e <= o.Milestones[i-1] {
				v.add(fmt.Sprintf("optim.milestones[%d]", i), "want increasing milestones, found %d after %d", e, o.Milestones[i-1])
			}
		}
		if !(o.Gamma > 0 && o.Gamma <= 1) {
			v.add("optim.gamma", "want a factor in (0, 1], found %v", o.Gamma)
		}
	}
}

// validator collects validation problems.
type validator struct {
	file string
	errs []error
}

func (v *validator) add(field, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s: %s", v.file, field, fmt.Sprintf(format, args...)))
}

func (v *validator) min(field string, x, lo int) {
	if x < lo {
		v.add(field, "want >= %d, found %d", lo, x)
	}
}

func (v *validator) positive(field string, x float64) {
	if !(x > 0) {
		v.add(field, "want > 0, found %v", x)
	}
}

func (v *validator) oneOf(field, x string, set []string) {
	if !slices.Contains(set, x) {
		v.add(field, "want one of %s, found %q", strings.Join(set, ", "), x)
	}
}

func (v *validator) err() error { return errors.Join(v.errs...) }

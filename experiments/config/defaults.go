package config

import "github.com/oodlab/dos/sampling"

// Project defaults: the protocol of the DOS paper and of its official code
// (github.com/lygjwy/DOS; docs/method.md sections 2 to 4), for CIFAR-100
// with TI-300K outliers. Each method's file changes only what differs.
const (
	// DefaultEpochs: 100 epochs, trained from scratch.
	DefaultEpochs = 100
	// DefaultBatchID: ID batch 64 (last partial batch dropped).
	DefaultBatchID = 64
	// DefaultBatchOOD: OOD batch 64 (also DOS's number of clusters).
	DefaultBatchOOD = 64
	// DefaultLR: SGD learning rate 0.1.
	DefaultLR = 0.1
	// DefaultMomentum: SGD momentum 0.9 (Nesterov).
	DefaultMomentum = 0.9
	// DefaultWeightDecay: coupled L2 weight decay 1e-4.
	DefaultWeightDecay = 1e-4
	// DefaultGamma: the learning rate is multiplied by 0.1 at each milestone.
	DefaultGamma = 0.1
	// DefaultOutliersPerEpoch: epoch-level samplers draw 50,000 outliers
	// (the size of the CIFAR training set) each epoch.
	DefaultOutliersPerEpoch = 50000
	// DefaultMIn and DefaultMOut: energy margins of the DOS authors' Energy
	// and POEM runs (m_in = -25, m_out = -7).
	DefaultMIn  = -25.0
	DefaultMOut = -7.0
)

// DefaultMilestones are the multistep milestones of a 100-epoch run.
func DefaultMilestones() []int { return []int{50, 75, 90} }

// DefaultTests are the six OOD test sets of the paper's CIFAR benchmark.
func DefaultTests() []string {
	return []string{"svhn", "lsun-c", "textures", "places365", "lsun-r", "isun"}
}

// Defaults returns the resolved defaults of the named method: the project
// defaults, then the method's own settings, normalised (blocks the method
// does not use are dropped).
func Defaults(method string) (*Run, error) {
	r, err := layered(method)
	if err != nil {
		return nil, err
	}
	r.Normalize()
	return r, nil
}

// layered is the first layer of a resolution: the project defaults with
// every hyperparameter block filled in (so that a grid may override a
// single field of any block), then the method's settings. Not normalised:
// Normalize runs once the grid's values are applied.
func layered(method string) (*Run, error) {
	spec, err := LookupMethod(method)
	if err != nil {
		return nil, err
	}
	r := baseDefaults()
	r.Method.Name = spec.Name
	spec.Defaults(r)
	return r, nil
}

// PaperOptim returns the optimiser of the DOS paper and its official code for every method: SGD
// with lr 0.1, Nesterov momentum 0.9, weight decay 1e-4 on every parameter, the learning rate
// times 0.1 at epochs 50, 75 and 90 of 100 (docs/method.md section 3).
func PaperOptim() Optim {
	return Optim{
		Name:        "sgd",
		LR:          DefaultLR,
		Momentum:    DefaultMomentum,
		Nesterov:    true,
		WeightDecay: DefaultWeightDecay,
		Schedule:    ScheduleMultistep,
		Milestones:  DefaultMilestones(),
		Gamma:       DefaultGamma,
	}
}

// baseDefaults is the project-wide default run before a method is applied:
// no outliers, K outputs, MSP score, and every hyperparameter block at its
// official value so that a grid may override a single field of a block.
// It is not normalised: Normalize runs after the grid's values are applied.
func baseDefaults() *Run {
	return &Run{
		Benchmark: Benchmark{
			ID:        "cifar100",
			Pool:      "ti300k",
			Tests:     DefaultTests(),
			ImageSize: 32,
			Augment:   AugmentPaper,
			Normalize: NormalizeOfficial,
		},
		Network:    "densenet-bc-100",
		WeightInit: WeightInitOfficial,
		Method: Method{
			Sampler: SamplerNone,
			Loss:    LossNone,
			Outputs: OutputsK,
			Score:   ScoreMSP,
			Energy:  &Energy{MIn: DefaultMIn, MOut: DefaultMOut},
			// Every sampler's block, with the defaults defined next to the sampler.
			Samplers: samplerDefaults(),
		},
		Optim:  PaperOptim(),
		Epochs: DefaultEpochs,
		Batch:  Batch{ID: DefaultBatchID, OOD: DefaultBatchOOD},
		Seed:   3,
	}
}

// samplerDefaults returns the options block of every registered sampler at its defaults.
func samplerDefaults() map[string]sampling.Options {
	out := map[string]sampling.Options{}
	for _, s := range sampling.Specs() {
		if s.Block != "" {
			out[s.Block] = s.Defaults()
		}
	}
	return out
}

// Names of losses, scores and schedules, and the sampler of methods without outliers (the
// samplers are those of package sampling: random, greedy, poem, dos).
const (
	// SamplerNone: no outliers (MSP baseline).
	SamplerNone = "none"

	// LossNone: no outlier loss.
	LossNone = "none"
	// LossOE: cross-entropy to the uniform distribution.
	LossOE = "oe"
	// LossEnergy: squared-hinge energy margins (Method.Energy).
	LossEnergy = "energy"
	// LossAbsent: cross-entropy to the absent class K.
	LossAbsent = "absent"

	// ScoreMSP: maximum softmax probability.
	ScoreMSP = "msp"
	// ScoreEnergy: logsumexp of the logits (negative energy).
	ScoreEnergy = "energy"
	// ScoreAbsent: 1 - p_absent.
	ScoreAbsent = "absent"

	// ScheduleMultistep: multiply LR by Gamma at each milestone.
	ScheduleMultistep = "multistep"
	// ScheduleCosine: cosine annealing to 0 over Epochs.
	ScheduleCosine = "cosine"
)

// Values of Benchmark.Normalize.
const (
	NormalizeOfficial = "official"
	NormalizeOE       = "oe"
	NormalizeComputed = "computed"
)

// Values of Run.WeightInit (those of models.ParamWeightInit; kept here, where the
// configuration is read without the models package).
const (
	WeightInitOfficial = "official"
	WeightInitHe       = "he"
)

// Training augmentations (Benchmark.Augment).
const (
	// AugmentPaper is the official code's: 4-pixel zero padding, random crop, horizontal flip.
	AugmentPaper = "paper"
	// AugmentNone trains on the images as they are.
	AugmentNone = "none"
	// AugmentImageNet is torchvision's ImageNet training augmentation: RandomResizedCrop to
	// benchmark.image_size (scale 0.08-1, ratio 3/4-4/3) on the image as stored, then a
	// horizontal flip.
	AugmentImageNet = "imagenet"
)

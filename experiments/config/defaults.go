package config

// Project defaults: the protocol of the DOS paper and of its official code
// (github.com/lygjwy/DOS; docs/method.md sections 2 and 3), for CIFAR-100
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
	// DefaultDOSCandidates: 384 = (300,000 / 50,000) x 64 candidates per
	// iteration.
	DefaultDOSCandidates = 384
	// DefaultDOSNInit: scikit-learn KMeans(n_init=5) in the released code.
	DefaultDOSNInit = 5
	// DefaultDOSIters is the number of Lloyd iterations unrolled in the
	// K-means graph. Deviation: scikit-learn (the official code) iterates up
	// to max_iter=300 with tol=1e-4; a compiled graph has a fixed number of
	// iterations, after convergence they are no-ops, and on DOS's 384 x 342
	// blocks scikit-learn itself converges within 10 (sampling package tests).
	DefaultDOSIters = 30
	// DefaultPOEMCandidates: POEM scans 400,000 candidates per epoch.
	DefaultPOEMCandidates = 400000
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
	spec.Defaults(&r.Method)
	return r, nil
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
		},
		Network: "densenet-bc-100",
		Method: Method{
			Sampler: SamplerNone,
			Loss:    LossNone,
			Outputs: OutputsK,
			Score:   ScoreMSP,
			Energy:  &Energy{MIn: DefaultMIn, MOut: DefaultMOut},
			NTOM:    &NTOM{Quantile: 0},
			POEM: &POEM{
				// train_poem.py defaults (github.com/deeplearning-wisc/poem).
				Candidates:   DefaultPOEMCandidates,
				Sigma:        20,
				SigmaN:       0.5,
				Conf:         3.0,
				A0:           6,
				B0:           6,
				LambdaPrior:  0.25,
				BufferEpochs: 4,
			},
			DOS: &DOS{
				Candidates:    DefaultDOSCandidates,
				NInit:         DefaultDOSNInit,
				Iters:         DefaultDOSIters,
				Trim:          0,
				EmptyClusters: EmptyRelocate,
			},
		},
		Optim: Optim{
			Name:        "sgd",
			LR:          DefaultLR,
			Momentum:    DefaultMomentum,
			Nesterov:    true,
			WeightDecay: DefaultWeightDecay,
			Schedule:    ScheduleMultistep,
			Milestones:  DefaultMilestones(),
			Gamma:       DefaultGamma,
		},
		Epochs: DefaultEpochs,
		Batch:  Batch{ID: DefaultBatchID, OOD: DefaultBatchOOD},
		Seed:   3,
	}
}

// Names of samplers, losses, scores and schedules.
const (
	// SamplerNone: no outliers (MSP baseline).
	SamplerNone = "none"
	// SamplerRandom: a uniform draw of OutliersPerEpoch outliers per epoch.
	SamplerRandom = "random"
	// SamplerGreedy: NTOM's greedy selection by p_absent per epoch.
	SamplerGreedy = "greedy"
	// SamplerPOEM: POEM's Thompson-sampled boundary outliers per epoch.
	SamplerPOEM = "poem"
	// SamplerDOS: DOS's clustered selection per iteration.
	SamplerDOS = "dos"

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

// Training augmentations (Benchmark.Augment).
const (
	// AugmentPaper is the official code's: 4-pixel zero padding, random crop, horizontal flip.
	AugmentPaper = "paper"
	// AugmentNone trains on the images as they are.
	AugmentNone = "none"
)

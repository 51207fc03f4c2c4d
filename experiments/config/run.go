package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/oodlab/dos/sampling"
)

// Run is one resolved experiment: everything the training executor needs to
// know to reproduce it, apart from where the data lives and which machine
// runs it. Its YAML form (Canonical) is the run's config.yaml.
type Run struct {
	// Benchmark names the data: ID set, outlier pool, OOD test sets.
	Benchmark Benchmark `yaml:"benchmark"`
	// WeightInit is how the network's initial weights are drawn: official
	// (default: as each network's reference code does; for DenseNet-BC-100
	// the DOS code's N(0, 2/16) for every convolution) or he (Kaiming normal,
	// fan_out, for every convolution).
	WeightInit string `yaml:"weight_init"`
	// Init, when set, is a file of weights to start from instead of drawing
	// them: a PyTorch state dict (.pth, .pt, .safetensors, with the official
	// code's key names) or a checkpoint of this project. Empty: fresh weights.
	Init string `yaml:"init"`
	// Network is the architecture name, as models.Lookup knows it
	// (densenet-bc-100, wrn-40-4, resnet18, resnet50, small-cnn, mlp). This
	// package checks only that it is given; the experiments command checks
	// that it exists before anything runs.
	Network string `yaml:"network"`
	// Method is the OOD method: sampler, outlier loss, test score and their
	// hyperparameters.
	Method Method `yaml:"method"`
	// Optim is the optimiser and its learning-rate schedule.
	Optim Optim `yaml:"optim"`
	// Epochs is the number of training epochs (>= 1).
	Epochs int `yaml:"epochs"`
	// Batch holds the ID and OOD batch sizes.
	Batch Batch `yaml:"batch"`
	// Seed seeds every random choice of the run (initialisation, data order,
	// augmentation, sampling).
	Seed uint64 `yaml:"seed"`
	// Backend is the GoMLX backend ("" = the default choice of
	// models/backend: GOMLX_BACKEND, else xla, else go). It says where a run
	// executes, not what it computes, so it is not part of the run's ID.
	Backend string `yaml:"backend"`
	// Caps limit the data sizes for quick runs; 0 means no cap.
	Caps Caps `yaml:"caps"`
	// EvalEvery evaluates ID test accuracy and the OOD metrics every so many
	// epochs during training, for convergence curves (0: only at the end).
	// Evaluation runs in inference mode and does not change training.
	EvalEvery int `yaml:"eval_every"`
	// KNNK is the k of the knn post-hoc score computed after training (0: Sun et al.'s value
	// for the ID set: 50, 200 for CIFAR-100, 1,000 for ImageNet-1K). It changes only that score,
	// but it is part of the run's configuration and ID, so that runs scored with another k
	// never mix; left out of config.yaml when 0, so runs that keep the default keep their ID.
	KNNK int `yaml:"knn_k,omitempty"`

	// Variant lists the run's values on the axes of its grid other than method and seed (set by
	// Grid.Expand, in axis order; empty for a grid that sweeps only method and seed, such as
	// the paper's, and for a run read from a file). It tells apart the runs of one method and
	// seed in a sweep: it appears in the run's Name and, as VariantLabel, in tables. It
	// describes the run, it is not part of its configuration: not in Canonical, not in the ID.
	Variant []Setting `yaml:"-"`
}

// Benchmark names the data sets of a run. Names are those of the data
// package (e.g. cifar100, ti300k, svhn, lsun-c, textures, places365, lsun-r,
// isun, mnist).
type Benchmark struct {
	// ID is the in-distribution training and test set.
	ID string `yaml:"id"`
	// Pool is the auxiliary outlier pool ("" for methods without outliers
	// is allowed only when the method's sampler is none).
	Pool string `yaml:"pool"`
	// Tests are the OOD test sets, in report order.
	Tests []string `yaml:"tests"`
	// ImageSize is the side in pixels of the square images the network sees.
	ImageSize int `yaml:"image_size"`
	// Augment is the training augmentation of ID and outlier images: paper
	// (4-pixel zero padding, random crop, horizontal flip; the official code),
	// none (e.g. for digits, which a flip would corrupt) or imagenet
	// (torchvision's RandomResizedCrop to ImageSize, then a horizontal flip).
	Augment string `yaml:"augment"`
	// Normalize is the per-channel mean/std applied to every image (always
	// the ID set's, as the official code does): official (default: the DOS
	// code's values for CIFAR-10 and CIFAR-100, torchvision's for ImageNet,
	// else computed), oe (the Outlier Exposure/Energy code's CIFAR values
	// 125.3/123.0/113.9 over 63.0/62.1/66.7, else computed) or computed (the
	// mean/std of the ID training split).
	Normalize string `yaml:"normalize"`
}

// Method is the OOD method of a run. Name selects the registered defaults
// (see Methods); every other field may be overridden by a grid.
type Method struct {
	// Name is the registered method name (msp, oe, energy, ntom, share, poem,
	// dos).
	Name string `yaml:"name"`
	// Sampler names the outlier sampler of package sampling: none, random,
	// greedy (NTOM), poem or dos.
	Sampler string `yaml:"sampler"`
	// Loss names the outlier loss: none, oe (cross-entropy to the uniform
	// distribution), energy (squared-hinge energy margins) or absent
	// (cross-entropy to the extra absent class K).
	Loss string `yaml:"loss"`
	// Weight multiplies the outlier loss (beta).
	Weight float64 `yaml:"weight"`
	// Outputs is the number of network outputs: "K" or "K+1" (the extra
	// output is the absent, OOD, class).
	Outputs string `yaml:"outputs"`
	// Score names the test-time score (higher = more ID): msp (max
	// softmax), energy (logsumexp of the logits) or absent (1 - p_absent).
	Score string `yaml:"score"`
	// OutliersPerEpoch is the number of outliers an epoch-level sampler
	// (random, greedy, poem: sampling.Spec.PerEpoch) draws each epoch. 0 for
	// the others (none; dos selects Batch.OOD outliers per iteration).
	OutliersPerEpoch int `yaml:"outliers_per_epoch"`
	// Energy holds the energy-loss margins; present only when Loss is energy.
	Energy *Energy `yaml:"energy,omitempty"`
	// Samplers holds the samplers' options blocks by YAML key (ntom, poem,
	// dos: sampling.Spec.Block). Each block's type, defaults and checks are
	// defined next to its sampler in package sampling; in YAML a block is a
	// key of method like any other field. After Normalize only the block of
	// the run's sampler is left.
	Samplers map[string]sampling.Options `yaml:"-"`
}

// SamplerOptions returns the options block of the run's sampler (nil when
// the sampler has none, or for no sampler).
func (m *Method) SamplerOptions() sampling.Options {
	spec, err := sampling.Lookup(m.Sampler)
	if err != nil || spec.Block == "" {
		return nil
	}
	return m.Samplers[spec.Block]
}

// Energy holds the margins of the energy loss
// mean(relu(E_in - MIn)^2) + mean(relu(MOut - E_out)^2), E = -logsumexp(z).
type Energy struct {
	// MIn is the in-distribution margin m_in (official: -25).
	MIn float64 `yaml:"m_in"`
	// MOut is the outlier margin m_out (official: -7).
	MOut float64 `yaml:"m_out"`
}

// Optim is the optimiser and its schedule.
type Optim struct {
	// Name is the optimiser: sgd.
	Name string `yaml:"name"`
	// LR is the initial learning rate.
	LR float64 `yaml:"lr"`
	// Momentum is the SGD momentum.
	Momentum float64 `yaml:"momentum"`
	// Nesterov selects Nesterov momentum.
	Nesterov bool `yaml:"nesterov"`
	// WeightDecay is the coupled L2 weight decay.
	WeightDecay float64 `yaml:"weight_decay"`
	// Schedule is multistep or cosine.
	Schedule string `yaml:"schedule"`
	// Milestones are the epochs at which multistep multiplies the learning
	// rate by Gamma (absent for cosine). Under multistep an empty list (a
	// constant learning rate) is written as "milestones: []" (see
	// MarshalYAML): left out, it would read back as the method's default.
	Milestones []int `yaml:"milestones,omitempty"`
	// Gamma is the multistep factor (absent for cosine).
	Gamma float64 `yaml:"gamma,omitempty"`
}

// optimFields is Optim without its YAML method, to encode the fields.
type optimFields Optim

// MarshalYAML writes the optimiser's fields. Milestones and Gamma are left out where they are
// empty: under a cosine schedule, where Normalize drops them, and a zero Gamma, which no
// multistep run may have. A multistep run without milestones writes "milestones: []": left
// out, the key would read back as the default milestones. Every written configuration thus
// reads back as the same run (Parse(Canonical(r)) has r's canonical form), and runs with
// milestones are written as they always were (their IDs do not change).
func (o Optim) MarshalYAML() (any, error) {
	var n yaml.Node
	if err := n.Encode(optimFields(o)); err != nil {
		return nil, err
	}
	if o.Schedule != ScheduleCosine && len(o.Milestones) == 0 {
		n.Content = append(n.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "milestones"},
			&yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle})
	}
	return &n, nil
}

// Batch holds the batch sizes.
type Batch struct {
	// ID is the in-distribution batch size.
	ID int `yaml:"id"`
	// OOD is the outlier batch size (and, by default, DOS's number of
	// clusters).
	OOD int `yaml:"ood"`
	// DropLast drops the last partial batch of each epoch (ID and
	// outliers). The official code does for DOS (train_diverse.py) and not
	// for the baselines (their loaders keep it), so each method sets it.
	DropLast bool `yaml:"drop_last"`
}

// Caps limit data sizes for quick runs; 0 means no cap.
type Caps struct {
	// MaxTrain caps the ID training images.
	MaxTrain int `yaml:"max_train"`
	// MaxPool caps the outlier pool.
	MaxPool int `yaml:"max_pool"`
	// MaxTest caps the images of each test set (ID test and each OOD set).
	MaxTest int `yaml:"max_test"`
}

// NumOutputs is the number of network outputs for k ID classes.
func (m *Method) NumOutputs(k int) int {
	if m.Outputs == OutputsAbsent {
		return k + 1
	}
	return k
}

// Values of Method.Outputs.
const (
	// OutputsK is a network with one output per ID class.
	OutputsK = "K"
	// OutputsAbsent is a network with an extra absent (OOD) class.
	OutputsAbsent = "K+1"
)

// Canonical is the run's configuration as YAML with sorted keys and every
// field present (blocks that do not apply to the method are absent, and
// milestones and gamma under a cosine schedule, which Normalize drops). It is
// what config.yaml holds; Parse reads it back as the same run: the same
// canonical form and ID (every field round-trips, zero values included).
func (r *Run) Canonical() ([]byte, error) {
	raw, err := yaml.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("config: serialising run: %w", err)
	}
	// yaml.v3 keeps struct field order but sorts map keys: a round trip
	// through a generic map gives sorted keys at every level.
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("config: re-reading serialised run: %w", err)
	}
	return yaml.Marshal(m)
}

// IDLength is the number of hex digits of a run ID.
const IDLength = 12

// ID is the run's identity: the first IDLength hex digits of the SHA-256 of
// its canonical form with Backend cleared. Same configuration, same ID; any
// change of a field other than Backend gives another ID. (Adding a field to
// Run changes every ID.)
func (r *Run) ID() (string, error) {
	c := *r
	c.Backend = ""
	b, err := c.Canonical()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:IDLength], nil
}

// Name is a readable run name, used as the run's directory name in the
// store: <method>-s<seed>-<id>, or <method>-s<seed>-<variant>-<id> for a run
// with a Variant, where <variant> shows the swept values, short key then
// value, "-"-separated: energy-s3-lr0.02-<id>, dos-s3-lr0.1-n_init5-<id>,
// oe-s3-schedule_cosine-<id> (see variantName). Names hold only ASCII
// letters, digits, '.', '_' and '-'.
func (r *Run) Name() (string, error) {
	id, err := r.ID()
	if err != nil {
		return "", err
	}
	if v := r.variantName(); v != "" {
		return fmt.Sprintf("%s-s%d-%s-%s", r.Method.Name, r.Seed, v, id), nil
	}
	return fmt.Sprintf("%s-s%d-%s", r.Method.Name, r.Seed, id), nil
}

// Clone returns a deep copy of r.
func (r *Run) Clone() *Run {
	c := *r
	c.Benchmark.Tests = append([]string(nil), r.Benchmark.Tests...)
	c.Optim.Milestones = append([]int(nil), r.Optim.Milestones...)
	c.Method.Energy = clonePtr(r.Method.Energy)
	c.Variant = slices.Clone(r.Variant)
	c.Method.Samplers = nil
	for k, o := range r.Method.Samplers {
		if c.Method.Samplers == nil {
			c.Method.Samplers = map[string]sampling.Options{}
		}
		c.Method.Samplers[k] = cloneOptions(o)
	}
	return &c
}

// cloneOptions copies an options block (a pointer to a struct of plain values, as package
// sampling's tests require of every block).
func cloneOptions(o sampling.Options) sampling.Options {
	v := reflect.ValueOf(o)
	c := reflect.New(v.Elem().Type())
	c.Elem().Set(v.Elem())
	return c.Interface().(sampling.Options)
}

// clonePtr returns a pointer to a copy of *p, or nil.
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

// Parse reads a run configuration from YAML: method defaults first (the
// method named by method.name), then the document's fields on top, strictly
// (unknown keys are errors naming file and line). The result is normalised
// and validated. file names the source in error messages.
func Parse(file string, data []byte) (*Run, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty configuration", file)
	}
	root := doc.Content[0]
	if err := checkKeys(file, root, runType, ""); err != nil {
		return nil, err
	}
	name, err := methodName(file, root)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("%s: method.name: missing; want one of %s", file, strings.Join(MethodNames(), ", "))
	}
	r, err := layered(name)
	if err != nil {
		return nil, fmt.Errorf("%s: method.name: %w", file, err)
	}
	if err := strictDecode(file, data, r); err != nil {
		return nil, err
	}
	r.Normalize()
	if err := r.Validate(file); err != nil {
		return nil, err
	}
	return r, nil
}

// Load reads and resolves a run configuration file (see Parse).
func Load(path string) (*Run, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

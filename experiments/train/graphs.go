package train

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/janpfeifer/must"

	"github.com/oodlab/dos/models"
	"github.com/oodlab/dos/models/objectives"
	"github.com/oodlab/dos/models/optim"
	"github.com/oodlab/dos/sampling"
	"github.com/oodlab/dos/sampling/ondevice"
)

// ModelScope is the context scope of the network's variables.
const ModelScope = "model"

// Loss names the outlier term of the training objective.
type Loss struct {
	// Kind is "none", "oe", "energy" or "absent" (see experiments/config).
	Kind string
	// Weight multiplies the outlier term (OE 0.5, Energy/POEM 0.1, absent class 1).
	Weight float64
	// MIn and MOut are the energy margins (Energy and POEM).
	MIn, MOut float64
}

// Model is everything the step graphs need: the network, its outputs, the objective and
// the optimiser. The same Model builds the graphs of every method.
type Model struct {
	Arch    models.Arch
	Classes int // K, the in-distribution classes
	Outputs int // K, or K+1 with the absent class
	Loss    Loss
	Score   string // test score name, see objectives.ScoreByName
	Opt     *optim.SGD
	// InGraph is set for a sampler that selects inside the step graph (dos).
	InGraph sampling.InGraph
	// WeightInit is how fresh weights are drawn (models.ParamWeightInit; "" = official).
	WeightInit string
	// Init, when set, is a file of weights to start from (the run's init: a PyTorch state dict
	// or a checkpoint of this project).
	Init string
}

// forward runs the network on x in training or inference mode.
func (m *Model) forward(ctx *context.Context, x *Node, training bool) models.Output {
	mctx := ctx.In(ModelScope).Checked(false)
	if m.WeightInit != "" {
		mctx.SetParam(models.ParamWeightInit, m.WeightInit)
	}
	return m.Arch.Build(mctx, x, m.Outputs, training)
}

// Diagnostics are the per-step values a step graph returns besides the loss.
const (
	outLoss = iota
	outIDLoss
	outOODLoss
	outAccuracy
	numStepOutputs
)

// objective returns total, ID and outlier losses and the ID batch accuracy, given the
// training-mode logits of the concatenated batch [ID ; outliers] (outliers may be absent).
func (m *Model) objective(logits, labels *Node, numID int) (total, idLoss, oodLoss, acc *Node) {
	g := logits.Graph()
	batch := logits.Shape().Dimensions[0]
	idLogits := logits
	if batch > numID {
		idLogits = Slice(logits, AxisRange(0, numID))
	}
	idLoss = objectives.CrossEntropy(idLogits, labels)
	acc = objectives.Accuracy(idLogits, labels, m.Classes)
	oodLoss = ScalarZero(g, idLoss.DType())
	if batch > numID {
		oodLogits := Slice(logits, AxisRange(numID, batch))
		switch m.Loss.Kind {
		case "oe":
			oodLoss = objectives.OELoss(oodLogits)
		case "energy":
			oodLoss = objectives.EnergyLoss(idLogits, oodLogits, m.Loss.MIn, m.Loss.MOut)
		case "absent":
			oodLoss = objectives.AbsentClassLoss(oodLogits)
		default:
			panic(fmt.Sprintf("loss %q needs no outliers, but the step got %d", m.Loss.Kind, batch-numID))
		}
	}
	total = Add(idLoss, MulScalar(oodLoss, m.Loss.Weight))
	return
}

// trainOn builds forward (training mode), objective and optimiser update on one batch.
func (m *Model) trainOn(ctx *context.Context, x, labels, lr *Node, numID int) []*Node {
	out := m.forward(ctx, x, true)
	total, idLoss, oodLoss, acc := m.objective(out.Logits, labels, numID)
	m.Opt.Apply(ctx.In(ModelScope).Checked(false), total.Graph(), total, lr)
	return []*Node{total, idLoss, oodLoss, acc}
}

// StepPlain is the train step without outliers (MSP): inputs x [B,H,W,C], labels [B], lr.
func (m *Model) StepPlain(ctx *context.Context, x, labels, lr *Node) []*Node {
	return m.trainOn(ctx, x, labels, lr, x.Shape().Dimensions[0])
}

// StepOutliers is the train step with a given outlier batch (OE, Energy, Share, NTOM, POEM):
// ID and outliers go through ONE forward pass in training mode, as in the official code.
func (m *Model) StepOutliers(ctx *context.Context, x, labels, outliers, lr *Node) []*Node {
	both := Concatenate([]*Node{x, outliers}, 0)
	return m.trainOn(ctx, both, labels, lr, x.Shape().Dimensions[0])
}

// StepInGraph is one iteration of an in-graph sampler (DOS) in one graph: score the candidate
// block in inference mode, select from it with the sampler's graph (ondevice.Build; for DOS:
// cluster the normalised features and pick the least uncertain member of each cluster), then
// train on [ID ; picks] in one training-mode pass. uniforms are the host-generated random
// numbers the selection consumes. Besides the step outputs it returns the selection's
// diagnostics, in the order of m.InGraph.Diagnostics(). On the pure-Go backend the trainer runs
// the same iteration as a HostStep instead (hostselect.go), with the same results.
func (m *Model) StepInGraph(ctx *context.Context, x, labels, candidates, uniforms, lr *Node) []*Node {
	return m.stepInGraph(ctx, x, labels, candidates, candidates, uniforms, lr)
}

// StepInGraphClean is StepInGraph for a sampler that scores its candidates without augmentation
// (sampling.InGraph.ScoreClean: DOS's dual-batch variant): clean is the block as the test
// transform gives it, candidates the same rows augmented, from which the picks are trained.
func (m *Model) StepInGraphClean(ctx *context.Context, x, labels, clean, candidates, uniforms, lr *Node) []*Node {
	return m.stepInGraph(ctx, x, labels, clean, candidates, uniforms, lr)
}

func (m *Model) stepInGraph(ctx *context.Context, x, labels, scoreOn, trainOn, uniforms, lr *Node) []*Node {
	scored := m.forward(ctx, scoreOn, false)
	sel := ondevice.Build(m.InGraph, StopGradient(scored.Logits), StopGradient(scored.Features), uniforms)
	picked := Gather(trainOn, ExpandAxes(sel.Indices, -1))
	outs := m.trainOn(ctx, Concatenate([]*Node{x, picked}, 0), labels, lr, x.Shape().Dimensions[0])
	return append(outs, sel.Diagnostics...)
}

// Infer returns logits and features in inference mode, for evaluation and pool scoring.
func (m *Model) Infer(ctx *context.Context, x *Node) (logits, features *Node) {
	out := m.forward(ctx, x, false)
	return out.Logits, out.Features
}

// ScoreGraph returns the test score (higher = more in-distribution), the predicted class
// among the first K outputs, and the absent-class probability (0 for K-output networks).
func (m *Model) ScoreGraph(ctx *context.Context, x *Node) (score, pred, pAbs *Node) {
	logits, _ := m.Infer(ctx, x)
	// The score name was validated with the run's configuration: an unknown one here is a bug.
	score = must.M1(objectives.ScoreByName(m.Score))(logits, m.Classes)
	pred = objectives.Predictions(logits, m.Classes)
	if m.Outputs > m.Classes {
		pAbs = objectives.PAbs(logits, m.Classes)
	} else {
		pAbs = ZerosLike(score)
	}
	return
}

func (m *Model) check() error {
	if m.Outputs != m.Classes && m.Outputs != m.Classes+1 {
		return fmt.Errorf("outputs %d must be K=%d or K+1", m.Outputs, m.Classes)
	}
	if m.Loss.Kind == "absent" && m.Outputs != m.Classes+1 {
		return fmt.Errorf("loss absent needs K+1 outputs, got %d for K=%d", m.Outputs, m.Classes)
	}
	return nil
}

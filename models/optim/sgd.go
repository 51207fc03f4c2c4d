// Package optim holds the optimiser and learning-rate schedules the paper trains with:
// SGD with (Nesterov) momentum and coupled L2 weight decay, computed exactly as PyTorch's
// torch.optim.SGD does, and multistep and cosine schedules evaluated on the host.
//
// The train-step graph calls [SGD.Apply] (or [SGD.ApplyGradients]) with the learning rate as a
// scalar graph input, computed on the host by a [Schedule] for each step. (The project does not
// use GoMLX's optimizers.Interface and training loop: see docs/design.md.)
//
// Momentum buffers are non-trainable context variables under [Scope], so checkpoints save and
// restore them and a resumed run continues bit for bit.
package optim

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// Scope is the absolute context scope that holds the optimiser's own variables: under
// Scope+"/momentum", one momentum buffer per trainable variable (at the trainable variable's
// scope and name, suffixed "_momentum").
const Scope = "/optimizers/sgd"

// Config holds the SGD hyperparameters. The zero value is plain SGD without momentum or decay.
// (The paper's values are the run configuration's defaults, in package experiments/config.)
type Config struct {
	// Momentum is PyTorch's momentum factor mu, in [0, 1). Dampening is always 0.
	Momentum float64

	// Nesterov selects Nesterov momentum (PyTorch nesterov=True); it needs Momentum > 0.
	Nesterov bool

	// WeightDecay is the coupled L2 coefficient: wd*param is added to the gradient before the
	// momentum update, as torch.optim.SGD's weight_decay does (not decoupled as in SGDW/AdamW).
	WeightDecay float64

	// ExcludeFromDecay, when not nil, names trainable variables that get no weight decay (for
	// example [ExcludeBiasAndNorm]). Nil, the default, decays every trainable variable, batch-norm
	// scales and offsets and biases included, as the official DOS code does.
	ExcludeFromDecay func(v *context.Variable) bool
}

// ExcludeBiasAndNorm reports whether v has rank 0 or 1: biases and batch-norm scales and
// offsets. Use it as [Config.ExcludeFromDecay] to exempt them from weight decay.
func ExcludeBiasAndNorm(v *context.Variable) bool {
	return v.Shape().Rank() <= 1
}

// SGD is stochastic gradient descent with momentum, Nesterov momentum and coupled weight
// decay. For every trainable variable p with gradient g, one step is, as in torch.optim.SGD
// with dampening 0:
//
//	d   = g + wd*p
//	buf = mu*buf + d            (buf starts at 0, so the first step sets buf = d, as PyTorch does)
//	d   = d + mu*buf  (Nesterov) or  d = buf  (classic momentum); d = g + wd*p when mu = 0
//	p   = p - lr*d
//
// Create it with [New]. It holds only the configuration: all state lives in the context.
type SGD struct {
	cfg Config
}

// New validates cfg and returns the optimiser.
func New(cfg Config) (*SGD, error) {
	switch {
	case math.IsNaN(cfg.Momentum) || cfg.Momentum < 0 || cfg.Momentum >= 1:
		return nil, fmt.Errorf("optim: momentum %v, want a value in [0, 1)", cfg.Momentum)
	case cfg.Nesterov && cfg.Momentum == 0:
		return nil, fmt.Errorf("optim: Nesterov momentum needs momentum > 0, got momentum 0")
	case math.IsNaN(cfg.WeightDecay) || math.IsInf(cfg.WeightDecay, 0) || cfg.WeightDecay < 0:
		return nil, fmt.Errorf("optim: weight decay %v, want a finite value >= 0", cfg.WeightDecay)
	}
	return &SGD{cfg: cfg}, nil
}

// Config returns the optimiser's configuration.
func (o *SGD) Config() Config { return o.cfg }

// trainableVars lists the trainable variables used by g, in the context's variable order:
// the order of ctx.BuildTrainableVariablesGradientsGraph.
func trainableVars(ctx *context.Context, g *graph.Graph) []*context.Variable {
	var vars []*context.Variable
	for v := range ctx.IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			vars = append(vars, v)
		}
	}
	return vars
}

// Apply builds one optimisation step of loss (a scalar) into g: it differentiates loss with
// respect to every trainable variable of ctx used in g and updates the variables and their
// momentum buffers with context.Variable.SetValueGraph. lr is a scalar of any float
// dtype, typically a graph input fed each step from a [Schedule]. Apply does not touch the
// global step counter. It is a graph-building function and panics on misuse, as GoMLX does.
func (o *SGD) Apply(ctx *context.Context, g *graph.Graph, loss, lr *graph.Node) {
	if !loss.Shape().IsScalar() {
		panic(fmt.Sprintf("optim.SGD.Apply: loss must be a scalar, got shape %s", loss.Shape()))
	}
	vars := trainableVars(ctx, g)
	if len(vars) == 0 {
		panic("optim.SGD.Apply: the graph uses no trainable variables")
	}
	values := make([]*graph.Node, len(vars))
	for i, v := range vars {
		values[i] = v.ValueGraph(g)
	}
	grads := graph.Gradient(loss, values...)
	o.ApplyGradients(ctx, vars, grads, lr)
}

// ApplyGradients updates vars given their gradients grads (same order and shapes) with the
// learning rate lr (a scalar node), creating the momentum buffers on first use. Use it when the
// gradients are computed by the caller (for example accumulated over several batches).
func (o *SGD) ApplyGradients(ctx *context.Context, vars []*context.Variable, grads []*graph.Node, lr *graph.Node) {
	if len(vars) != len(grads) {
		panic(fmt.Sprintf("optim.SGD.ApplyGradients: %d variables but %d gradients", len(vars), len(grads)))
	}
	if !lr.Shape().IsScalar() {
		panic(fmt.Sprintf("optim.SGD.ApplyGradients: learning rate must be a scalar, got shape %s", lr.Shape()))
	}
	g := lr.Graph()
	mu := o.cfg.Momentum
	for i, v := range vars {
		p := v.ValueGraph(g)
		dtype := p.DType()
		d := grads[i]
		if d.DType() != dtype {
			d = graph.ConvertDType(d, dtype)
		}
		if o.cfg.WeightDecay != 0 && (o.cfg.ExcludeFromDecay == nil || !o.cfg.ExcludeFromDecay(v)) {
			d = graph.Add(d, graph.MulScalar(p, o.cfg.WeightDecay))
		}
		if mu != 0 {
			bufVar := momentumVar(ctx, v)
			buf := graph.Add(graph.MulScalar(bufVar.ValueGraph(g), mu), d)
			bufVar.SetValueGraph(buf)
			if o.cfg.Nesterov {
				d = graph.Add(d, graph.MulScalar(buf, mu))
			} else {
				d = buf
			}
		}
		lrCast := lr
		if lrCast.DType() != dtype {
			lrCast = graph.ConvertDType(lr, dtype)
		}
		v.SetValueGraph(graph.Sub(p, graph.Mul(lrCast, d)))
	}
}

// momentumVar returns (creating it, zero-filled, if needed) the momentum buffer of v.
func momentumVar(ctx *context.Context, v *context.Variable) *context.Variable {
	scope := Scope + "/momentum"
	if v.Scope() != context.RootScope {
		scope += v.Scope()
	}
	return ctx.Checked(false).InAbsPath(scope).
		WithInitializer(initializers.Zero).
		VariableWithShape(v.Name()+"_momentum", v.Shape()).
		SetTrainable(false)
}

// MomentumVar returns the momentum buffer of the trainable variable v, or nil if no step has
// created it yet. It is meant for inspection and tests.
func MomentumVar(ctx *context.Context, v *context.Variable) *context.Variable {
	scope := Scope + "/momentum"
	if v.Scope() != context.RootScope {
		scope += v.Scope()
	}
	buf := ctx.GetVariableByScopeAndName(scope, v.Name()+"_momentum")
	if buf == nil {
		return nil
	}
	// A variable loaded lazily from a checkpoint comes back marked trainable.
	return buf.SetTrainable(false)
}

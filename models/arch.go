// Package models holds the networks of the experiments as GoMLX graphs, found
// by name in a registry, together with the objectives and test scores built on
// their outputs.
//
// Every network takes NHWC float images and returns both its logits and the
// penultimate feature vector (the input of its last linear layer).
package models

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/internal/registry"
)

// Output is what a network returns.
type Output struct {
	// Logits is [batch, numOutputs].
	Logits *graph.Node
	// Features is the penultimate feature vector, [batch, FeatureSize].
	Features *graph.Node
}

// Arch is a network architecture from the registry.
type Arch struct {
	// Name is the registry name, e.g. "densenet-bc-100" or "wrn-40-2".
	Name string
	// FeatureSize is the length of Output.Features for a network with
	// numOutputs outputs (none of the networks here depends on numOutputs).
	FeatureSize func(numOutputs int) int
	// InputShape is the default input, {height, width, channels}: 32x32x3 for
	// the CIFAR networks, 224x224x3 for ResNet-50, 28x28x1 for the small ones.
	// Other spatial sizes work as long as the strides leave at least one pixel.
	InputShape [3]int
	// Build adds the network to x's graph: x is [batch, H, W, C], numOutputs
	// the number of logits (K, or K+1 with an extra class for outliers).
	//
	// training is fixed at graph-build time: true normalises with batch
	// statistics and updates the batch-norm running statistics in the graph;
	// false uses the running statistics. Variables are created in ctx's scope
	// (callers choose it, e.g. ctx.In("model")) and are shared by every call
	// with the same scope, in one graph or several, whatever the mode: one
	// graph may score with training=false and then train with training=true.
	//
	// Like every GoMLX graph-building function it panics on errors (e.g. an
	// input too small for the strides); context.Exec turns that into an error.
	Build func(ctx *context.Context, x *graph.Node, numOutputs int, training bool) Output
}

// builder builds a network body, with ctx already unchecked.
type builder func(ctx *context.Context, x *graph.Node, numOutputs int, training bool) Output

// newArch wraps a builder into an Arch with input validation and variable reuse.
func newArch(name string, featureSize int, input [3]int, build builder) Arch {
	return Arch{
		Name:        name,
		FeatureSize: func(int) int { return featureSize },
		InputShape:  input,
		Build: func(ctx *context.Context, x *graph.Node, numOutputs int, training bool) Output {
			if x.Rank() != 4 {
				panic(fmt.Sprintf("models: %s needs NHWC input [batch, H, W, C], got shape %s", name, x.Shape()))
			}
			if !x.DType().IsFloat() {
				panic(fmt.Sprintf("models: %s needs float input, got %s", name, x.DType()))
			}
			if numOutputs < 1 {
				panic(fmt.Sprintf("models: %s needs numOutputs >= 1, got %d", name, numOutputs))
			}
			// Unchecked: the first call creates the variables, later calls
			// (other mode, other graph) reuse them.
			return build(ctx.Checked(false), x, numOutputs, training)
		},
	}
}

// ParamWeightInit is the context parameter that chooses how a network draws its initial
// weights: WeightInitOfficial (the default: as each network's reference code does) or
// WeightInitHe (Kaiming normal, fan_out mode, for every convolution). Only networks whose
// reference code differs from Kaiming fan-out read it (DenseNet-BC-100).
const ParamWeightInit = "models_weight_init"

// Values of ParamWeightInit.
const (
	WeightInitOfficial = "official"
	WeightInitHe       = "he"
)

// WeightInits lists the values of ParamWeightInit.
func WeightInits() []string { return []string{WeightInitOfficial, WeightInitHe} }

// weightInit returns the ParamWeightInit of ctx.
func weightInit(ctx *context.Context) string {
	return context.GetParamOr(ctx, ParamWeightInit, WeightInitOfficial)
}

// Network is a registered network, or a family of networks whose names carry parameters
// (wrn-D-K). Each network's file registers it from an init function.
type Network struct {
	// Name is the registry name ("densenet-bc-100"), or for a family its pattern ("wrn-D-K").
	Name string
	// Prefix is set for a family: the start of every name it accepts ("wrn-").
	Prefix string
	// Examples are names of a family that Names lists ("wrn-40-2").
	Examples []string
	// Arch returns the network called name; a family parses its parameters from the name.
	Arch func(name string) (Arch, error)
}

// networks is the network registry (see package internal/registry for why it is filled from
// init).
var networks = registry.New[Network]("network")

// RegisterNetwork adds a network or a family; call it from an init function.
func RegisterNetwork(n Network) { networks.Register(n.Name, n) }

// registerFixed registers a network without parameters.
func registerFixed(name string, featureSize int, input [3]int, build builder) {
	RegisterNetwork(Network{Name: name, Arch: func(string) (Arch, error) {
		return newArch(name, featureSize, input, build), nil
	}})
}

// Lookup returns the network registered under name: "densenet-bc-100",
// "wrn-D-K" for any depth D = 6n+4 (n >= 1) and width K >= 1 (e.g. "wrn-40-2"),
// "resnet18" (CIFAR stem), "resnet50" (ImageNet stem), "small-cnn" or "mlp".
func Lookup(name string) (Arch, error) {
	for _, n := range networks.All() {
		if n.Prefix == "" && n.Name == name || n.Prefix != "" && strings.HasPrefix(name, n.Prefix) {
			return n.Arch(name)
		}
	}
	var accepted []string
	for _, n := range networks.All() {
		if n.Prefix != "" {
			accepted = append(accepted, fmt.Sprintf("%s (e.g. %s)", n.Name, strings.Join(n.Examples, ", ")))
		} else {
			accepted = append(accepted, n.Name)
		}
	}
	return Arch{}, fmt.Errorf("models: unknown network %q; accepted: %s", name, strings.Join(accepted, ", "))
}

// Names returns the registered names, sorted; a family is listed by its examples.
func Names() []string {
	var names []string
	for _, n := range networks.All() {
		if n.Prefix != "" {
			names = append(names, n.Examples...)
		} else {
			names = append(names, n.Name)
		}
	}
	slices.Sort(names)
	return names
}

// CountParams returns the number of trainable parameters of arch with
// numOutputs outputs on inputs of inputShape ({H, W, C}); see BuildVariables.
func CountParams(arch Arch, numOutputs int, inputShape [3]int) (int, error) {
	ctx, err := BuildVariables(arch, numOutputs, inputShape)
	if err != nil {
		return 0, err
	}
	n := 0
	for v := range ctx.IterVariables() {
		if v.Trainable {
			n += v.Shape().Size()
		}
	}
	return n, nil
}

// BuildVariables builds arch with numOutputs outputs on inputs of inputShape
// ({H, W, C}) and returns the context holding the variables it creates (shapes
// only, no values), in creation order. It only builds the graph (on the pure-Go
// backend, nothing is run), so it is fast even for large networks; the spatial
// size matters only in that it must be large enough for the strides.
func BuildVariables(arch Arch, numOutputs int, inputShape [3]int) (ctx *context.Context, err error) {
	if numOutputs < 1 {
		return nil, fmt.Errorf("models: %s: number of outputs must be >= 1, got %d", arch.Name, numOutputs)
	}
	for _, d := range inputShape {
		if d < 1 {
			return nil, fmt.Errorf("models: %s: input shape %v must be positive", arch.Name, inputShape)
		}
	}
	be, err := simplego.New("")
	if err != nil {
		return nil, fmt.Errorf("models: pure-Go backend: %w", err)
	}
	defer be.Finalize()
	g := graph.NewGraph(be, "build_variables")
	defer g.Finalize()
	ctx = context.New()
	defer func() {
		if r := recover(); r != nil {
			ctx, err = nil, fmt.Errorf("models: %s on %dx%dx%d input: %v", arch.Name, inputShape[0], inputShape[1], inputShape[2], r)
		}
	}()
	x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 2, inputShape[0], inputShape[1], inputShape[2]))
	out := arch.Build(ctx, x, numOutputs, false)
	if got := out.Logits.Shape().Dimensions; len(got) != 2 || got[1] != numOutputs {
		return nil, fmt.Errorf("models: %s: logits shaped %v, want [2 %d]", arch.Name, got, numOutputs)
	}
	return ctx, nil
}

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
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
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
	// training is fixedNames at graph-build time: true normalises with batch
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

// fixedNames lists the networks with a fixedNames name, in the order Names reports them.
var fixedNames = []string{"densenet-bc-100", "resnet18", "resnet50", "small-cnn", "mlp"}

func fixedArch(name string) (Arch, bool) {
	switch name {
	case "densenet-bc-100":
		return newArch(name, denseNetBC100FeatureSize, [3]int{32, 32, 3}, buildDenseNetBC100), true
	case "resnet18":
		return newArch(name, 512, [3]int{32, 32, 3}, buildResNet18CIFAR), true
	case "resnet50":
		return newArch(name, 2048, [3]int{224, 224, 3}, buildResNet50), true
	case "small-cnn":
		return newArch(name, smallCNNFeatureSize, [3]int{28, 28, 1}, buildSmallCNN), true
	case "mlp":
		return newArch(name, mlpFeatureSize, [3]int{28, 28, 1}, buildMLP), true
	}
	return Arch{}, false
}

// Lookup returns the network registered under name: "densenet-bc-100",
// "wrn-D-K" for any depth D = 6n+4 (n >= 1) and width K >= 1 (e.g. "wrn-40-2"),
// "resnet18" (CIFAR stem), "resnet50" (ImageNet stem), "small-cnn" or "mlp".
func Lookup(name string) (Arch, error) {
	if a, ok := fixedArch(name); ok {
		return a, nil
	}
	if rest, ok := strings.CutPrefix(name, "wrn-"); ok {
		return lookupWRN(name, rest)
	}
	return Arch{}, fmt.Errorf("models: unknown network %q; accepted: %s", name, strings.Join(acceptedNames(), ", "))
}

func acceptedNames() []string {
	return append(slices.Clone(fixedNames[:1]), append([]string{"wrn-D-K (D=6n+4, e.g. wrn-40-2, wrn-40-4)"}, fixedNames[1:]...)...)
}

func lookupWRN(name, rest string) (Arch, error) {
	parts := strings.Split(rest, "-")
	if len(parts) != 2 {
		return Arch{}, fmt.Errorf("models: network %q: want wrn-DEPTH-WIDTH, e.g. wrn-40-2", name)
	}
	depth, err1 := strconv.Atoi(parts[0])
	width, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return Arch{}, fmt.Errorf("models: network %q: depth and width must be integers, e.g. wrn-40-2", name)
	}
	if depth < 10 || (depth-4)%6 != 0 {
		return Arch{}, fmt.Errorf("models: network %q: depth %d must be 6n+4 with n >= 1 (10, 16, 22, 28, 34, 40, ...)", name, depth)
	}
	if width < 1 {
		return Arch{}, fmt.Errorf("models: network %q: width %d must be >= 1", name, width)
	}
	return newArch(name, 64*width, [3]int{32, 32, 3}, func(ctx *context.Context, x *graph.Node, numOutputs int, training bool) Output {
		return buildWRN(ctx, x, depth, width, numOutputs, training)
	}), nil
}

// Names returns the registered names, sorted; wrn-D-K accepts any valid depth
// and width, of which the two of the experiments are listed.
func Names() []string {
	names := append(slices.Clone(fixedNames), "wrn-40-2", "wrn-40-4")
	slices.Sort(names)
	return names
}

// CountParams returns the number of trainable parameters of arch with
// numOutputs outputs on inputs of inputShape ({H, W, C}). It only builds the
// graph (on the pure-Go backend, nothing is run), so it is fast even for
// large networks; the spatial size matters only in that it must be large
// enough for the strides.
func CountParams(arch Arch, numOutputs int, inputShape [3]int) (n int, err error) {
	if numOutputs < 1 {
		return 0, fmt.Errorf("models: %s: number of outputs must be >= 1, got %d", arch.Name, numOutputs)
	}
	for _, d := range inputShape {
		if d < 1 {
			return 0, fmt.Errorf("models: %s: input shape %v must be positive", arch.Name, inputShape)
		}
	}
	be, err := simplego.New("")
	if err != nil {
		return 0, fmt.Errorf("models: pure-Go backend: %w", err)
	}
	defer be.Finalize()
	g := graph.NewGraph(be, "count_params")
	defer g.Finalize()
	ctx := context.New()
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("models: %s on %dx%dx%d input: %v", arch.Name, inputShape[0], inputShape[1], inputShape[2], r)
		}
	}()
	x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 2, inputShape[0], inputShape[1], inputShape[2]))
	out := arch.Build(ctx, x, numOutputs, false)
	if got := out.Logits.Shape().Dimensions; len(got) != 2 || got[1] != numOutputs {
		return 0, fmt.Errorf("models: %s: logits shaped %v, want [2 %d]", arch.Name, got, numOutputs)
	}
	for v := range ctx.IterVariables() {
		if v.Trainable {
			n += v.Shape().Size()
		}
	}
	return n, nil
}

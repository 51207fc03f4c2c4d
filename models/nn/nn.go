// Package nn holds the layers the networks of package models are built from:
// convolution, batch normalisation, dense layers and pooling, all on NHWC
// tensors.
//
// Every layer is composed of basic graph operations (no backend batch-norm
// ops, no GoMLX batchnorm layer), so a network behaves the same on XLA and on
// the pure-Go backend, and follows PyTorch's semantics so that results can be
// compared with the reference implementations of the DOS paper.
//
// Layers create their variables in the scope of the context they are given:
// callers pick the scope, e.g. nn.Conv2D(ctx.In("conv1"), x, 64, 3, 1, 1, false).
package nn

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Batch-norm constants, PyTorch's defaults (torch.nn.BatchNorm2d).
const (
	// BatchNormEpsilon is added to the variance before taking its square root.
	BatchNormEpsilon = 1e-5
	// BatchNormMomentum is the weight of the current batch in the running statistics:
	// running = (1-momentum)*running + momentum*batch.
	BatchNormMomentum = 0.1
)

// Variable names used by the layers, exported so that tools (checkpoint
// readers, weight importers) can find them.
const (
	// WeightsVar is the kernel of Conv2D ([k, k, in, out], HWIO) and the matrix of Dense ([in, out]).
	WeightsVar = "weights"
	// BiasesVar is the bias of Conv2D and Dense.
	BiasesVar = "biases"
	// ScaleVar is batch norm's trainable scale (PyTorch's weight, gamma).
	ScaleVar = "scale"
	// OffsetVar is batch norm's trainable offset (PyTorch's bias, beta).
	OffsetVar = "offset"
	// RunningMeanVar is batch norm's non-trainable running mean.
	RunningMeanVar = "running_mean"
	// RunningVarVar is batch norm's non-trainable running (unbiased) variance.
	RunningVarVar = "running_var"
)

// normalInit returns an initializer drawing from N(0, std^2).
func normalInit(ctx *context.Context, std float64) context.VariableInitializer {
	return func(g *graph.Graph, shape shapes.Shape) *graph.Node {
		return graph.MulScalar(ctx.RandomNormal(g, shape), std)
	}
}

// uniformInit returns an initializer drawing from U(-bound, bound).
func uniformInit(ctx *context.Context, bound float64) context.VariableInitializer {
	return func(g *graph.Graph, shape shapes.Shape) *graph.Node {
		u := ctx.RandomUniform(g, shape) // [0, 1)
		return graph.AddScalar(graph.MulScalar(u, 2*bound), -bound)
	}
}

func constInit(value float64) context.VariableInitializer {
	return func(g *graph.Graph, shape shapes.Shape) *graph.Node {
		return graph.AddScalar(graph.Zeros(g, shape), value)
	}
}

// Conv2D convolves x ([N, H, W, C]) with filters output channels, a square
// kernel of side kernel, the given stride and a symmetric zero padding of
// padding pixels on each side (PyTorch's nn.Conv2d arguments), returning
// [N, (H+2p-k)/s+1, (W+2p-k)/s+1, filters].
//
// Variables: "weights" [kernel, kernel, C, filters] and, if useBias, "biases"
// [filters]. Weights are initialised Kaiming normal in fan_out mode,
// N(0, 2/(kernel*kernel*filters)), as the WideResNet of OE/Energy
// (normal(0, sqrt(2/n)) with n = k*k*out_channels) and torchvision's ResNet
// (kaiming_normal_(mode="fan_out", nonlinearity="relu")) do; Conv2DNormal
// takes another standard deviation (the DOS code's DenseNet3 uses one for all
// its convolutions). Biases start at zero.
func Conv2D(ctx *context.Context, x *graph.Node, filters, kernel, stride, padding int, useBias bool) *graph.Node {
	return Conv2DNormal(ctx, x, filters, kernel, stride, padding, useBias, HeFanOutStd(kernel, filters))
}

// HeFanOutStd is the standard deviation of Kaiming normal initialisation in
// fan_out mode: sqrt(2/(kernel*kernel*filters)).
func HeFanOutStd(kernel, filters int) float64 { return math.Sqrt(2.0 / float64(kernel*kernel*filters)) }

// Conv2DNormal is Conv2D with weights drawn from N(0, std^2).
func Conv2DNormal(ctx *context.Context, x *graph.Node, filters, kernel, stride, padding int, useBias bool, std float64) *graph.Node {
	if x.Rank() != 4 {
		panic(fmt.Sprintf("nn.Conv2D: input must be NHWC (rank 4), got shape %s", x.Shape()))
	}
	if filters < 1 || kernel < 1 || stride < 1 || padding < 0 {
		panic(fmt.Sprintf("nn.Conv2D: invalid filters=%d kernel=%d stride=%d padding=%d", filters, kernel, stride, padding))
	}
	inC := x.Shape().Dimensions[3]
	dtype := x.DType()
	w := ctx.WithInitializer(normalInit(ctx, std)).
		VariableWithShape(WeightsVar, shapes.Make(dtype, kernel, kernel, inC, filters)).ValueGraph(x.Graph())
	// Strides are always given: SimpleGo rejects the empty strides that
	// Convolve leaves for stride 1.
	conv := graph.Convolve(x, w).StridePerAxis(stride, stride)
	if padding > 0 {
		conv = conv.PaddingPerDim([][2]int{{padding, padding}, {padding, padding}})
	}
	y := conv.Done()
	if useBias {
		b := ctx.WithInitializer(constInit(0)).
			VariableWithShape(BiasesVar, shapes.Make(dtype, filters)).ValueGraph(x.Graph())
		y = graph.Add(y, graph.Reshape(b, 1, 1, 1, filters))
	}
	return y
}

// Dense applies a fully connected layer to the last axis of x:
// [..., in] -> [..., outDim].
//
// Variables: "weights" [in, outDim] and, if useBias, "biases" [outDim].
// Weights are initialised as PyTorch's nn.Linear default,
// U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform_ with a=sqrt(5)); biases start at
// zero, as the reference networks (DenseNet3, WideResNet) set them.
func Dense(ctx *context.Context, x *graph.Node, outDim int, useBias bool) *graph.Node {
	if x.Rank() < 1 || outDim < 1 {
		panic(fmt.Sprintf("nn.Dense: need rank >= 1 input and outDim >= 1, got shape %s and outDim %d", x.Shape(), outDim))
	}
	dims := x.Shape().Dimensions
	in := dims[len(dims)-1]
	dtype := x.DType()
	w := ctx.WithInitializer(uniformInit(ctx, 1/math.Sqrt(float64(in)))).
		VariableWithShape(WeightsVar, shapes.Make(dtype, in, outDim)).ValueGraph(x.Graph())
	flat := x
	if x.Rank() != 2 {
		flat = graph.Reshape(x, -1, in)
	}
	y := graph.Dot(flat, w)
	if useBias {
		b := ctx.WithInitializer(constInit(0)).
			VariableWithShape(BiasesVar, shapes.Make(dtype, outDim)).ValueGraph(x.Graph())
		y = graph.Add(y, graph.Reshape(b, 1, outDim))
	}
	if x.Rank() != 2 {
		outDims := append(append([]int{}, dims[:len(dims)-1]...), outDim)
		y = graph.Reshape(y, outDims...)
	}
	return y
}

// BatchNorm normalises x over every axis but the last (channels), with
// PyTorch's semantics (nn.BatchNorm1d/2d, eps 1e-5, momentum 0.1, affine,
// tracking running statistics).
//
// training is decided when the graph is built:
//   - true: x is normalised with the batch mean and the biased batch variance,
//     and the running statistics are updated in the graph (Variable.SetValueGraph)
//     with the batch mean and the unbiased batch variance (times n/(n-1), n the
//     number of values per channel);
//   - false: x is normalised with the running statistics, which are left alone.
//
// Both modes use the same variables: "scale" (init 1) and "offset" (init 0),
// trainable; "running_mean" (init 0) and "running_var" (init 1), not trainable.
// If one graph normalises with the same variables several times, each use in
// training mode updates the running statistics left by the previous one, in the
// order the graph was built, as repeated forward calls in PyTorch do.
func BatchNorm(ctx *context.Context, x *graph.Node, training bool) *graph.Node {
	if x.Rank() < 2 {
		panic(fmt.Sprintf("nn.BatchNorm: need input of rank >= 2 (channels last), got shape %s", x.Shape()))
	}
	g := x.Graph()
	dtype := x.DType()
	rank := x.Rank()
	channels := x.Shape().Dimensions[rank-1]
	vShape := shapes.Make(dtype, channels)
	scale := ctx.WithInitializer(constInit(1)).VariableWithShape(ScaleVar, vShape).ValueGraph(g)
	offset := ctx.WithInitializer(constInit(0)).VariableWithShape(OffsetVar, vShape).ValueGraph(g)
	runMeanVar := ctx.WithInitializer(constInit(0)).VariableWithShape(RunningMeanVar, vShape).SetTrainable(false)
	runVarVar := ctx.WithInitializer(constInit(1)).VariableWithShape(RunningVarVar, vShape).SetTrainable(false)

	bcast := make([]int, rank) // [1, ..., 1, C]
	for i := range bcast {
		bcast[i] = 1
	}
	bcast[rank-1] = channels
	reduceAxes := make([]int, rank-1)
	for i := range reduceAxes {
		reduceAxes[i] = i
	}

	var mean, variance *graph.Node
	if training {
		n := x.Shape().Size() / channels
		if n < 2 {
			panic(fmt.Sprintf("nn.BatchNorm: training mode needs more than one value per channel, got input shape %s", x.Shape()))
		}
		mean = graph.ReduceMean(x, reduceAxes...)
		centered := graph.Sub(x, graph.Reshape(mean, bcast...))
		variance = graph.ReduceMean(graph.Square(centered), reduceAxes...) // biased
		unbiased := graph.MulScalar(variance, float64(n)/float64(n-1))
		m := BatchNormMomentum
		runMean := runMeanVar.ValueGraph(g)
		runVar := runVarVar.ValueGraph(g)
		runMeanVar.SetValueGraph(graph.Add(graph.MulScalar(runMean, 1-m), graph.MulScalar(graph.StopGradient(mean), m)))
		runVarVar.SetValueGraph(graph.Add(graph.MulScalar(runVar, 1-m), graph.MulScalar(graph.StopGradient(unbiased), m)))
		// Div(scale, Sqrt(...)) rather than Rsqrt: GoMLX defines no gradient for Rsqrt.
		inv := graph.Div(scale, graph.Sqrt(graph.AddScalar(variance, BatchNormEpsilon)))
		return graph.Add(graph.Mul(centered, graph.Reshape(inv, bcast...)), graph.Reshape(offset, bcast...))
	}
	mean = runMeanVar.ValueGraph(g)
	variance = runVarVar.ValueGraph(g)
	inv := graph.Div(scale, graph.Sqrt(graph.AddScalar(variance, BatchNormEpsilon)))
	// y = x*inv + (offset - mean*inv): one multiply and one add on the big tensor.
	shift := graph.Sub(offset, graph.Mul(mean, inv))
	return graph.Add(graph.Mul(x, graph.Reshape(inv, bcast...)), graph.Reshape(shift, bcast...))
}

// Relu returns max(x, 0) with PyTorch's gradient convention (zero gradient at
// x == 0; GoMLX's Max would pass the gradient through at 0).
func Relu(x *graph.Node) *graph.Node {
	zero := graph.ScalarZero(x.Graph(), x.DType())
	return graph.Where(graph.GreaterThan(x, zero), x, graph.ZerosLike(x))
}

// AvgPool averages x ([N, H, W, C]) over square windows of side window moved
// by stride, without padding and rounding the output size down, as PyTorch's
// F.avg_pool2d(x, window, stride).
//
// When window == stride (every use in the networks here) it is computed by
// cropping and reshaping to [N, H/s, s, W/s, s, C] and averaging axes 2 and 4:
// that is fast on every backend and its gradient needs no window ops.
// Otherwise it uses GoMLX's MeanPool (ReduceWindow).
func AvgPool(x *graph.Node, window, stride int) *graph.Node {
	if x.Rank() != 4 || window < 1 || stride < 1 {
		panic(fmt.Sprintf("nn.AvgPool: need NHWC input, window >= 1 and stride >= 1, got shape %s, window %d, stride %d", x.Shape(), window, stride))
	}
	dims := x.Shape().Dimensions
	n, h, w, c := dims[0], dims[1], dims[2], dims[3]
	if h < window || w < window {
		panic(fmt.Sprintf("nn.AvgPool: window %d larger than input %dx%d", window, h, w))
	}
	if window != stride {
		return graph.MeanPool(x).Window(window).Strides(stride).NoPadding().Done()
	}
	s := stride
	oh, ow := h/s, w/s
	if oh*s != h || ow*s != w {
		x = graph.Slice(x, graph.AxisRange(), graph.AxisRange(0, oh*s), graph.AxisRange(0, ow*s), graph.AxisRange())
	}
	x = graph.Reshape(x, n, oh, s, ow, s, c)
	return graph.ReduceMean(x, 2, 4)
}

// MaxPool takes the maximum of x ([N, H, W, C]) over square windows of side
// window moved by stride, with padding implicit -inf pixels on each side, as
// PyTorch's F.max_pool2d(x, window, stride, padding).
//
// It uses GoMLX's MaxPool (ReduceWindow); its gradient is SelectAndScatterMax,
// which the pure-Go backend only has when completed by package models/backend
// (backend.New("go")). Among equal maxima the gradient goes to the first one.
func MaxPool(x *graph.Node, window, stride, padding int) *graph.Node {
	if x.Rank() != 4 || window < 1 || stride < 1 || padding < 0 || 2*padding > window {
		panic(fmt.Sprintf("nn.MaxPool: need NHWC input, window >= 1, stride >= 1, 0 <= padding <= window/2, got shape %s, window %d, stride %d, padding %d",
			x.Shape(), window, stride, padding))
	}
	p := graph.MaxPool(x).Window(window).Strides(stride)
	if padding > 0 {
		p = p.PaddingPerDim([][2]int{{padding, padding}, {padding, padding}})
	} else {
		p = p.NoPadding()
	}
	return p.Done()
}

// GlobalAvgPool averages x ([N, H, W, C]) over its spatial axes: [N, C].
func GlobalAvgPool(x *graph.Node) *graph.Node {
	if x.Rank() != 4 {
		panic(fmt.Sprintf("nn.GlobalAvgPool: need NHWC input, got shape %s", x.Shape()))
	}
	return graph.ReduceMean(x, 1, 2)
}

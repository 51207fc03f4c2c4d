package models

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/models/nn"
)

func init() {
	registerFixed("densenet-bc-100", denseNetBC100FeatureSize, [3]int{32, 32, 3}, buildDenseNetBC100)
}

// DenseNet-BC-100 hyperparameters, as the DenseNet3 used by OE, Energy and
// DOS: depth 100, growth rate 12, compression 0.5, bottleneck layers, no
// dropout.
const (
	denseNetDepth       = 100
	denseNetGrowth      = 12
	denseNetCompression = 0.5
	// Bottleneck layers per dense block: (depth-4)/3 layers of 2 convolutions each.
	denseNetLayersPerBlock = (denseNetDepth - 4) / 6
)

// denseNetBC100FeatureSize is the channel count after the third dense block:
// 24 -> 216 -> 108 -> 300 -> 150 -> 342.
var denseNetBC100FeatureSize = func() int {
	c := 2 * denseNetGrowth
	for block := 0; block < 3; block++ {
		c += denseNetLayersPerBlock * denseNetGrowth
		if block < 2 {
			c = int(float64(c) * denseNetCompression)
		}
	}
	return c
}()

// buildDenseNetBC100 builds DenseNet-BC-100 for CIFAR-sized inputs:
// conv 3x3 to 2*growth channels (no bias); three dense blocks of 16 bottleneck
// layers (BN-ReLU-conv1x1 to 4*growth, BN-ReLU-conv3x3 to growth, concatenated
// after the input) separated by transitions (BN-ReLU-conv1x1 to
// floor(channels*0.5), 2x2 average pool); BN-ReLU, global average pool (the
// 342-d features) and a linear layer with bias.
//
// Initialisation (ParamWeightInit): WeightInitOfficial, the DOS code's
// DenseNet3, draws every convolution from N(0, 2/n) with n the number of
// bottleneck layers per block (16: the loop variable its constructor leaves
// behind), std 0.354, whatever the kernel and channels; WeightInitHe draws each
// from Kaiming normal in fan_out mode. Batch norm: scale 1, offset 0; the
// linear layer: PyTorch's default weights and a zero bias, in both.
func buildDenseNetBC100(ctx *context.Context, x *graph.Node, numOutputs int, training bool) Output {
	conv := func(ctx *context.Context, x *graph.Node, filters, kernel, padding int) *graph.Node {
		std := math.Sqrt(2.0 / denseNetLayersPerBlock)
		if weightInit(ctx) == WeightInitHe {
			std = nn.HeFanOutStd(kernel, filters)
		}
		return nn.Conv2DNormal(ctx, x, filters, kernel, 1, padding, false, std)
	}
	h := conv(ctx.In("conv1"), x, 2*denseNetGrowth, 3, 1)
	for block := 1; block <= 3; block++ {
		bctx := ctx.In(fmt.Sprintf("block%d", block))
		for layer := 0; layer < denseNetLayersPerBlock; layer++ {
			lctx := bctx.In(fmt.Sprintf("layer%d", layer))
			y := nn.Relu(nn.BatchNorm(lctx.In("bn1"), h, training))
			y = conv(lctx.In("conv1"), y, 4*denseNetGrowth, 1, 0)
			y = nn.Relu(nn.BatchNorm(lctx.In("bn2"), y, training))
			y = conv(lctx.In("conv2"), y, denseNetGrowth, 3, 1)
			h = graph.Concatenate([]*graph.Node{h, y}, 3)
		}
		if block < 3 {
			tctx := ctx.In(fmt.Sprintf("trans%d", block))
			channels := h.Shape().Dimensions[3]
			h = nn.Relu(nn.BatchNorm(tctx.In("bn"), h, training))
			h = conv(tctx.In("conv"), h, int(float64(channels)*denseNetCompression), 1, 0)
			h = nn.AvgPool(h, 2, 2)
		}
	}
	h = nn.Relu(nn.BatchNorm(ctx.In("bn"), h, training))
	features := nn.GlobalAvgPool(h)
	logits := nn.Dense(ctx.In("fc"), features, numOutputs, true)
	return Output{Logits: logits, Features: features}
}

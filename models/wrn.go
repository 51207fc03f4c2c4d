package models

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/models/nn"
)

func init() {
	RegisterNetwork(Network{Name: "wrn-D-K", Prefix: "wrn-", Examples: []string{"wrn-40-2", "wrn-40-4"}, Arch: lookupWRN})
}

// lookupWRN returns the wide ResNet of a name wrn-DEPTH-WIDTH (D = 6n+4, n >= 1; K >= 1).
func lookupWRN(name string) (Arch, error) {
	rest := strings.TrimPrefix(name, "wrn-")
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

// buildWRN builds the Wide ResNet WRN-depth-width of OE/Energy/DOS for
// CIFAR-sized inputs: conv 3x3 to 16 channels; three groups of n = (depth-4)/6
// pre-activation basic blocks with 16k, 32k and 64k channels (strides 1, 2,
// 2); BN-ReLU, global average pool (the 64k-d features) and a linear layer
// with bias. No convolution has a bias.
func buildWRN(ctx *context.Context, x *graph.Node, depth, width, numOutputs int, training bool) Output {
	n := (depth - 4) / 6
	h := nn.Conv2D(ctx.In("conv1"), x, 16, 3, 1, 1, false)
	for group, channels := range []int{16 * width, 32 * width, 64 * width} {
		stride := 2
		if group == 0 {
			stride = 1
		}
		for block := 0; block < n; block++ {
			bctx := ctx.In(fmt.Sprintf("group%d", group+1)).In(fmt.Sprintf("block%d", block))
			if block == 0 {
				h = wrnBlock(bctx, h, channels, stride, training)
			} else {
				h = wrnBlock(bctx, h, channels, 1, training)
			}
		}
	}
	h = nn.Relu(nn.BatchNorm(ctx.In("bn"), h, training))
	features := nn.GlobalAvgPool(h)
	logits := nn.Dense(ctx.In("fc"), features, numOutputs, true)
	return Output{Logits: logits, Features: features}
}

// wrnBlock is the pre-activation basic block of the reference WideResNet:
// BN-ReLU-conv3x3(stride)-BN-ReLU-conv3x3, added to the input. When the
// channel counts differ the shortcut is a 1x1 convolution (stride, no bias)
// of the pre-activated input, BN-ReLU(x), as in the reference; otherwise it is
// x itself.
func wrnBlock(ctx *context.Context, x *graph.Node, channels, stride int, training bool) *graph.Node {
	equal := x.Shape().Dimensions[3] == channels
	act := nn.Relu(nn.BatchNorm(ctx.In("bn1"), x, training))
	y := nn.Conv2D(ctx.In("conv1"), act, channels, 3, stride, 1, false)
	y = nn.Relu(nn.BatchNorm(ctx.In("bn2"), y, training))
	y = nn.Conv2D(ctx.In("conv2"), y, channels, 3, 1, 1, false)
	shortcut := x
	if !equal {
		shortcut = nn.Conv2D(ctx.In("shortcut"), act, channels, 1, stride, 0, false)
	} else if stride != 1 {
		panic(fmt.Sprintf("models: WRN block with equal channels (%d) and stride %d has no shortcut", channels, stride))
	}
	return graph.Add(shortcut, y)
}

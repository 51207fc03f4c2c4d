package models

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/models/nn"
)

func init() {
	registerFixed("resnet18", 512, [3]int{32, 32, 3}, buildResNet18CIFAR)
	registerFixed("resnet50", 2048, [3]int{224, 224, 3}, buildResNet50)
}

// convBN is a convolution without bias followed by batch norm, in scopes
// name and name+"_bn".
func convBN(ctx *context.Context, name string, x *graph.Node, filters, kernel, stride, padding int, training bool) *graph.Node {
	y := nn.Conv2D(ctx.In(name), x, filters, kernel, stride, padding, false)
	return nn.BatchNorm(ctx.In(name+"_bn"), y, training)
}

// resNetShortcut is x, or a 1x1 convolution (stride, no bias) with batch norm
// when the block changes the resolution or the channel count.
func resNetShortcut(ctx *context.Context, x *graph.Node, channels, stride int, training bool) *graph.Node {
	if stride == 1 && x.Shape().Dimensions[3] == channels {
		return x
	}
	return convBN(ctx, "shortcut", x, channels, 1, stride, 0, training)
}

// basicBlock is ResNet's basic block: conv3x3(stride)-BN-ReLU-conv3x3-BN,
// added to the shortcut, then ReLU.
func basicBlock(ctx *context.Context, x *graph.Node, planes, stride int, training bool) *graph.Node {
	y := nn.Relu(convBN(ctx, "conv1", x, planes, 3, stride, 1, training))
	y = convBN(ctx, "conv2", y, planes, 3, 1, 1, training)
	return nn.Relu(graph.Add(y, resNetShortcut(ctx, x, planes, stride, training)))
}

// bottleneck is torchvision's Bottleneck (ResNet v1.5, stride on the 3x3):
// conv1x1-BN-ReLU-conv3x3(stride)-BN-ReLU-conv1x1 to 4*planes-BN, added to
// the shortcut, then ReLU.
func bottleneck(ctx *context.Context, x *graph.Node, planes, stride int, training bool) *graph.Node {
	y := nn.Relu(convBN(ctx, "conv1", x, planes, 1, 1, 0, training))
	y = nn.Relu(convBN(ctx, "conv2", y, planes, 3, stride, 1, training))
	y = convBN(ctx, "conv3", y, 4*planes, 1, 1, 0, training)
	return nn.Relu(graph.Add(y, resNetShortcut(ctx, x, 4*planes, stride, training)))
}

// resNetStages runs the four stages (64, 128, 256, 512 planes; strides 1, 2,
// 2, 2) with blocks[i] blocks each.
func resNetStages(ctx *context.Context, h *graph.Node, blocks [4]int, block func(*context.Context, *graph.Node, int, int, bool) *graph.Node, training bool) *graph.Node {
	for stage, planes := range []int{64, 128, 256, 512} {
		for b := 0; b < blocks[stage]; b++ {
			stride := 1
			if b == 0 && stage > 0 {
				stride = 2
			}
			h = block(ctx.In(fmt.Sprintf("layer%d", stage+1)).In(fmt.Sprintf("block%d", b)), h, planes, stride, training)
		}
	}
	return h
}

// buildResNet18CIFAR builds ResNet-18 with the CIFAR stem (conv 3x3 stride 1
// to 64 channels, BN, ReLU, no max pool), basic blocks [2, 2, 2, 2], global
// average pool (512-d features) and a linear layer with bias.
func buildResNet18CIFAR(ctx *context.Context, x *graph.Node, numOutputs int, training bool) Output {
	h := nn.Relu(convBN(ctx, "conv1", x, 64, 3, 1, 1, training))
	h = resNetStages(ctx, h, [4]int{2, 2, 2, 2}, basicBlock, training)
	features := nn.GlobalAvgPool(h)
	return Output{Logits: nn.Dense(ctx.In("fc"), features, numOutputs, true), Features: features}
}

// buildResNet50 builds torchvision's ResNet-50 with the ImageNet stem (conv
// 7x7 stride 2 to 64 channels, BN, ReLU, 3x3 max pool stride 2 padding 1),
// bottleneck blocks [3, 4, 6, 3], global average pool (2048-d features) and a
// linear layer with bias.
func buildResNet50(ctx *context.Context, x *graph.Node, numOutputs int, training bool) Output {
	h := nn.Relu(convBN(ctx, "conv1", x, 64, 7, 2, 3, training))
	h = nn.MaxPool(h, 3, 2, 1)
	h = resNetStages(ctx, h, [4]int{3, 4, 6, 3}, bottleneck, training)
	features := nn.GlobalAvgPool(h)
	return Output{Logits: nn.Dense(ctx.In("fc"), features, numOutputs, true), Features: features}
}

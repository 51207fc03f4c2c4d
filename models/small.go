package models

import (
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/models/nn"
)

func init() {
	registerFixed("small-cnn", smallCNNFeatureSize, [3]int{28, 28, 1}, buildSmallCNN)
	registerFixed("mlp", mlpFeatureSize, [3]int{28, 28, 1}, buildMLP)
}

const (
	smallCNNFeatureSize = 32
	mlpFeatureSize      = 64
)

// buildSmallCNN builds a small network for tests and CPU demonstrations:
// three conv3x3-BN-ReLU layers (8, 16, 32 channels) with 2x2 average pools
// after the first two, global average pool (32-d features) and a linear
// layer with bias. About 6k parameters; ~1.2 MFLOP per 28x28 image forward.
func buildSmallCNN(ctx *context.Context, x *graph.Node, numOutputs int, training bool) Output {
	h := x
	for i, c := range []int{8, 16, smallCNNFeatureSize} {
		scope := []string{"conv1", "conv2", "conv3"}[i]
		h = nn.Relu(convBN(ctx, scope, h, c, 3, 1, 1, training))
		if i < 2 && h.Shape().Dimensions[1] >= 2 && h.Shape().Dimensions[2] >= 2 {
			h = nn.AvgPool(h, 2, 2)
		}
	}
	features := nn.GlobalAvgPool(h)
	return Output{Logits: nn.Dense(ctx.In("fc"), features, numOutputs, true), Features: features}
}

// buildMLP builds a multilayer perceptron for tests and CPU demonstrations
// that trains fast on the pure-Go backend: the image is first averaged over
// 2x2 blocks (28x28x1 -> 196 inputs), then two hidden layers of 64 units with
// ReLU (the second is the 64-d features) and a linear output layer, all with
// biases. No batch norm, so training and inference graphs are the same.
func buildMLP(ctx *context.Context, x *graph.Node, numOutputs int, _ bool) Output {
	h := x
	if h.Shape().Dimensions[1] >= 2 && h.Shape().Dimensions[2] >= 2 {
		h = nn.AvgPool(h, 2, 2)
	}
	h = graph.Reshape(h, h.Shape().Dimensions[0], -1)
	h = nn.Relu(nn.Dense(ctx.In("fc1"), h, 64, true))
	features := nn.Relu(nn.Dense(ctx.In("fc2"), h, mlpFeatureSize, true))
	return Output{Logits: nn.Dense(ctx.In("fc3"), features, numOutputs, true), Features: features}
}

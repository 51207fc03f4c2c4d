// Package objectives holds the training losses of outlier exposure and the test-time OOD
// scores, as graph functions on logits [B, K] (K-output nets) or [B, K+1] (nets with an
// "absent" class K, as DOS, NTOM and Share train).
//
// All of them are numerically stable: logits are shifted by their row maximum before any
// exponential, and probabilities are formed as ratios of shifted exponentials, so logits of
// magnitude up to 1e4 (and beyond) give no NaN or Inf, neither in values nor in gradients.
package objectives

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// checkLogits panics (a graph-building error, as in GoMLX) unless logits is [B, C].
func checkLogits(fn string, logits *graph.Node) {
	if logits.Rank() != 2 {
		panic(fmt.Sprintf("objectives.%s: logits must be [batch, classes], got shape %s", fn, logits.Shape()))
	}
}

// shifted returns z - max(z) along the last axis (the max is a constant for the gradient) and
// s = sum(exp(z - max)) kept as [B, 1]: s >= 1 always, so log(s) is finite.
func shifted(z *graph.Node) (zs, s *graph.Node) {
	m := graph.StopGradient(graph.ReduceAndKeep(z, graph.ReduceMax, -1))
	zs = graph.Sub(z, m)
	s = graph.ReduceAndKeep(graph.Exp(zs), graph.ReduceSum, -1)
	return zs, s
}

// LogSumExp returns log(sum(exp(z))) over the last axis of logits [B, C]: shape [B].
func LogSumExp(logits *graph.Node) *graph.Node {
	checkLogits("LogSumExp", logits)
	m := graph.StopGradient(graph.ReduceAndKeep(logits, graph.ReduceMax, -1))
	_, s := shifted(logits)
	return graph.Reshape(graph.Add(m, graph.Log(s)), logits.Shape().Dim(0))
}

// LogSoftmax returns log(softmax(z)) over the last axis of logits [B, C], computed as
// (z - max) - log(sum(exp(z - max))).
func LogSoftmax(logits *graph.Node) *graph.Node {
	checkLogits("LogSoftmax", logits)
	zs, s := shifted(logits)
	return graph.Sub(zs, graph.Log(s))
}

// CrossEntropy returns the mean over the batch of -log softmax(z)[label], as PyTorch's
// F.cross_entropy. labels is int32 [B] with values in [0, C); a label outside that range
// contributes 0 (no error can be raised inside a graph).
func CrossEntropy(logits, labels *graph.Node) *graph.Node {
	checkLogits("CrossEntropy", logits)
	if labels.Rank() != 1 || labels.Shape().Dim(0) != logits.Shape().Dim(0) {
		panic(fmt.Sprintf("objectives.CrossEntropy: labels must be [%d], got shape %s",
			logits.Shape().Dim(0), labels.Shape()))
	}
	oneHot := graph.OneHot(labels, logits.Shape().Dim(1), logits.DType())
	return graph.Neg(graph.ReduceAllMean(graph.ReduceSum(graph.Mul(oneHot, LogSoftmax(logits)), -1)))
}

// AbsentClassLoss returns the cross-entropy of outlier logits [B, K+1] to the absent class K
// (the last index): mean(-log softmax(z)[K]). This is the outlier term of DOS, NTOM and Share.
func AbsentClassLoss(outlierLogits *graph.Node) *graph.Node {
	checkLogits("AbsentClassLoss", outlierLogits)
	c := outlierLogits.Shape().Dim(1)
	if c < 2 {
		panic(fmt.Sprintf("objectives.AbsentClassLoss: need K+1 >= 2 outputs, got shape %s", outlierLogits.Shape()))
	}
	// A one-hot mask instead of a slice keeps the gradient free of Pad.
	last := graph.ExpandAxes(graph.ConstAsDType(outlierLogits.Graph(), outlierLogits.DType(), lastOneHot(c)), 0)
	return graph.Neg(graph.ReduceAllMean(graph.ReduceSum(graph.Mul(last, LogSoftmax(outlierLogits)), -1)))
}

// lastOneHot returns [0, ..., 0, 1] of length c as float64 (converted to the logits dtype).
func lastOneHot(c int) []float64 {
	v := make([]float64, c)
	v[c-1] = 1
	return v
}

// OELoss returns Outlier Exposure's cross-entropy from softmax(z) to the uniform distribution,
// mean(logsumexp(z) - mean(z)), over outlier logits [B, K]. The caller weights it (0.5 in OE).
func OELoss(outlierLogits *graph.Node) *graph.Node {
	checkLogits("OELoss", outlierLogits)
	// logsumexp(z) - mean(z) = log(s) - mean(z - max): no large terms cancel.
	zs, s := shifted(outlierLogits)
	perRow := graph.Sub(graph.Log(s), graph.ReduceAndKeep(zs, graph.ReduceMean, -1))
	return graph.ReduceAllMean(perRow)
}

// EnergyLoss returns the energy-bounded loss of Liu et al. (2020) on ID and outlier logits
// [B, K]: mean(relu(E_in - mIn)^2) + mean(relu(mOut - E_out)^2), E = -logsumexp(z). The paper's
// margins are -25 and -7 (method.energy); the caller weights it (0.1 in Energy and POEM).
func EnergyLoss(idLogits, oodLogits *graph.Node, mIn, mOut float64) *graph.Node {
	eIn := graph.Neg(LogSumExp(idLogits))
	eOut := graph.Neg(LogSumExp(oodLogits))
	in := graph.Square(relu(graph.AddScalar(eIn, -mIn)))
	out := graph.Square(relu(graph.AddScalar(graph.Neg(eOut), mOut)))
	return graph.Add(graph.ReduceAllMean(in), graph.ReduceAllMean(out))
}

// relu returns max(x, 0).
func relu(x *graph.Node) *graph.Node {
	return graph.Max(x, graph.ZerosLike(x))
}

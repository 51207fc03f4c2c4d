package objectives

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// ScoreFn computes a test-time OOD score per example from logits [B, C] of a net with
// numClasses ID classes (C = numClasses, or numClasses+1 with the absent class last): shape
// [B], higher means more in-distribution.
type ScoreFn func(logits *graph.Node, numClasses int) *graph.Node

// idLogits returns the first numClasses columns of logits [B, C], after checking the shapes.
func idLogits(fn string, logits *graph.Node, numClasses int) *graph.Node {
	checkLogits(fn, logits)
	c := logits.Shape().Dim(1)
	if numClasses < 1 || (c != numClasses && c != numClasses+1) {
		panic(fmt.Sprintf("objectives.%s: logits shape %s does not fit %d classes (want %d or %d columns)",
			fn, logits.Shape(), numClasses, numClasses, numClasses+1))
	}
	if c == numClasses {
		return logits
	}
	return graph.SliceAxis(logits, 1, graph.AxisRange(0, numClasses))
}

// MSP is the maximum softmax probability (Hendrycks and Gimpel, 2017) over the first numClasses
// logits: for a K+1-output net the absent logit is dropped before the softmax.
func MSP(logits *graph.Node, numClasses int) *graph.Node {
	z := idLogits("MSP", logits, numClasses)
	// max softmax = exp(0) / sum(exp(z - max)).
	_, s := shifted(z)
	return graph.Reshape(graph.Reciprocal(s), z.Shape().Dim(0))
}

// MaxLogit is the largest of the first numClasses logits.
func MaxLogit(logits *graph.Node, numClasses int) *graph.Node {
	return graph.ReduceMax(idLogits("MaxLogit", logits, numClasses), -1)
}

// Energy is the negative free energy logsumexp(z) over the first numClasses logits, as the
// Energy and POEM code score (torch.logsumexp over the K logits).
func Energy(logits *graph.Node, numClasses int) *graph.Node {
	return LogSumExp(idLogits("Energy", logits, numClasses))
}

// absentSplit checks that logits has numClasses+1 columns and returns, per example, the
// shifted exponentials' sum over the ID classes and over all columns, max-shifted over all.
func absentSplit(fn string, logits *graph.Node, numClasses int) (idSum, absent, total *graph.Node) {
	checkLogits(fn, logits)
	if c := logits.Shape().Dim(1); c != numClasses+1 {
		panic(fmt.Sprintf("objectives.%s: needs a net with an absent class: logits shape %s, want %d columns",
			fn, logits.Shape(), numClasses+1))
	}
	zs, s := shifted(logits)
	e := graph.Exp(zs)
	b := logits.Shape().Dim(0)
	idSum = graph.ReduceSum(graph.SliceAxis(e, 1, graph.AxisRange(0, numClasses)), -1)
	absent = graph.Reshape(graph.SliceAxis(e, 1, graph.AxisElem(numClasses)), b)
	return idSum, absent, graph.Reshape(s, b)
}

// PAbs is p_abs = softmax(z)[K], the probability of the absent class K over all K+1 logits
// (higher means more OOD; DOS uses it to weigh candidate outliers).
func PAbs(logits *graph.Node, numClasses int) *graph.Node {
	_, absent, total := absentSplit("PAbs", logits, numClasses)
	return graph.Div(absent, total)
}

// AbsentLogOdds is the test score of DOS, NTOM and Share: the log-odds of the ID classes against
// the absent class K, log((1 - p_abs) / p_abs) = logsumexp(z[:K]) - z[K] over K+1 logits.
//
// It is an increasing function of the official score 1 - p_abs, so it ranks examples as the
// official code does (which takes p_abs from a float32 softmax and subtracts it in float64) and
// gives the same FPR95, AUROC and AUPR; but where 1 - p_abs rounds to exactly 1 (p_abs below
// about 6e-8 in float32, 1e-16 in float64) the log-odds stay finite and distinct, so confident
// ID examples do not tie with each other or with near-ID outliers. Computed in the log domain:
// no exponential of a logit difference can overflow or underflow.
func AbsentLogOdds(logits *graph.Node, numClasses int) *graph.Node {
	checkLogits("AbsentLogOdds", logits)
	if c := logits.Shape().Dim(1); c != numClasses+1 {
		panic(fmt.Sprintf("objectives.AbsentLogOdds: needs a net with an absent class: logits shape %s, want %d columns",
			logits.Shape(), numClasses+1))
	}
	// Shifted by the row maximum over all K+1 logits first, so that large logits of similar
	// size cancel exactly (Sterbenz) before the logsumexp, as in a softmax.
	zs, _ := shifted(logits)
	b := logits.Shape().Dim(0)
	id := graph.SliceAxis(zs, 1, graph.AxisRange(0, numClasses))
	absent := graph.Reshape(graph.SliceAxis(zs, 1, graph.AxisElem(numClasses)), b)
	return graph.Sub(LogSumExp(id), absent)
}

// scores is the registry of test scores by name.
var scores = map[string]ScoreFn{
	"msp":      MSP,
	"maxlogit": MaxLogit,
	"energy":   Energy,
	"absent":   AbsentLogOdds,
}

// ScoreNames returns the names accepted by ScoreByName, sorted.
func ScoreNames() []string {
	names := make([]string, 0, len(scores))
	for n := range scores {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ScoreByName returns the test score of the given name: msp, maxlogit, energy or absent
// (the log-odds of 1 - p_abs, AbsentLogOdds). The names are those of method.score in a run configuration.
func ScoreByName(name string) (ScoreFn, error) {
	if fn, ok := scores[name]; ok {
		return fn, nil
	}
	return nil, fmt.Errorf("objectives: unknown score %q, want one of %s", name, strings.Join(ScoreNames(), ", "))
}

// ScoreNeedsAbsentClass reports whether the named score needs a net with K+1 outputs.
func ScoreNeedsAbsentClass(name string) bool { return name == "absent" }

// PostHocScores returns the names of the logit scores that apply to a net with outputs columns
// for numClasses ID classes, in report order: msp, maxlogit and energy (over the first
// numClasses logits), and absent when the net has the absent class (outputs = numClasses+1).
// With ScoreKNN, on the features, they are the scores a trained model is evaluated with besides
// its method's own.
func PostHocScores(outputs, numClasses int) []string {
	names := []string{"msp", "maxlogit", "energy"}
	if outputs == numClasses+1 {
		names = append(names, "absent")
	}
	return names
}

// Predictions returns the predicted ID class per example, argmax over the first numClasses
// logits (ties go to the lowest index, as torch.argmax): int32 [B].
func Predictions(logits *graph.Node, numClasses int) *graph.Node {
	return graph.ArgMax(idLogits("Predictions", logits, numClasses), -1, dtypes.Int32)
}

// Accuracy returns the fraction of examples whose prediction (see Predictions) equals the
// int32 label [B], as a scalar of the logits' dtype.
func Accuracy(logits, labels *graph.Node, numClasses int) *graph.Node {
	pred := Predictions(logits, numClasses)
	if labels.DType() != dtypes.Int32 {
		labels = graph.ConvertDType(labels, dtypes.Int32)
	}
	correct := graph.ConvertDType(graph.Equal(pred, labels), logits.DType())
	return graph.ReduceAllMean(correct)
}

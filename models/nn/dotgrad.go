package nn

import (
	"fmt"
	"reflect"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// GoMLX v0.26.0 differentiates DotGeneral by broadcasting the output gradient against the other
// operand, multiplying and reducing: it materialises a [batch, lhs-cross, rhs-cross, contracted]
// product where a matrix product would do. On the pure-Go backend that was 85% of an MLP training
// step (BenchmarkTrainMLP); on XLA it turns each classifier gradient into a reduction kernel
// instead of a GEMM. This package replaces the registered gradient (graph.VJPRegistration is the
// extension point GoMLX exports for it) with the textbook one: each operand's gradient is one
// DotGeneral of the output gradient with the other operand, plus a transpose. Importing the
// package (every network does) installs it; OriginalDotGeneralVJP keeps GoMLX's for comparison.

// The same holds for Dot (what MatMul builds for operands of rank 2 or less), which is replaced too.

// OriginalDotGeneralVJP and OriginalDotVJP are GoMLX's own gradients, replaced when this package
// loads.
var (
	OriginalDotGeneralVJP = graph.VJPRegistration[graph.NodeTypeDotGeneral]
	OriginalDotVJP        = graph.VJPRegistration[graph.NodeTypeDot]
)

func init() {
	graph.VJPRegistration[graph.NodeTypeDotGeneral] = DotGeneralVJP
	graph.VJPRegistration[graph.NodeTypeDot] = DotVJP
}

// DotVJP is the gradient of Dot(lhs, rhs), which contracts lhs's last axis with rhs's first
// (vector.vector, matrix.vector, matrix.matrix), as matrix products: see DotGeneralVJP.
func DotVJP(node *graph.Node, vjpOutputs []*graph.Node, _ shapes.Shape) []*graph.Node {
	lhs, rhs := node.Inputs()[0], node.Inputs()[1]
	return dotGrads(lhs, rhs, vjpOutputs[0], dotAxes{lhsContracting: []int{lhs.Rank() - 1}, rhsContracting: []int{0}})
}

// dotAxes are the axes of a DotGeneral node.
type dotAxes struct {
	lhsContracting, lhsBatch, rhsContracting, rhsBatch []int
}

// readDotAxes reads the axes a DotGeneral node was built with. GoMLX v0.26.0 keeps them in an
// unexported struct (nodeInputsDotGeneral), read here by reflection.
func readDotAxes(node *graph.Node) (dotAxes, error) {
	v := reflect.ValueOf(node).Elem().FieldByName("inputs")
	if !v.IsValid() || v.IsNil() {
		return dotAxes{}, fmt.Errorf("DotGeneral node has no inputs field")
	}
	s := v.Elem()
	if s.Kind() == reflect.Pointer {
		s = s.Elem()
	}
	ints := func(name string) ([]int, error) {
		f := s.FieldByName(name)
		if !f.IsValid() || f.Kind() != reflect.Slice {
			return nil, fmt.Errorf("DotGeneral inputs (%s) have no []int field %q", s.Type(), name)
		}
		out := make([]int, f.Len())
		for i := range out {
			out[i] = int(f.Index(i).Int())
		}
		return out, nil
	}
	var a dotAxes
	var err error
	for _, f := range []struct {
		name string
		dst  *[]int
	}{{"lhsContractingAxes", &a.lhsContracting}, {"lhsBatchAxes", &a.lhsBatch},
		{"rhsContractingAxes", &a.rhsContracting}, {"rhsBatchAxes", &a.rhsBatch}} {
		if *f.dst, err = ints(f.name); err != nil {
			return a, err
		}
	}
	return a, nil
}

// crossAxes are the axes of an operand of the given rank that are neither contracted nor batch,
// in increasing order: the operand's part of the DotGeneral output, in that order.
func crossAxes(rank int, contracting, batch []int) []int {
	var out []int
	for a := range rank {
		if !slices.Contains(contracting, a) && !slices.Contains(batch, a) {
			out = append(out, a)
		}
	}
	return out
}

// DotGeneralVJP is the gradient of out = DotGeneral(lhs, lc, lb, rhs, rc, rb) as matrix
// products. out's axes are [batch, lhs cross, rhs cross]; with v its gradient:
//
//	d lhs = DotGeneral(v, rhs-cross axes of v, batch axes of v; rhs, rhs cross, rb), whose axes are
//	        [batch, lhs cross, rhs contracted (increasing)], transposed into lhs's order;
//	d rhs = DotGeneral(lhs, lhs cross, lb; v, lhs-cross axes of v, batch axes of v), whose axes
//	        are [batch, lhs contracted (increasing), rhs cross], transposed into rhs's order.
func DotGeneralVJP(node *graph.Node, vjpOutputs []*graph.Node, _ shapes.Shape) []*graph.Node {
	ax, err := readDotAxes(node)
	if err != nil {
		panic(fmt.Errorf("nn.DotGeneralVJP (GoMLX's internals changed?): %w", err))
	}
	return dotGrads(node.Inputs()[0], node.Inputs()[1], vjpOutputs[0], ax)
}

// dotGrads returns the gradients of DotGeneral(lhs, ax, rhs) given v, the output's gradient.
func dotGrads(lhs, rhs, v *graph.Node, ax dotAxes) []*graph.Node {
	nb := len(ax.lhsBatch)
	lCross := crossAxes(lhs.Rank(), ax.lhsContracting, ax.lhsBatch)
	rCross := crossAxes(rhs.Rank(), ax.rhsContracting, ax.rhsBatch)
	vBatch := iotaFrom(0, nb)
	vLCross := iotaFrom(nb, len(lCross))
	vRCross := iotaFrom(nb+len(lCross), len(rCross))

	// d lhs: [batch, lhs cross, rhs contracted in increasing rhs order].
	g := graph.DotGeneral(v, vRCross, vBatch, rhs, rCross, ax.rhsBatch)
	rc := slices.Sorted(slices.Values(ax.rhsContracting))
	perm := make([]int, lhs.Rank())
	for i, a := range ax.lhsBatch {
		perm[a] = i
	}
	for j, a := range lCross {
		perm[a] = nb + j
	}
	for i, a := range ax.lhsContracting {
		perm[a] = nb + len(lCross) + slices.Index(rc, ax.rhsContracting[i])
	}
	dLHS := transposeIfNeeded(g, perm)

	// d rhs: [batch, lhs contracted in increasing lhs order, rhs cross].
	g = graph.DotGeneral(lhs, lCross, ax.lhsBatch, v, vLCross, vBatch)
	lc := slices.Sorted(slices.Values(ax.lhsContracting))
	perm = make([]int, rhs.Rank())
	for i, a := range ax.rhsBatch {
		perm[a] = i
	}
	for i, a := range ax.rhsContracting {
		perm[a] = nb + slices.Index(lc, ax.lhsContracting[i])
	}
	for j, a := range rCross {
		perm[a] = nb + len(lc) + j
	}
	dRHS := transposeIfNeeded(g, perm)
	return []*graph.Node{dLHS, dRHS}
}

func iotaFrom(start, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = start + i
	}
	return out
}

func transposeIfNeeded(x *graph.Node, perm []int) *graph.Node {
	for i, p := range perm {
		if i != p {
			return graph.TransposeAllAxes(x, perm...)
		}
	}
	return x
}

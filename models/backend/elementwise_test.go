package backend

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// withSimpleGoElementwise runs f with SimpleGo's own executors for the ops elementwise.go
// replaces, and restores the replacements after.
func withSimpleGoElementwise(f func()) {
	saved := simplegoExecutors
	defer func() { simplegoExecutors = saved }()
	for op, e := range simplegoBinary {
		simplegoExecutors[op] = e
	}
	simplegoExecutors[backends.OpTypeBroadcastInDim] = simplegoBroadcastInDim
	simplegoExecutors[backends.OpTypeReduceSum] = simplegoReduceSum
	simplegoExecutors[backends.OpTypeWhere] = simplegoWhere
	f()
}

// The fast element-wise executors give SimpleGo's results bit for bit: broadcast binary ops in
// both operand orders, broadcasts of blocks and scalars (and a broadcast they leave to SimpleGo),
// sums over leading, trailing and middle axes, selections with full and scalar values. The
// values include negative zeros, infinities and NaN, whose handling must not change.
func TestElementwiseMatchesSimpleGo(t *testing.T) {
	b := newGo(t)
	r := rand.New(rand.NewPCG(3, 4))
	x := randF32(r, 4*5*6*7)
	for i, v := range []float32{float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.NaN()), 0, float32(math.Inf(-1))} {
		x[i*13] = v
	}
	v := randF32(r, 7)
	v[2] = 0
	fn := func(x, v *Node) []*Node {
		vb := Reshape(v, 1, 1, 1, 7)
		col := Reshape(Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(0, 1)), 4, 5, 6, 1) // [4,5,6,1]: not a suffix block
		pos := GreaterThan(x, ScalarZero(x.Graph(), x.DType()))
		return []*Node{
			Add(x, vb), Add(vb, x), Sub(x, vb), Sub(vb, x), Mul(x, vb), Mul(vb, x), Div(x, vb), Div(vb, x),
			Mul(x, col), Sub(col, x),
			BroadcastPrefix(v, 3, 2), BroadcastToDims(Reshape(v, 7, 1), 7, 4), BroadcastToDims(Scalar(x.Graph(), x.DType(), 1.5), 3, 4),
			ReduceSum(x, 0, 1, 2), ReduceSum(x, 0), ReduceSum(x, 3), ReduceSum(x, 2, 3), ReduceSum(x, 1), ReduceSum(x, 0, 2),
			Where(pos, x, ZerosLike(x)), Where(pos, ZerosLike(x), x), Where(pos, x, Neg(x)),
			Where(pos, x, Scalar(x.Graph(), x.DType(), 2)), Where(pos, Scalar(x.Graph(), x.DType(), -1), x),
		}
	}
	run := func() [][]float32 {
		e, err := NewExec(b, fn)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Finalize()
		outs, err := e.Exec(tensors.FromFlatDataAndDimensions(x, 4, 5, 6, 7), tensors.FromFlatDataAndDimensions(v, 7))
		if err != nil {
			t.Fatal(err)
		}
		var res [][]float32
		for _, o := range outs {
			res = append(res, tensors.MustCopyFlatData[float32](o))
		}
		return res
	}
	got := run()
	var want [][]float32
	withSimpleGoElementwise(func() { want = run() })
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("output %d: %d values, SimpleGo %d", i, len(got[i]), len(want[i]))
		}
		for j := range want[i] {
			g, w := got[i][j], want[i][j]
			if math.Float32bits(g) != math.Float32bits(w) && !(g != g && w != w) {
				t.Fatalf("output %d, element %d: %g, SimpleGo %g", i, j, g, w)
			}
		}
	}
}

package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/oodlab/dos/internal/testutil"
)

// TestDotGeneralVJP compares the matrix-product gradient of graph.DotGeneral with GoMLX's own
// (broadcast, multiply, reduce) on contractions of every kind: plain and transposed matrix
// products, batch axes first and not first, several contracted axes paired out of order, several
// crossed axes, and an outer product. The loss weights every output differently.
func TestDotGeneralVJP(t *testing.T) {
	if graph.VJPRegistration[graph.NodeTypeDotGeneral] == nil || OriginalDotGeneralVJP == nil {
		t.Fatal("gradient registry not set")
	}
	cases := []struct {
		lhs, rhs    []int
		lc, lb      []int
		rc, rb      []int
		outElements int
	}{
		{[]int{4, 3}, []int{3, 5}, []int{1}, nil, []int{0}, nil, 20},
		{[]int{4, 3}, []int{5, 3}, []int{1}, nil, []int{1}, nil, 20},
		{[]int{2, 4, 3}, []int{2, 3, 5}, []int{2}, []int{0}, []int{1}, []int{0}, 40},
		{[]int{4, 2, 3}, []int{3, 2, 5}, []int{2}, []int{1}, []int{0}, []int{1}, 40},
		{[]int{2, 3, 4, 5}, []int{4, 6, 3}, []int{1, 2}, nil, []int{2, 0}, nil, 60},
		{[]int{2, 3, 4}, []int{2, 4, 5, 6}, []int{2}, []int{0}, []int{1}, []int{0}, 180},
		{[]int{3}, []int{4}, nil, nil, nil, nil, 12},
	}
	be := testutil.GoBackend(t)
	r := rand.New(rand.NewPCG(1, 2))
	for i, c := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			lhs, rhs := normal(r, c.lhs...), normal(r, c.rhs...)
			w := normal(r, c.outElements)
			grads := func(vjp graph.VJP) [2][]float64 {
				graph.VJPRegistration[graph.NodeTypeDotGeneral] = vjp
				defer func() { graph.VJPRegistration[graph.NodeTypeDotGeneral] = DotGeneralVJP }()
				exec, err := graph.NewExec(be, func(l, rr, ww *graph.Node) []*graph.Node {
					out := graph.DotGeneral(l, c.lc, c.lb, rr, c.rc, c.rb)
					if out.Shape().Size() != c.outElements {
						panic(fmt.Sprintf("output %s, want %d elements", out.Shape(), c.outElements))
					}
					loss := graph.ReduceAllSum(graph.Mul(graph.Reshape(out, c.outElements), ww))
					return graph.Gradient(loss, l, rr)
				})
				if err != nil {
					t.Fatal(err)
				}
				defer exec.Finalize()
				outs, err := exec.Exec(lhs, rhs, w)
				if err != nil {
					t.Fatal(err)
				}
				if !outs[0].Shape().Equal(shapes.Make(dtypes.Float64, c.lhs...)) || !outs[1].Shape().Equal(shapes.Make(dtypes.Float64, c.rhs...)) {
					t.Fatalf("gradient shapes %s, %s", outs[0].Shape(), outs[1].Shape())
				}
				return [2][]float64{tensors.MustCopyFlatData[float64](outs[0]), tensors.MustCopyFlatData[float64](outs[1])}
			}
			sameGrads(t, fmt.Sprintf("%v x %v", c.lhs, c.rhs), grads(DotGeneralVJP), grads(OriginalDotGeneralVJP))
		})
	}
}

// TestDotVJP compares the replacement gradient of Dot (vector.vector, matrix.vector,
// matrix.matrix) with GoMLX's own.
func TestDotVJP(t *testing.T) {
	be := testutil.GoBackend(t)
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct{ lhs, rhs []int }{{[]int{5}, []int{5}}, {[]int{4, 5}, []int{5}}, {[]int{4, 5}, []int{5, 3}}} {
		lhs, rhs := normal(r, c.lhs...), normal(r, c.rhs...)
		grads := func(vjp graph.VJP) [2][]float64 {
			graph.VJPRegistration[graph.NodeTypeDot] = vjp
			defer func() { graph.VJPRegistration[graph.NodeTypeDot] = DotVJP }()
			exec, err := graph.NewExec(be, func(l, rr *graph.Node) []*graph.Node {
				out := graph.Dot(l, rr)
				w := graph.Const(l.Graph(), 1.5)
				if out.Rank() > 0 {
					w = graph.AddScalar(graph.Iota(l.Graph(), out.Shape(), 0), 0.5)
				}
				return graph.Gradient(graph.ReduceAllSum(graph.Mul(out, w)), l, rr)
			})
			if err != nil {
				t.Fatal(err)
			}
			defer exec.Finalize()
			outs, err := exec.Exec(lhs, rhs)
			if err != nil {
				t.Fatal(err)
			}
			return [2][]float64{tensors.MustCopyFlatData[float64](outs[0]), tensors.MustCopyFlatData[float64](outs[1])}
		}
		sameGrads(t, fmt.Sprintf("%v . %v", c.lhs, c.rhs), grads(DotVJP), grads(OriginalDotVJP))
	}
}

// TestDotGeneralVJPUsesMatrixProducts checks the point of the replacement: the gradients of a
// matrix product are two matrix products, with no rank-3 broadcast of the output gradient.
func TestDotGeneralVJPUsesMatrixProducts(t *testing.T) {
	g := graph.NewGraph(testutil.GoBackend(t), "count")
	x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 128, 342))
	w := graph.Parameter(g, "w", shapes.Make(dtypes.Float32, 342, 101))
	grads := graph.Gradient(graph.ReduceAllSum(graph.MatMul(x, w)), x, w)
	dots, broadcasts := 0, 0
	seen := map[*graph.Node]bool{}
	var walk func(n *graph.Node)
	walk = func(n *graph.Node) {
		if seen[n] {
			return
		}
		seen[n] = true
		switch n.Type() {
		case graph.NodeTypeDotGeneral, graph.NodeTypeDot:
			dots++
		case graph.NodeTypeBroadcastInDim:
			if n.Shape().Rank() > 2 {
				broadcasts++
			}
		}
		for _, in := range n.Inputs() {
			walk(in)
		}
	}
	for _, gr := range grads {
		walk(gr)
	}
	if dots != 2 || broadcasts != 0 {
		t.Errorf("gradients: %d matrix products (want 2: d x, d w) and %d rank-3 broadcasts (want 0)", dots, broadcasts)
	}
}

// normal returns a float64 tensor of the given dimensions with N(0,1) entries.
func normal(r *rand.Rand, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	x := make([]float64, n)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	return tensors.FromFlatDataAndDimensions(x, dims...)
}

// sameGrads fails unless our gradients (d lhs, d rhs) equal GoMLX's to float64 rounding.
func sameGrads(t *testing.T, what string, ours, theirs [2][]float64) {
	t.Helper()
	for k, name := range []string{"d lhs", "d rhs"} {
		for j := range ours[k] {
			if math.Abs(ours[k][j]-theirs[k][j]) > 1e-12*(1+math.Abs(theirs[k][j])) {
				t.Fatalf("%s: %s[%d] = %v, GoMLX's gradient gives %v", what, name, j, ours[k][j], theirs[k][j])
			}
		}
	}
}

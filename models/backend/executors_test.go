package backend

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/oodlab/dos/internal/assert"
	"github.com/oodlab/dos/internal/gemm"
)

func newGo(t *testing.T) *GoBackend {
	t.Helper()
	b, err := NewGo("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Finalize)
	return b.(*GoBackend)
}

func funcPointer(f any) uintptr { return reflect.ValueOf(f).Pointer() }

// The replacement is in place: SimpleGo v0.26.0's internals were found and the executor table
// holds this package's executors.
func TestExecutorsReplaced(t *testing.T) {
	if err := InternalsError(); err != nil {
		t.Fatalf("SimpleGo's internals not found, the pure-Go backend runs SimpleGo's executors: %v", err)
	}
	for op, f := range map[backends.OpType]nodeExecutor{
		backends.OpTypeDotGeneral: execDotGeneral, backends.OpTypeConvGeneral: execConvGeneral,
		backends.OpTypeReduceSum: execReduceSum, backends.OpTypeWhere: execWhere, backends.OpTypeBroadcastInDim: execBroadcastInDim,
	} {
		if funcPointer(simplegoExecutors[op]) != funcPointer(f) {
			t.Errorf("the executor of %s is not this package's", op)
		}
	}
}

func randF32(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// at returns element idx of a row-major tensor of dimensions dims.
func at(v []float32, dims, idx []int) float32 {
	off := 0
	for i, d := range dims {
		off = off*d + idx[i]
	}
	return v[off]
}

// Every layout of DotGeneral that GoMLX produces (and some it does not: batch axes last,
// contracting axes out of order) gives, element by element, gemm.Dot of the element's row and
// column: the arithmetic of internal/gemm, whatever the layout. SimpleGo's own DotGeneral sums in
// another order and fails this.
func TestDotGeneralIsGemm(t *testing.T) {
	b := newGo(t)
	r := rand.New(rand.NewPCG(1, 2))
	type axes struct{ contract, batch []int }
	for _, tc := range []struct {
		name       string
		lhs, rhs   []int
		lAx, rAx   axes
		batch      []int // batch sizes
		lc, rc     []int // lhs and rhs cross sizes
		contracted []int // contracted sizes
	}{
		{"matmul", []int{7, 65}, []int{65, 9}, axes{[]int{1}, nil}, axes{[]int{0}, nil}, nil, []int{7}, []int{9}, []int{65}},
		{"lhs transposed", []int{33, 17}, []int{33, 5}, axes{[]int{0}, nil}, axes{[]int{0}, nil}, nil, []int{17}, []int{5}, []int{33}},
		{"rhs transposed", []int{8, 40}, []int{31, 40}, axes{[]int{1}, nil}, axes{[]int{1}, nil}, nil, []int{8}, []int{31}, []int{40}},
		{"batch first", []int{3, 5, 64}, []int{3, 64, 17}, axes{[]int{2}, []int{0}}, axes{[]int{1}, []int{0}}, []int{3}, []int{5}, []int{17}, []int{64}},
		{"batch last", []int{5, 9, 2}, []int{9, 6, 2}, axes{[]int{1}, []int{2}}, axes{[]int{0}, []int{2}}, []int{2}, []int{5}, []int{6}, []int{9}},
		{"two contracting axes reversed", []int{4, 3, 11}, []int{11, 3, 2}, axes{[]int{2, 1}, nil}, axes{[]int{0, 1}, nil}, nil, []int{4}, []int{2}, []int{11, 3}},
		{"vector", []int{70}, []int{70}, axes{[]int{0}, nil}, axes{[]int{0}, nil}, nil, nil, nil, []int{70}},
	} {
		ls, rs := randF32(r, prod(tc.lhs)), randF32(r, prod(tc.rhs))
		e, err := NewExec(b, func(l, rr *Node) *Node {
			return DotGeneral(l, tc.lAx.contract, tc.lAx.batch, rr, tc.rAx.contract, tc.rAx.batch)
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := e.Exec(tensors.FromFlatDataAndDimensions(ls, tc.lhs...), tensors.FromFlatDataAndDimensions(rs, tc.rhs...))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := tensors.MustCopyFlatData[float32](out[0])
		// Element (batch..., lcross..., rcross...): its row of lhs and column of rhs, in the order
		// of the contracting axes.
		outDims := append(append(append([]int{}, tc.batch...), tc.lc...), tc.rc...)
		if len(got) != prod(outDims) {
			t.Fatalf("%s: %d values, want %v", tc.name, len(got), outDims)
		}
		k := prod(tc.contracted)
		row, col := make([]float32, k), make([]float32, k)
		for flat := range got {
			idx := unflatten(flat, outDims)
			bi, li, ri := idx[:len(tc.batch)], idx[len(tc.batch):len(tc.batch)+len(tc.lc)], idx[len(tc.batch)+len(tc.lc):]
			for p := range k {
				ci := unflatten(p, tc.contracted)
				row[p] = at(ls, tc.lhs, place(len(tc.lhs), tc.lAx.contract, ci, tc.lAx.batch, bi, li))
				col[p] = at(rs, tc.rhs, place(len(tc.rhs), tc.rAx.contract, ci, tc.rAx.batch, bi, ri))
			}
			if want := gemm.Dot(row, col); math.Float32bits(got[flat]) != math.Float32bits(want) {
				t.Fatalf("%s: element %v = %g, gemm.Dot gives %g", tc.name, idx, got[flat], want)
			}
		}
	}
}

func prod(d []int) int {
	p := 1
	for _, v := range d {
		p *= v
	}
	return p
}

func unflatten(flat int, dims []int) []int {
	idx := make([]int, len(dims))
	for i := len(dims) - 1; i >= 0; i-- {
		idx[i] = flat % dims[i]
		flat /= dims[i]
	}
	return idx
}

// place builds an operand index from the contracting, batch and cross (the remaining axes, in
// order) indices.
func place(rank int, contract, ci, batch, bi, cross []int) []int {
	idx := make([]int, rank)
	used := make([]bool, rank)
	for i, a := range contract {
		idx[a], used[a] = ci[i], true
	}
	for i, a := range batch {
		idx[a], used[a] = bi[i], true
	}
	j := 0
	for a := range rank {
		if !used[a] {
			idx[a] = cross[j]
			j++
		}
	}
	return idx
}

// The float32 convolution (execConvGeneral) agrees with SimpleGo's own float64 convolution on
// the forward pass and both gradients, whose convolutions have swapped axes, input dilations
// for strided convolutions and negative paddings, in both channel layouts, with kernel dilation
// and in one and three spatial dimensions.
func TestConvMatchesFloat64(t *testing.T) {
	b := newGo(t)
	inner, err := simplego.New("ops_sequential")
	if err != nil {
		t.Fatal(err)
	}
	native := &GoBackend{Backend: inner, NativeConv: true}
	defer native.Finalize()
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct {
		spatial             []int
		cin, cout, k        int
		stride, dilation    int
		pad                 [][2]int
		first               bool
		batch               int
		name                string
		kernelSpatialLayout bool
	}{
		{spatial: []int{6, 6}, cin: 2, cout: 3, k: 3, stride: 1, pad: [][2]int{{1, 1}, {1, 1}}},
		{spatial: []int{7, 6}, cin: 2, cout: 3, k: 3, stride: 2, pad: [][2]int{{1, 1}, {1, 1}}},
		{spatial: []int{5, 5}, cin: 3, cout: 4, k: 1, stride: 1},
		{spatial: []int{6, 6}, cin: 3, cout: 4, k: 1, stride: 2},
		{spatial: []int{9, 8}, cin: 1, cout: 2, k: 7, stride: 2, pad: [][2]int{{3, 3}, {3, 3}}},
		{spatial: []int{6, 5}, cin: 2, cout: 3, k: 3, stride: 1, pad: [][2]int{{1, 1}, {1, 1}}, first: true},
		{spatial: []int{7, 7}, cin: 2, cout: 2, k: 2, stride: 2, first: true},
		{spatial: []int{10, 9}, cin: 20, cout: 17, k: 3, stride: 1, dilation: 2, pad: [][2]int{{2, 2}, {2, 2}}},
		{spatial: []int{12, 12}, cin: 16, cout: 33, k: 3, stride: 1, pad: [][2]int{{1, 1}, {1, 1}}, batch: 5},
		{spatial: []int{11}, cin: 4, cout: 5, k: 3, stride: 2, pad: [][2]int{{1, 1}}},
		{spatial: []int{4, 5, 3}, cin: 2, cout: 3, k: 3, stride: 1, pad: [][2]int{{1, 1}, {1, 1}, {1, 1}}},
	} {
		batch := max(tc.batch, 2)
		name := fmt.Sprintf("%vx%d-k%d-s%d-d%d-pad%v-first%v-b%d", tc.spatial, tc.cin, tc.k, tc.stride, tc.dilation, tc.pad, tc.first, batch)
		s := len(tc.spatial)
		xDims := append(append([]int{batch}, tc.spatial...), tc.cin)
		kDims := append(slices.Repeat([]int{tc.k}, s), tc.cin, tc.cout)
		if tc.first {
			xDims = append([]int{batch, tc.cin}, tc.spatial...)
			kDims = append([]int{tc.cout, tc.cin}, slices.Repeat([]int{tc.k}, s)...)
		}
		xs, ks := randSlice(r, prod(xDims)), randSlice(r, prod(kDims))
		fn := convAndGrads(tc.stride, tc.dilation, tc.pad, tc.first)
		run := func(b backends.Backend, x, k *tensors.Tensor) []*tensors.Tensor {
			e, err := NewExec(b, fn)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out, err := e.Exec(x, k)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return out
		}
		want := run(native, tensors.FromFlatDataAndDimensions(xs, xDims...), tensors.FromFlatDataAndDimensions(ks, kDims...))
		got := run(b, tensors.FromFlatDataAndDimensions(toF32(xs), xDims...), tensors.FromFlatDataAndDimensions(toF32(ks), kDims...))
		for i, what := range []string{"output", "d/dx", "d/dkernel"} {
			if !got[i].Shape().EqualDimensions(want[i].Shape()) {
				t.Fatalf("%s %s: shape %s, want %s", name, what, got[i].Shape(), want[i].Shape())
			}
			g32 := tensors.MustCopyFlatData[float32](got[i])
			g := make([]float64, len(g32))
			for j, v := range g32 {
				g[j] = float64(v)
			}
			// float32 products of up to a few hundred terms of size 1: within 1e-5.
			assert.Close(t, name+" "+what, g, tensors.MustCopyFlatData[float64](want[i]), assert.Tol{Rel: 1e-5, Abs: 1e-5})
		}
	}
}

func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

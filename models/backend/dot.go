package backend

import (
	"slices"
	"sync"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"

	"github.com/oodlab/dos/internal/gemm"
)

// execDotGeneral runs a float32 DotGeneral with internal/gemm: the operands are read in place
// when their batch, cross and contracting axes each reduce to one stride (the layouts GoMLX's
// matrix products and their gradients produce), else after one transposing copy. The output is
// [batch, lhs cross, rhs cross], as SimpleGo's DotGeneral node defines it (its builder reshapes
// it to the final dimensions).
func execDotGeneral(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (*simplego.Buffer, error) {
	flats, shps, ok, err := float32Inputs(backend, inputs[0], inputs[1])
	if err != nil {
		return nil, err
	}
	if !ok {
		return simplegoDotGeneral(backend, node, inputs, owned)
	}
	p, err := simplegoInternals.dotParams(node)
	if err != nil {
		return nil, err
	}
	batch, m, n, k := p.batchSize, p.lhsCrossSize, p.rhsCrossSize, p.contractingSize
	var scratch []*[]float32
	defer func() {
		for _, s := range scratch {
			scratchPool.Put(s)
		}
	}()
	view := func(flat []float32, dims, contracting, batchAxes []int, cross int) gemm.Matrix {
		if v, ok := operandView(dims, contracting, batchAxes); ok {
			v.Data = flat
			return v
		}
		buf := getScratch(len(flat))
		scratch = append(scratch, buf)
		perm := slices.Concat(batchAxes, crossAxes(len(dims), contracting, batchAxes), contracting)
		transposeCopy(*buf, flat, dims, perm)
		return gemm.Matrix{Data: *buf, RowStride: k, ColStride: 1, BatchStride: cross * k}
	}
	a := view(flats[0], shps[0].Dimensions, p.lhsContractingAxes, p.lhsBatchAxes, m)
	bt := view(flats[1], shps[1].Dimensions, p.rhsContractingAxes, p.rhsBatchAxes, n) // [batch, n, k]
	b := gemm.Matrix{Data: bt.Data, RowStride: bt.ColStride, ColStride: bt.RowStride, BatchStride: bt.BatchStride}
	out, c, err := newOutput(backend, shapes.Make(dtypes.Float32, batch, m, n))
	if err != nil {
		return nil, err
	}
	gemm.Multiply(batch, m, n, k, a, b, c, simplegoInternals.threads(backend))
	return out, nil
}

// crossAxes returns the axes of a rank-r operand that are neither contracting nor batch, in order.
func crossAxes(rank int, contracting, batch []int) []int {
	var out []int
	for a := range rank {
		if !slices.Contains(contracting, a) && !slices.Contains(batch, a) {
			out = append(out, a)
		}
	}
	return out
}

// operandView returns the [batch, cross, contracting] view of a row-major operand of dimensions
// dims (Data unset), if each group of axes (batch and contracting in the order given, cross in
// order) is one run of memory with a single stride. Axes of dimension 1 do not count.
func operandView(dims, contracting, batch []int) (gemm.Matrix, bool) {
	strides := rowMajorStrides(dims)
	group := func(axes []int) (int, bool) {
		stride, next := 0, -1 // next: the stride the previous axis must have
		for i := len(axes) - 1; i >= 0; i-- {
			a := axes[i]
			if dims[a] == 1 {
				continue
			}
			if next >= 0 && strides[a] != next {
				return 0, false
			}
			if next < 0 {
				stride = strides[a]
			}
			next = strides[a] * dims[a]
		}
		return stride, true
	}
	bs, ok1 := group(batch)
	rs, ok2 := group(crossAxes(len(dims), contracting, batch))
	cs, ok3 := group(contracting)
	return gemm.Matrix{RowStride: rs, ColStride: cs, BatchStride: bs}, ok1 && ok2 && ok3
}

func rowMajorStrides(dims []int) []int {
	s := make([]int, len(dims))
	st := 1
	for i := len(dims) - 1; i >= 0; i-- {
		s[i] = st
		st *= dims[i]
	}
	return s
}

// transposeCopy writes src (row-major, dimensions dims) to dst with its axes permuted: axis i
// of dst is axis perm[i] of src.
func transposeCopy(dst, src []float32, dims, perm []int) {
	rank := len(dims)
	if rank == 0 {
		dst[0] = src[0]
		return
	}
	ss := rowMajorStrides(dims)
	d := make([]int, rank)  // dst dimensions
	st := make([]int, rank) // src stride of each dst axis
	for i, a := range perm {
		d[i], st[i] = dims[a], ss[a]
	}
	inner, is := d[rank-1], st[rank-1]
	idx := make([]int, rank)
	off := 0
	for o := 0; o < len(dst); o += inner {
		row := dst[o : o+inner]
		if is == 1 {
			copy(row, src[off:off+inner])
		} else {
			for j := range row {
				row[j] = src[off+j*is]
			}
		}
		for ax := rank - 2; ax >= 0; ax-- {
			idx[ax]++
			off += st[ax]
			if idx[ax] < d[ax] {
				break
			}
			off -= st[ax] * d[ax]
			idx[ax] = 0
		}
	}
}

var scratchPool = sync.Pool{New: func() any { return new([]float32) }}

// getScratch returns a buffer of n values from a pool (put it back with scratchPool.Put).
func getScratch(n int) *[]float32 {
	p := scratchPool.Get().(*[]float32)
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	*p = (*p)[:n]
	return p
}

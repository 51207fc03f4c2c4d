package backend

import (
	"slices"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Fast paths for the float32 element-wise ops that batch normalisation, ReLU and their gradients
// run on every activation of a convolutional network. SimpleGo v0.26.0 executes a binary op
// whose operands differ in shape, a BroadcastInDim and a reduction over some axes with a
// per-element index iterator (several nanoseconds per element), and Where with a branch per
// element, which the processor mispredicts on ReLU's signs. The executors below handle the
// common layouts with plain loops over rows and leave every other case to SimpleGo:
//
//   - Add, Sub, Mul, Div where one operand is the output's shape and the other is broadcast
//     over leading axes ([1, ..., 1, C] against [N, H, W, C]: a per-channel vector);
//   - BroadcastInDim of a block over leading axes (rows repeated) or of a scalar;
//   - ReduceSum over leading axes or over trailing axes, adding in the operand's order as
//     SimpleGo does (so every sum is the same, bit for bit);
//   - Where with the value operands of the output's shape or scalars, without branches.
//
// Each computes exactly what SimpleGo computes (one IEEE operation per element, sums in the
// same order): only the time changes. elementwise_test.go compares them with SimpleGo's results.

var simplegoBinary = map[backends.OpType]nodeExecutor{}

var simplegoBroadcastInDim, simplegoReduceSum, simplegoWhere nodeExecutor

func installElementwise() {
	for _, op := range []backends.OpType{backends.OpTypeAdd, backends.OpTypeSub, backends.OpTypeMul, backends.OpTypeDiv} {
		simplegoBinary[op] = simplegoExecutors[op]
		simplegoExecutors[op] = binaryExecutor(op)
	}
	simplegoBroadcastInDim = simplegoExecutors[backends.OpTypeBroadcastInDim]
	simplegoExecutors[backends.OpTypeBroadcastInDim] = execBroadcastInDim
	simplegoReduceSum = simplegoExecutors[backends.OpTypeReduceSum]
	simplegoExecutors[backends.OpTypeReduceSum] = execReduceSum
	simplegoWhere = simplegoExecutors[backends.OpTypeWhere]
	simplegoExecutors[backends.OpTypeWhere] = execWhere
}

// suffixBlock reports whether a same-rank operand of dimensions d, broadcast to out, is a block
// repeated over leading axes: d is 1 on a prefix of the axes and equal to out on the rest. It
// returns the block's size.
func suffixBlock(d, out []int) (int, bool) {
	if len(d) != len(out) {
		return 0, false
	}
	i := 0
	for i < len(d) && d[i] == 1 && out[i] != 1 {
		i++
	}
	block := 1
	for ; i < len(d); i++ {
		if d[i] != out[i] {
			return 0, false
		}
		block *= d[i]
	}
	return block, true
}

// outputFor returns the buffer to write the result of shape into: an owned input of that shape
// (marked taken, as SimpleGo's executors do) or a new one.
func outputFor(backend *simplego.Backend, shape shapes.Shape, inputs []*simplego.Buffer, owned []bool, flats [][]float32, shps []shapes.Shape, candidates ...int) (*simplego.Buffer, []float32, error) {
	for _, i := range candidates {
		if owned[i] && shps[i].Equal(shape) {
			buf := inputs[i]
			inputs[i] = nil
			return buf, flats[i], nil
		}
	}
	return newOutput(backend, shape)
}

func binaryExecutor(op backends.OpType) nodeExecutor {
	return func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (*simplego.Buffer, error) {
		original := simplegoBinary[op]
		flats, shps, ok, err := float32Inputs(backend, inputs[0], inputs[1])
		if err != nil {
			return nil, err
		}
		if !ok {
			return original(backend, node, inputs, owned)
		}
		out := simplegoInternals.shape(node)
		full := -1 // the operand of the output's shape
		switch {
		case shps[0].Equal(out) && !shps[1].Equal(out) && shps[1].Size() > 1:
			full = 0
		case shps[1].Equal(out) && !shps[0].Equal(out) && shps[0].Size() > 1:
			full = 1
		}
		if full < 0 {
			return original(backend, node, inputs, owned)
		}
		block, ok := suffixBlock(shps[1-full].Dimensions, out.Dimensions)
		if !ok {
			return original(backend, node, inputs, owned)
		}
		a, v := flats[full], flats[1-full] // a: the full operand, v: the repeated block
		buf, o, err := outputFor(backend, out, inputs, owned, flats, shps, full)
		if err != nil {
			return nil, err
		}
		rowsBroadcast(op, full == 0, o, a, v, block)
		return buf, nil
	}
}

// rowsBroadcast computes o = a op v (aLeft) or v op a, v repeated over the rows of a.
func rowsBroadcast(op backends.OpType, aLeft bool, o, a, v []float32, block int) {
	v = v[:block]
	for r := 0; r+block <= len(a); r += block {
		or, ar := o[r:r+block:r+block], a[r:r+block:r+block]
		switch {
		case op == backends.OpTypeAdd:
			for i, x := range ar {
				or[i] = x + v[i]
			}
		case op == backends.OpTypeMul:
			for i, x := range ar {
				or[i] = x * v[i]
			}
		case op == backends.OpTypeSub && aLeft:
			for i, x := range ar {
				or[i] = x - v[i]
			}
		case op == backends.OpTypeSub:
			for i, x := range ar {
				or[i] = v[i] - x
			}
		case op == backends.OpTypeDiv && aLeft:
			for i, x := range ar {
				or[i] = x / v[i]
			}
		default: // Div, v / a
			for i, x := range ar {
				or[i] = v[i] / x
			}
		}
	}
}

// execBroadcastInDim repeats a block over leading axes, or a scalar.
func execBroadcastInDim(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (*simplego.Buffer, error) {
	flats, shps, ok, err := float32Inputs(backend, inputs[0])
	if err != nil {
		return nil, err
	}
	axes, isAxes := simplegoInternals.data(node).([]int)
	if !ok || !isAxes {
		return simplegoBroadcastInDim(backend, node, inputs, owned)
	}
	out := simplegoInternals.shape(node)
	// The operand with the output's rank: its dimensions on the mapped axes, 1 elsewhere.
	d := slices.Repeat([]int{1}, out.Rank())
	for i, a := range axes {
		d[a] = shps[0].Dimensions[i]
	}
	block, ok := suffixBlock(d, out.Dimensions)
	if shps[0].Size() == 1 {
		block, ok = 1, true
	}
	if !ok || block == 0 {
		return simplegoBroadcastInDim(backend, node, inputs, owned)
	}
	buf, o, err := newOutput(backend, out)
	if err != nil {
		return nil, err
	}
	repeat(o, flats[0][:block])
	return buf, nil
}

// repeat fills o with copies of v (len(o) a multiple of len(v)), doubling the filled part.
func repeat(o, v []float32) {
	if len(o) == 0 {
		return
	}
	n := copy(o, v)
	for n < len(o) {
		n += copy(o[n:], o[:n])
	}
}

// execReduceSum sums over leading axes (per-channel sums) or trailing axes, in the operand's
// order, as SimpleGo does.
func execReduceSum(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (*simplego.Buffer, error) {
	flats, shps, ok, err := float32Inputs(backend, inputs[0])
	if err != nil {
		return nil, err
	}
	axes, isAxes := simplegoInternals.data(node).([]int)
	if !ok || !isAxes || len(axes) == 0 {
		return simplegoReduceSum(backend, node, inputs, owned)
	}
	dims := shps[0].Dimensions
	sorted := slices.Sorted(slices.Values(axes))
	reduced := 1
	for _, a := range sorted {
		reduced *= dims[a]
	}
	leading, trailing := true, true
	for i, a := range sorted {
		leading = leading && a == i
		trailing = trailing && a == len(dims)-len(sorted)+i
	}
	if (!leading && !trailing) || reduced == 0 {
		return simplegoReduceSum(backend, node, inputs, owned)
	}
	out := simplegoInternals.shape(node)
	buf, o, err := newOutput(backend, out)
	if err != nil {
		return nil, err
	}
	x := flats[0]
	if leading {
		// o[c] = x[c] + x[C+c] + ..., rows in order.
		c := len(o)
		clear(o)
		for r := 0; r+c <= len(x); r += c {
			row := x[r : r+c : r+c]
			for i, v := range row {
				o[i] += v
			}
		}
		return buf, nil
	}
	for i := range o {
		var s float32
		for _, v := range x[i*reduced : (i+1)*reduced] {
			s += v
		}
		o[i] = s
	}
	return buf, nil
}

// execWhere selects without branches when the values are of the output's shape or scalars.
func execWhere(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (*simplego.Buffer, error) {
	cs, err := backend.BufferShape(inputs[0])
	if err != nil {
		return nil, err
	}
	flats, shps, ok, err := float32Inputs(backend, inputs[1], inputs[2])
	if err != nil {
		return nil, err
	}
	out := simplegoInternals.shape(node)
	if !ok || cs.DType != dtypes.Bool || cs.Size() != out.Size() {
		return simplegoWhere(backend, node, inputs, owned)
	}
	for _, s := range shps {
		if !s.Equal(out) && s.Size() != 1 {
			return simplegoWhere(backend, node, inputs, owned)
		}
	}
	cf, err := backend.BufferData(inputs[0])
	if err != nil {
		return nil, err
	}
	cond := cf.([]bool)
	if len(cond) != out.Size() {
		return simplegoWhere(backend, node, inputs, owned)
	}
	// Owned value operands may become the output; 1 and 2 index inputs, 0 and 1 flats.
	var buf *simplego.Buffer
	var o []float32
	switch {
	case owned[1] && shps[0].Equal(out):
		buf, o = inputs[1], flats[0]
		inputs[1] = nil
	case owned[2] && shps[1].Equal(out):
		buf, o = inputs[2], flats[1]
		inputs[2] = nil
	default:
		if buf, o, err = newOutput(backend, out); err != nil {
			return nil, err
		}
	}
	selectBits(o, cond, flats[0], flats[1])
	return buf, nil
}

// selectBits sets o[i] = t[i] where c[i], else f[i] (t or f of length 1: the same value for
// every i), on the bit patterns with a mask instead of a branch. o may be t or f.
func selectBits(o []float32, c []bool, t, f []float32) {
	ob := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(o))), len(o))
	tb := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(t))), len(t))
	fb := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(f))), len(f))
	cb := unsafe.Slice((*uint8)(unsafe.Pointer(unsafe.SliceData(c))), len(c))
	switch {
	case len(tb) == len(ob) && len(fb) == len(ob):
		fb, tb = fb[:len(ob)], tb[:len(ob)]
		for i, b := range cb[:len(ob)] {
			m := -uint32(b & 1)
			ob[i] = tb[i]&m | fb[i]&^m
		}
	case len(tb) == len(ob):
		fv := fb[0]
		tb = tb[:len(ob)]
		for i, b := range cb[:len(ob)] {
			m := -uint32(b & 1)
			ob[i] = tb[i]&m | fv&^m
		}
	case len(fb) == len(ob):
		tv := tb[0]
		fb = fb[:len(ob)]
		for i, b := range cb[:len(ob)] {
			m := -uint32(b & 1)
			ob[i] = tv&m | fb[i]&^m
		}
	default:
		tv, fv := tb[0], fb[0]
		for i, b := range cb[:len(ob)] {
			m := -uint32(b & 1)
			ob[i] = tv&m | fv&^m
		}
	}
}

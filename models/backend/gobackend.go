package backend

import (
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// GoBackend is GoMLX's pure-Go backend (SimpleGo v0.26.0) completed with the ops that the
// forward and gradient graphs of this project's networks need and SimpleGo lacks:
//
//   - Reverse (the gradient of every convolution flips its kernel),
//   - Pad with negative and interior padding (gradients of Slice, strided convolutions and pooling),
//   - SelectAndScatterMax/Min (the gradient of max and min pooling),
//   - ConvGeneral called with empty strides or dilations (as the convolution gradient does),
//     and convolutions run as an im2col matrix product, several times faster than SimpleGo's.
//
// Each is composed from ops SimpleGo implements (Slice, Concatenate, Reshape, Broadcast,
// Where, ReduceWindow, ...). The composition happens inside the backend, below GoMLX's graph
// package, so automatic differentiation is unaffected and model code is identical on every
// backend. Batch normalisation is not provided here: models/nn composes it from basic ops.
//
// float32 matrix products, convolutions and a few element-wise ops run on this package's
// executors rather than SimpleGo's (executors.go, and the package documentation).
type GoBackend struct {
	backends.Backend
	// NativeConv makes float64 convolutions use SimpleGo's own ConvGeneral rather than the
	// im2col composition (see convIm2Col); the results agree to rounding. float32 convolutions
	// always use the ConvGeneral node, which this package executes with internal/gemm
	// (execConvGeneral).
	NativeConv bool
}

// Builder returns a builder whose missing ops are composed from supported ones.
func (b *GoBackend) Builder(name string) backends.Builder {
	return &goBuilder{Builder: b.Backend.Builder(name), nativeConv: b.NativeConv}
}

// Capabilities reports SimpleGo's capabilities plus the ops GoBackend composes.
func (b *GoBackend) Capabilities() backends.Capabilities {
	c := b.Backend.Capabilities().Clone()
	for _, op := range []backends.OpType{backends.OpTypeReverse, backends.OpTypePad,
		backends.OpTypeSelectAndScatterMax, backends.OpTypeSelectAndScatterMin} {
		c.Operations[op] = true
	}
	return c
}

// Description says that this is the completed pure-Go backend.
func (b *GoBackend) Description() string {
	return b.Backend.Description() + " (completed with Reverse, Pad, SelectAndScatter by the project)"
}

type goBuilder struct {
	backends.Builder
	// nativeConv runs convolutions with SimpleGo's ConvGeneral instead of im2col (tests use it
	// as the reference).
	nativeConv bool
}

func (b *goBuilder) shape(op backends.Op) (shapes.Shape, error) { return b.OpShape(op) }

// ConvGeneral fills empty strides and dilations with ones: GoMLX's convolution gradient passes
// empty slices, which SimpleGo rejects.
func (b *goBuilder) ConvGeneral(input, kernel backends.Op, axes backends.ConvolveAxesConfig,
	strides []int, paddings [][2]int, inputDilations, kernelDilations []int,
	channelGroupCount, batchGroupCount int) (backends.Op, error) {
	s, err := b.shape(input)
	if err != nil {
		return nil, err
	}
	spatial := s.Rank() - 2
	ones := func(v []int) []int {
		if len(v) == 0 {
			return slices.Repeat([]int{1}, spatial)
		}
		return v
	}
	if len(paddings) == 0 {
		paddings = make([][2]int, spatial)
	}
	strides, inputDilations, kernelDilations = ones(strides), ones(inputDilations), ones(kernelDilations)
	// float32 convolutions are SimpleGo's ConvGeneral node, which execConvGeneral runs as one
	// matrix product; float64 ones are composed here as im2col (see convIm2Col).
	if !b.nativeConv && (s.DType != dtypes.Float32 || internalsErr != nil) {
		out, ok, err := b.convIm2Col(input, kernel, axes, strides, paddings, inputDilations, kernelDilations,
			channelGroupCount, batchGroupCount)
		if err != nil || ok {
			return out, err
		}
	}
	return b.Builder.ConvGeneral(input, kernel, axes, strides, paddings,
		inputDilations, kernelDilations, channelGroupCount, batchGroupCount)
}

// ConvGeneralDilated is the older name of ConvGeneral; route it through the fix as well.
func (b *goBuilder) ConvGeneralDilated(input, kernel backends.Op, axes backends.ConvolveAxesConfig,
	strides []int, paddings [][2]int, inputDilations, kernelDilations []int,
	channelGroupCount, batchGroupCount int) (backends.Op, error) {
	return b.ConvGeneral(input, kernel, axes, strides, paddings, inputDilations, kernelDilations,
		channelGroupCount, batchGroupCount)
}

// around reshapes x to [pre, dims[axis], post], so that one axis can be handled with rank-3 ops.
func around(s shapes.Shape, axis int) (pre, n, post int) {
	pre, post = 1, 1
	for i, d := range s.Dimensions {
		switch {
		case i < axis:
			pre *= d
		case i > axis:
			post *= d
		}
	}
	return pre, s.Dimensions[axis], post
}

// fill returns the scalar fill broadcast to dims.
func (b *goBuilder) fill(scalar backends.Op, dims ...int) (backends.Op, error) {
	s, err := b.shape(scalar)
	if err != nil {
		return nil, err
	}
	return b.Builder.BroadcastInDim(scalar, shapes.Make(s.DType, dims...), nil)
}

// Reverse reverses x along each of axes by slicing single elements and concatenating them in
// reverse order. It is used for convolution kernels, whose spatial axes are short.
func (b *goBuilder) Reverse(x backends.Op, axes ...int) (backends.Op, error) {
	for _, axis := range axes {
		s, err := b.shape(x)
		if err != nil {
			return nil, err
		}
		if axis < 0 || axis >= s.Rank() {
			return nil, fmt.Errorf("Reverse: axis %d out of range for shape %s", axis, s)
		}
		pre, n, post := around(s, axis)
		if n <= 1 {
			continue
		}
		r, err := b.Builder.Reshape(x, pre, n, post)
		if err != nil {
			return nil, err
		}
		parts := make([]backends.Op, n)
		for i := range n {
			parts[n-1-i], err = b.Builder.Slice(r, []int{0, i, 0}, []int{pre, i + 1, post}, unit3)
			if err != nil {
				return nil, err
			}
		}
		if r, err = b.Builder.Concatenate(1, parts...); err != nil {
			return nil, err
		}
		if x, err = b.Builder.Reshape(r, s.Dimensions...); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// Pad implements XLA's Pad: per axis, interior padding first, then edge padding at the start
// and end, where a negative edge padding removes elements.
func (b *goBuilder) Pad(x, fillValue backends.Op, axesConfig ...backends.PadAxis) (backends.Op, error) {
	s, err := b.shape(x)
	if err != nil {
		return nil, err
	}
	if len(axesConfig) > s.Rank() {
		return nil, fmt.Errorf("Pad: %d axes configured for operand of rank %d", len(axesConfig), s.Rank())
	}
	for axis, cfg := range axesConfig {
		if cfg == (backends.PadAxis{}) {
			continue
		}
		if x, err = b.padAxis(x, fillValue, axis, cfg); err != nil {
			return nil, err
		}
	}
	return x, nil
}

func (b *goBuilder) padAxis(x, fillValue backends.Op, axis int, cfg backends.PadAxis) (backends.Op, error) {
	s, err := b.shape(x)
	if err != nil {
		return nil, err
	}
	if cfg.Interior < 0 {
		return nil, fmt.Errorf("Pad: negative interior padding %d on axis %d", cfg.Interior, axis)
	}
	pre, n, post := around(s, axis)
	r, err := b.Builder.Reshape(x, pre, n, post)
	if err != nil {
		return nil, err
	}
	if cfg.Interior > 0 && n > 1 {
		// [pre, n, 1, post] ++ fill[pre, n, interior, post] -> [pre, n*(1+interior), post], minus the tail.
		p := cfg.Interior
		r4, err := b.Builder.Reshape(r, pre, n, 1, post)
		if err != nil {
			return nil, err
		}
		f, err := b.fill(fillValue, pre, n, p, post)
		if err != nil {
			return nil, err
		}
		if r4, err = b.Builder.Concatenate(2, r4, f); err != nil {
			return nil, err
		}
		if r, err = b.Builder.Reshape(r4, pre, n*(1+p), post); err != nil {
			return nil, err
		}
		n = n + (n-1)*p
		if r, err = b.Builder.Slice(r, []int{0, 0, 0}, []int{pre, n, post}, unit3); err != nil {
			return nil, err
		}
	}
	lo, hi := 0, n
	if cfg.Start < 0 {
		lo = -cfg.Start
	}
	if cfg.End < 0 {
		hi = n + cfg.End
	}
	if lo > hi {
		return nil, fmt.Errorf("Pad: axis %d of size %d cannot be cropped by %d and %d", axis, n, cfg.Start, cfg.End)
	}
	if lo != 0 || hi != n {
		if r, err = b.Builder.Slice(r, []int{0, lo, 0}, []int{pre, hi, post}, unit3); err != nil {
			return nil, err
		}
		n = hi - lo
	}
	var parts []backends.Op
	if cfg.Start > 0 {
		f, err := b.fill(fillValue, pre, cfg.Start, post)
		if err != nil {
			return nil, err
		}
		parts = append(parts, f)
	}
	parts = append(parts, r)
	if cfg.End > 0 {
		f, err := b.fill(fillValue, pre, cfg.End, post)
		if err != nil {
			return nil, err
		}
		parts = append(parts, f)
	}
	if len(parts) > 1 {
		if r, err = b.Builder.Concatenate(1, parts...); err != nil {
			return nil, err
		}
		n += max(cfg.Start, 0) + max(cfg.End, 0)
	}
	dims := slices.Clone(s.Dimensions)
	dims[axis] = n
	return b.Builder.Reshape(r, dims...)
}

// SelectAndScatterMax scatters each source value onto the first maximum of its window of
// operand (the gradient of max pooling), as XLA does with the GE select function.
func (b *goBuilder) SelectAndScatterMax(operand, source backends.Op, windowDimensions, windowStrides []int,
	paddings [][2]int) (backends.Op, error) {
	return b.selectAndScatter(operand, source, windowDimensions, windowStrides, paddings, true)
}

// SelectAndScatterMin is SelectAndScatterMax for the first minimum (gradient of min pooling).
func (b *goBuilder) SelectAndScatterMin(operand, source backends.Op, windowDimensions, windowStrides []int,
	paddings [][2]int) (backends.Op, error) {
	return b.selectAndScatter(operand, source, windowDimensions, windowStrides, paddings, false)
}

// selectAndScatter pads the operand with -inf (+inf for min), takes one strided view of it per
// window offset, marks in each window the first offset that reaches the window's extreme, and
// places the source values of the marked offsets back at their positions with interior padding.
func (b *goBuilder) selectAndScatter(operand, source backends.Op, window, strides []int, paddings [][2]int,
	isMax bool) (backends.Op, error) {
	s, err := b.shape(operand)
	if err != nil {
		return nil, err
	}
	src, err := b.shape(source)
	if err != nil {
		return nil, err
	}
	rank := s.Rank()
	if len(window) != rank || src.Rank() != rank {
		return nil, fmt.Errorf("SelectAndScatter: window %v and source %s must match operand rank %d", window, src, rank)
	}
	if len(strides) == 0 {
		strides = window
	}
	if len(paddings) == 0 {
		paddings = make([][2]int, rank)
	}
	dt := s.DType
	extreme := math.Inf(-1)
	if !isMax {
		extreme = math.Inf(1)
	}
	padValue, err := b.scalar(dt, extreme)
	if err != nil {
		return nil, err
	}
	zero, err := b.scalar(dt, 0)
	if err != nil {
		return nil, err
	}
	padCfg := make([]backends.PadAxis, rank)
	padded := slices.Clone(s.Dimensions)
	for i := range rank {
		padCfg[i] = backends.PadAxis{Start: paddings[i][0], End: paddings[i][1]}
		padded[i] += paddings[i][0] + paddings[i][1]
	}
	p, err := b.Pad(operand, padValue, padCfg...)
	if err != nil {
		return nil, err
	}
	reduce := backends.ReduceOpMax
	if !isMax {
		reduce = backends.ReduceOpMin
	}
	best, err := b.Builder.ReduceWindow(p, reduce, window, strides, nil, nil, nil)
	if err != nil {
		return nil, err
	}
	var taken, total backends.Op
	offset := make([]int, rank)
	for {
		starts, limits := slices.Clone(offset), make([]int, rank)
		for i := range rank {
			limits[i] = offset[i] + (src.Dimensions[i]-1)*strides[i] + 1
		}
		view, err := b.Builder.Slice(p, starts, limits, strides)
		if err != nil {
			return nil, err
		}
		hit, err := b.Builder.Equal(view, best)
		if err != nil {
			return nil, err
		}
		if taken != nil {
			notTaken, err := b.Builder.LogicalNot(taken)
			if err != nil {
				return nil, err
			}
			if hit, err = b.Builder.LogicalAnd(hit, notTaken); err != nil {
				return nil, err
			}
			if taken, err = b.Builder.LogicalOr(taken, hit); err != nil {
				return nil, err
			}
		} else {
			taken = hit
		}
		zeros, err := b.fill(zero, src.Dimensions...)
		if err != nil {
			return nil, err
		}
		part, err := b.Builder.Where(hit, source, zeros)
		if err != nil {
			return nil, err
		}
		placeCfg := make([]backends.PadAxis, rank)
		for i := range rank {
			placeCfg[i] = backends.PadAxis{Start: offset[i], End: padded[i] - limits[i], Interior: strides[i] - 1}
		}
		if part, err = b.Pad(part, zero, placeCfg...); err != nil {
			return nil, err
		}
		if total == nil {
			total = part
		} else if total, err = b.Builder.Add(total, part); err != nil {
			return nil, err
		}
		// Next window offset, in row-major order (XLA's scan order).
		i := rank - 1
		for ; i >= 0; i-- {
			offset[i]++
			if offset[i] < window[i] {
				break
			}
			offset[i] = 0
		}
		if i < 0 {
			break
		}
	}
	for i := range rank {
		padCfg[i] = backends.PadAxis{Start: -paddings[i][0], End: -paddings[i][1]}
	}
	return b.Pad(total, zero, padCfg...)
}

// scalar returns a constant scalar of dtype dt.
func (b *goBuilder) scalar(dt dtypes.DType, v float64) (backends.Op, error) {
	switch dt {
	case dtypes.Float32:
		return b.Builder.Constant([]float32{float32(v)})
	case dtypes.Float64:
		return b.Builder.Constant([]float64{v})
	default:
		return nil, fmt.Errorf("SelectAndScatter: dtype %s not supported by the pure-Go completion (float32, float64)", dt)
	}
}

// unit3 are the unit strides of the rank-3 slices above.
var unit3 = []int{1, 1, 1}

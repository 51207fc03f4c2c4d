package backend

import (
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/shapeinference"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// convIm2Col computes a convolution as one matrix product: the input is brought to
// [batch, spatial..., channels], dilated (inputDilations, as interior padding) and padded, one
// strided slice per kernel offset is taken and the slices are concatenated along the channels
// ("im2col"), and the result is multiplied by the kernel reshaped to [offsets*in, out]. SimpleGo's
// DotGeneral is several times faster than its ConvGeneral, so this is how the completed pure-Go
// backend runs convolutions, forward and in the gradients. ok is false (and nothing is built)
// for what it does not handle: channel or batch groups, dtypes other than float32/float64;
// ConvGeneral then uses SimpleGo's own.
func (b *goBuilder) convIm2Col(input, kernel backends.Op, axes backends.ConvolveAxesConfig,
	strides []int, paddings [][2]int, inputDilations, kernelDilations []int,
	channelGroupCount, batchGroupCount int) (out backends.Op, ok bool, err error) {
	if channelGroupCount > 1 || batchGroupCount > 1 {
		return nil, false, nil
	}
	inShape, err := b.shape(input)
	if err != nil {
		return nil, false, err
	}
	kShape, err := b.shape(kernel)
	if err != nil {
		return nil, false, err
	}
	if dt := inShape.DType; dt != dtypes.Float32 && dt != dtypes.Float64 {
		return nil, false, nil
	}
	want, err := shapeinference.ConvGeneralOp(inShape, kShape, axes, strides, paddings, inputDilations, kernelDilations, 1, 1)
	if err != nil {
		return nil, false, nil // let SimpleGo report the error in its words
	}
	spatial := len(axes.InputSpatial)

	// Input to [batch, spatial..., channels].
	perm := append(append([]int{axes.InputBatch}, axes.InputSpatial...), axes.InputChannels)
	x := input
	if !isIdentity(perm) {
		if x, err = b.Builder.Transpose(x, perm...); err != nil {
			return nil, false, err
		}
	}
	// Input dilation is interior padding; then the edge padding (possibly negative).
	pad := make([]backends.PadAxis, spatial+2)
	needPad := false
	for i := range spatial {
		pad[i+1] = backends.PadAxis{Start: paddings[i][0], End: paddings[i][1], Interior: inputDilations[i] - 1}
		needPad = needPad || pad[i+1] != (backends.PadAxis{})
	}
	if needPad {
		zero, err := b.scalar(inShape.DType, 0)
		if err != nil {
			return nil, false, err
		}
		if x, err = b.Pad(x, zero, pad...); err != nil {
			return nil, false, err
		}
	}
	xShape, err := b.shape(x)
	if err != nil {
		return nil, false, err
	}
	batch, channels := xShape.Dimensions[0], xShape.Dimensions[spatial+1]

	// Kernel to [spatial..., in, out], then [offsets*in, out].
	kPerm := append(slices.Clone(axes.KernelSpatial), axes.KernelInputChannels, axes.KernelOutputChannels)
	k := kernel
	if !isIdentity(kPerm) {
		if k, err = b.Builder.Transpose(k, kPerm...); err != nil {
			return nil, false, err
		}
	}
	kDims := make([]int, spatial)
	offsets := 1
	for i, a := range axes.KernelSpatial {
		kDims[i] = kShape.Dimensions[a]
		offsets *= kDims[i]
	}
	outCh := kShape.Dimensions[axes.KernelOutputChannels]
	if k, err = b.Builder.Reshape(k, offsets*channels, outCh); err != nil {
		return nil, false, err
	}

	// Output spatial sizes, and one strided slice of the input per kernel offset.
	outDims := make([]int, spatial)
	positions := batch
	for i := range spatial {
		span := (kDims[i]-1)*kernelDilations[i] + 1
		outDims[i] = (xShape.Dimensions[i+1]-span)/strides[i] + 1
		positions *= outDims[i]
	}
	patches := x
	if offsets > 1 || slices.ContainsFunc(strides, func(s int) bool { return s != 1 }) || !slices.Equal(outDims, xShape.Dimensions[1:spatial+1]) {
		parts := make([]backends.Op, 0, offsets)
		offset := make([]int, spatial)
		for {
			starts, limits, sliceStrides := make([]int, spatial+2), make([]int, spatial+2), make([]int, spatial+2)
			limits[0], limits[spatial+1] = batch, channels
			sliceStrides[0], sliceStrides[spatial+1] = 1, 1
			for i := range spatial {
				starts[i+1] = offset[i] * kernelDilations[i]
				limits[i+1] = starts[i+1] + (outDims[i]-1)*strides[i] + 1
				sliceStrides[i+1] = strides[i]
			}
			part, err := b.Builder.Slice(x, starts, limits, sliceStrides)
			if err != nil {
				return nil, false, err
			}
			parts = append(parts, part)
			i := spatial - 1
			for ; i >= 0; i-- {
				offset[i]++
				if offset[i] < kDims[i] {
					break
				}
				offset[i] = 0
			}
			if i < 0 {
				break
			}
		}
		if len(parts) == 1 {
			patches = parts[0]
		} else if patches, err = b.Builder.Concatenate(spatial+1, parts...); err != nil {
			return nil, false, err
		}
	}
	if patches, err = b.Builder.Reshape(patches, positions, offsets*channels); err != nil {
		return nil, false, err
	}
	y, err := b.Builder.DotGeneral(patches, []int{1}, nil, k, []int{0}, nil)
	if err != nil {
		return nil, false, err
	}
	ours := append(append([]int{batch}, outDims...), outCh)
	if y, err = b.Builder.Reshape(y, ours...); err != nil {
		return nil, false, err
	}
	// From [batch, spatial..., out] to the requested output layout.
	outPerm := make([]int, spatial+2)
	outPerm[axes.OutputBatch] = 0
	outPerm[axes.OutputChannels] = spatial + 1
	for i, a := range axes.OutputSpatial {
		outPerm[a] = i + 1
	}
	if !isIdentity(outPerm) {
		if y, err = b.Builder.Transpose(y, outPerm...); err != nil {
			return nil, false, err
		}
	}
	got, err := b.shape(y)
	if err != nil {
		return nil, false, err
	}
	if !got.Equal(want) {
		return nil, false, nil // a case this path gets wrong: leave it to SimpleGo
	}
	return y, true, nil
}

func isIdentity(perm []int) bool {
	for i, p := range perm {
		if i != p {
			return false
		}
	}
	return true
}

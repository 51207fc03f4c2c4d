package backend

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/shapes"

	"github.com/oodlab/dos/internal/gemm"
)

// execConvGeneral runs a float32 convolution (no channel or batch groups) as one matrix product
// whose left operand, the patches ("im2col"), is never stored whole:
//
//  1. the input is copied once into [batch, spatial..., channels] order with its input
//     dilation (zeros between the values) and its padding (zeros around, or cropped where
//     negative);
//  2. the kernel is copied into [spatial..., in, out] order: the right operand, [offsets*in, out];
//  3. internal/gemm asks for the patches block by block (convSource.Rows): for each output
//     position, the runs of input channels under each kernel offset, copied from the padded
//     input;
//  4. the product, [batch*positions, out], is the output when the output layout is
//     [batch, spatial..., channels], else it is transposed into it.
//
// The forward convolution and both of its gradients (which GoMLX expresses as convolutions with
// swapped axes, input dilations and negative paddings) run this way. Other dtypes, and grouped
// convolutions, run SimpleGo's own code.
func execConvGeneral(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (*simplego.Buffer, error) {
	flats, shps, ok, err := float32Inputs(backend, inputs[0], inputs[1])
	if err != nil {
		return nil, err
	}
	p, perr := simplegoInternals.convParams(node)
	if !ok || (perr == nil && (p.channelGroupCount > 1 || p.batchGroupCount > 1)) {
		return simplegoConvGeneral(backend, node, inputs, owned)
	}
	if perr != nil {
		return nil, perr
	}
	outShape := simplegoInternals.shape(node)
	plan, err := newConvPlan(shps[0], shps[1], outShape, p)
	if err != nil {
		return nil, err
	}
	out, outFlat, err := newOutput(backend, outShape)
	if err != nil {
		return nil, err
	}
	plan.run(flats[0], flats[1], outFlat, simplegoInternals.threads(backend))
	return out, nil
}

// convPlan is the geometry of one convolution.
type convPlan struct {
	in, kernel, out        shapes.Shape
	p                      *convParams
	spatial                int
	batch, cin, cout       int
	strides, inDil, kDil   []int // per spatial axis: stride, input and kernel dilation (1 when unset)
	padLo                  []int // per spatial axis: padding before the input (cropping when negative)
	padded                 []int // padded, dilated input spatial sizes
	kdims, odims           []int // kernel and output spatial sizes
	offsets, positions     int   // kernel offsets and output positions per example
	xStrides               []int // strides of the padded input [batch, spatial..., channels]
	offTable               []int // padded-input offset of each kernel offset
	contig                 []int // how many values from offTable[o] on are one run in the padded input
	outIsNatural, identity bool
}

func newConvPlan(in, kernel, out shapes.Shape, p *convParams) (*convPlan, error) {
	ax := p.axes
	s := len(ax.InputSpatial)
	c := &convPlan{in: in, kernel: kernel, out: out, p: p, spatial: s,
		batch: in.Dimensions[ax.InputBatch], cin: in.Dimensions[ax.InputChannels], cout: kernel.Dimensions[ax.KernelOutputChannels]}
	if kernel.Dimensions[ax.KernelInputChannels] != c.cin {
		return nil, fmt.Errorf("ConvGeneral: kernel has %d input channels, input %d", kernel.Dimensions[ax.KernelInputChannels], c.cin)
	}
	one := func(v []int, i int) int {
		if len(v) == 0 || v[i] <= 0 {
			return 1
		}
		return v[i]
	}
	c.strides, c.inDil, c.kDil, c.padLo = make([]int, s), make([]int, s), make([]int, s), make([]int, s)
	c.padded, c.kdims, c.odims = make([]int, s), make([]int, s), make([]int, s)
	c.offsets, c.positions = 1, 1
	for i := range s {
		c.strides[i], c.inDil[i], c.kDil[i] = one(p.strides, i), one(p.inputDilations, i), one(p.kernelDilations, i)
		d := in.Dimensions[ax.InputSpatial[i]]
		var hi int
		if i < len(p.paddings) {
			c.padLo[i], hi = p.paddings[i][0], p.paddings[i][1]
		}
		c.padded[i] = max(0, (d-1)*c.inDil[i]+1+c.padLo[i]+hi)
		c.kdims[i] = kernel.Dimensions[ax.KernelSpatial[i]]
		span := (c.kdims[i]-1)*c.kDil[i] + 1
		c.odims[i] = max(0, (c.padded[i]-span)/c.strides[i]+1)
		if c.padded[i] < span {
			c.odims[i] = 0
		}
		if got := out.Dimensions[ax.OutputSpatial[i]]; got != c.odims[i] {
			return nil, fmt.Errorf("ConvGeneral: output spatial axis %d has %d positions, computed %d", i, got, c.odims[i])
		}
		c.offsets *= c.kdims[i]
		c.positions *= c.odims[i]
	}
	// Strides of the padded input [batch, spatial..., channels].
	c.xStrides = rowMajorStrides(slices.Concat([]int{c.batch}, c.padded, []int{c.cin}))
	c.offTable = make([]int, c.offsets)
	idx := make([]int, s)
	for o := range c.offsets {
		off := 0
		for i := range s {
			off += idx[i] * c.kDil[i] * c.xStrides[i+1]
		}
		c.offTable[o] = off
		nextIndex(idx, c.kdims)
	}
	// Consecutive kernel offsets along the last spatial axis (kernel dilation 1) read
	// consecutive positions of the padded input: one run of several offsets' channels.
	c.contig = make([]int, c.offsets)
	for o := c.offsets - 1; o >= 0; o-- {
		c.contig[o] = c.cin
		if o+1 < c.offsets && c.offTable[o+1] == c.offTable[o]+c.cin {
			c.contig[o] += c.contig[o+1]
		}
	}
	c.outIsNatural = ax.OutputBatch == 0 && ax.OutputChannels == s+1
	for i, a := range ax.OutputSpatial {
		c.outIsNatural = c.outIsNatural && a == i+1
	}
	return c, nil
}

func (c *convPlan) run(input, kernel, output []float32, threads int) {
	m, n, k := c.batch*c.positions, c.cout, c.offsets*c.cin
	if m == 0 || n == 0 {
		return
	}
	xp := getScratch(c.xStrides[0] * c.batch)
	defer scratchPool.Put(xp)
	c.padInput(*xp, input)
	kp := getScratch(k * n)
	defer scratchPool.Put(kp)
	ax := c.p.axes
	transposeCopy(*kp, kernel, c.kernel.Dimensions, slices.Concat(ax.KernelSpatial, []int{ax.KernelInputChannels, ax.KernelOutputChannels}))
	res := output
	if !c.outIsNatural {
		r := getScratch(m * n)
		defer scratchPool.Put(r)
		res = *r
	}
	gemm.MultiplyRows(m, n, k, &convSource{c: c, x: *xp}, gemm.RowMajor(*kp, k, n), res, threads)
	if !c.outIsNatural {
		// res is [batch, spatial..., out]; output axis a holds res axis perm[a].
		perm := make([]int, c.spatial+2)
		perm[ax.OutputBatch] = 0
		perm[ax.OutputChannels] = c.spatial + 1
		for i, a := range ax.OutputSpatial {
			perm[a] = i + 1
		}
		transposeCopy(output, res, slices.Concat([]int{c.batch}, c.odims, []int{c.cout}), perm)
	}
}

// padInput writes the input to x in [batch, padded spatial..., channels] order, with the input
// dilation and the padding, zeros elsewhere.
func (c *convPlan) padInput(x, input []float32) {
	clear(x)
	ax, s := c.p.axes, c.spatial
	inStrides := rowMajorStrides(c.in.Dimensions)
	dims := make([]int, s) // input spatial sizes
	for i := range s {
		dims[i] = c.in.Dimensions[ax.InputSpatial[i]]
	}
	cs := inStrides[ax.InputChannels]
	// Channels last, spatial axes in order and no dilation along the last one: whole rows of
	// the last spatial axis are one run in both, cropped by the padding.
	natural := s > 0 && ax.InputBatch == 0 && ax.InputChannels == s+1 && c.inDil[s-1] == 1
	for i, a := range ax.InputSpatial {
		natural = natural && a == i+1
	}
	if natural {
		last := dims[s-1]
		// Input positions of the last axis that land inside: q = lo + i in [0, padded).
		i0, i1 := max(0, -c.padLo[s-1]), min(last, c.padded[s-1]-c.padLo[s-1])
		idx := make([]int, s-1)
		for b := range c.batch {
			clear(idx)
			for {
				src := b * inStrides[0]
				dst := b * c.xStrides[0]
				inside := true
				for i := range s - 1 {
					src += idx[i] * inStrides[i+1]
					q := c.padLo[i] + idx[i]*c.inDil[i]
					if q < 0 || q >= c.padded[i] {
						inside = false
						break
					}
					dst += q * c.xStrides[i+1]
				}
				if inside && i1 > i0 {
					dst += (c.padLo[s-1] + i0) * c.cin
					copy(x[dst:dst+(i1-i0)*c.cin], input[src+i0*c.cin:src+i1*c.cin])
				}
				if !nextIndex(idx[:s-1], dims[:s-1]) {
					break
				}
			}
		}
		return
	}
	idx := make([]int, s)
	for b := range c.batch {
		clear(idx)
		for {
			src := b * inStrides[ax.InputBatch]
			dst := b * c.xStrides[0]
			inside := true
			for i := range s {
				src += idx[i] * inStrides[ax.InputSpatial[i]]
				q := c.padLo[i] + idx[i]*c.inDil[i]
				if q < 0 || q >= c.padded[i] {
					inside = false
					break
				}
				dst += q * c.xStrides[i+1]
			}
			if inside {
				row := x[dst : dst+c.cin]
				if cs == 1 {
					copy(row, input[src:src+c.cin])
				} else {
					for ch := range row {
						row[ch] = input[src+ch*cs]
					}
				}
			}
			if !nextIndex(idx, dims) {
				break
			}
		}
	}
}

// convSource serves rows of the patches matrix: row (b, position), column (offset, channel).
type convSource struct {
	c *convPlan
	x []float32 // padded input
}

func (s *convSource) Rows(dst []float32, i0, rows, p0, cols int) {
	c := s.c
	sp := c.spatial
	idx := make([]int, sp)
	// Decode row i0 into (batch, output position).
	b, pos := i0/c.positions, i0%c.positions
	for i := sp - 1; i >= 0; i-- {
		idx[i] = pos % c.odims[i]
		pos /= c.odims[i]
	}
	for r := range rows {
		base := b * c.xStrides[0]
		for i := range sp {
			base += idx[i] * c.strides[i] * c.xStrides[i+1]
		}
		d := dst[r*cols : (r+1)*cols]
		o, ch := p0/c.cin, p0%c.cin
		for q := 0; q < cols; {
			run := min(c.contig[o]-ch, cols-q)
			src := s.x[base+c.offTable[o]+ch : base+c.offTable[o]+ch+run]
			if run <= 16 {
				dd := d[q : q+run]
				for j, v := range src {
					dd[j] = v
				}
			} else {
				copy(d[q:q+run], src)
			}
			q += run
			// The run ended at the end of an offset's channels (or of the block).
			ch += run
			o += ch / c.cin
			ch %= c.cin
		}
		// Next output position; past the last one of an image, the next image.
		if !nextIndex(idx[:sp], c.odims[:sp]) {
			b++
		}
	}
}

// nextIndex advances idx, a position in a row-major array of dimensions dims (the last index
// fastest), to the next position. It returns false when idx was the last position: idx is then
// back at all zeros. With no dimensions there is one position, and it returns false.
func nextIndex(idx, dims []int) bool {
	for i := len(idx) - 1; i >= 0; i-- {
		idx[i]++
		if idx[i] < dims[i] {
			return true
		}
		idx[i] = 0
	}
	return false
}

package backend

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends/simplego"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/core/tensors/images"

	"github.com/oodlab/dos/internal/assert"
)

// TestIm2ColMatchesNativeConv compares the im2col convolution with SimpleGo's ConvGeneral on the
// forward pass and on both gradients (whose convolutions have swapped axes, input dilations for
// strided convolutions, kernel dilations and negative paddings), in both channel layouts.
func TestIm2ColMatchesNativeConv(t *testing.T) {
	inner, err := simplego.New("ops_sequential") // SimpleGo's parallel op execution can deadlock (see models/backend.NewGo)
	if err != nil {
		t.Fatal(err)
	}
	fast, native := &GoBackend{Backend: inner}, &GoBackend{Backend: inner, NativeConv: true}
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct {
		h, w, cin, cout, k, stride int
		pad                        [][2]int
		first                      bool
	}{
		{6, 6, 2, 3, 3, 1, [][2]int{{1, 1}, {1, 1}}, false},
		{7, 6, 2, 3, 3, 2, [][2]int{{1, 1}, {1, 1}}, false},
		{5, 5, 3, 4, 1, 1, nil, false},
		{6, 6, 3, 4, 1, 2, nil, false},
		{9, 8, 1, 2, 7, 2, [][2]int{{3, 3}, {3, 3}}, false},
		{6, 5, 2, 3, 3, 1, [][2]int{{1, 1}, {1, 1}}, true},
		{7, 7, 2, 2, 2, 2, nil, true},
	} {
		name := fmt.Sprintf("%dx%dx%d-k%d-s%d-pad%v-first%v", tc.h, tc.w, tc.cin, tc.k, tc.stride, tc.pad, tc.first)
		xDims := []int{2, tc.h, tc.w, tc.cin}
		if tc.first {
			xDims = []int{2, tc.cin, tc.h, tc.w}
		}
		kDims := []int{tc.k, tc.k, tc.cin, tc.cout}
		if tc.first {
			kDims = []int{tc.cout, tc.cin, tc.k, tc.k}
		}
		xs, ks := randSlice(r, 2*tc.h*tc.w*tc.cin), randSlice(r, tc.k*tc.k*tc.cin*tc.cout)
		fn := convAndGrads(tc.stride, 1, tc.pad, tc.first)
		run := func(b *GoBackend) []*tensors.Tensor {
			e, err := NewExec(b, fn)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out, err := e.Exec(tensors.FromFlatDataAndDimensions(xs, xDims...),
				tensors.FromFlatDataAndDimensions(ks, kDims...))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return out
		}
		got, want := run(fast), run(native)
		for i, what := range []string{"output", "d/dx", "d/dkernel"} {
			if !got[i].Shape().Equal(want[i].Shape()) {
				t.Fatalf("%s %s: shape %s, want %s", name, what, got[i].Shape(), want[i].Shape())
			}
			assert.Close(t, name+" "+what, tensors.MustCopyFlatData[float64](got[i]), tensors.MustCopyFlatData[float64](want[i]), assert.Near(1e-12))
		}
	}
}

// convAndGrads returns the graph of a convolution (stride, kernel dilation, padding per spatial
// axis or none when nil, channels first or last) and of its gradients with respect to the input
// and the kernel, for a loss that weights every output differently.
func convAndGrads(stride, dilation int, pad [][2]int, first bool) func(x, k *Node) (*Node, *Node, *Node) {
	return func(x, k *Node) (*Node, *Node, *Node) {
		c := Convolve(x, k).Strides(stride)
		if first {
			c = c.ChannelsAxis(images.ChannelsFirst)
		}
		if dilation > 1 {
			c = c.Dilations(dilation)
		}
		if pad != nil {
			c = c.PaddingPerDim(pad)
		} else {
			c = c.NoPadding()
		}
		y := c.Done()
		w := Sin(Iota(x.Graph(), y.Shape(), y.Rank()-1)) // uneven weights: every gradient entry matters
		g := Gradient(ReduceAllSum(Mul(y, w)), x, k)
		return y, g[0], g[1]
	}
}

package harness

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// MethodMatmul times matrix products alone (Config.MatmulShapes), as one DotGeneral per graph:
// what the convolutions of a network cost on a backend, without the network.
const MethodMatmul = "matmul"

// MatmulShape is one product of an M x K matrix by a K x N matrix.
type MatmulShape struct {
	Name string `json:"name"`
	M    int    `json:"m"`
	K    int    `json:"k"`
	N    int    `json:"n"`
}

// Flops is the number of floating-point operations of the product (a multiply and an add per
// term).
func (s MatmulShape) Flops() float64 { return 2 * float64(s.M) * float64(s.K) * float64(s.N) }

// MatmulTiming is the timing of one product.
type MatmulTiming struct {
	Shape  MatmulShape `json:"shape"`
	Timing Timing      `json:"timing"`
	// GFLOPs is Flops over the median time, in 10^9 per second.
	GFLOPs float64 `json:"gflop_per_s"`
}

// DenseNetIm2Col returns the matrix products that DenseNet-BC-100's convolutions are on CIFAR
// (32x32 images, growth 12, 4x12 bottleneck channels) at the given batch, as an im2col
// convolution runs them: [batch x positions, kernel offsets x input channels] by
// [kernel offsets x input channels, output channels]. One product per kind of layer and
// resolution: the first convolution, a bottleneck 1x1 and the 3x3 of each dense block (the 1x1
// at the block's ninth layer, whose input has 8 growths more than the block's), and the
// transitions' 1x1.
func DenseNetIm2Col(batch int) []MatmulShape {
	const g = 12
	return []MatmulShape{
		{"conv1 3x3 32x32", batch * 1024, 9 * 3, 2 * g},
		{"block1 1x1 32x32", batch * 1024, 24 + 8*g, 4 * g},
		{"block1 3x3 32x32", batch * 1024, 9 * 4 * g, g},
		{"transition1 1x1 32x32", batch * 1024, 24 + 16*g, (24 + 16*g) / 2},
		{"block2 1x1 16x16", batch * 256, 108 + 8*g, 4 * g},
		{"block2 3x3 16x16", batch * 256, 9 * 4 * g, g},
		{"transition2 1x1 16x16", batch * 256, 108 + 16*g, (108 + 16*g) / 2},
		{"block3 1x1 8x8", batch * 64, 150 + 8*g, 4 * g},
		{"block3 3x3 8x8", batch * 64, 9 * 4 * g, g},
	}
}

// FormatMatmulShapes writes shapes as ParseMatmulShapes reads them (the peer's --matmul-shapes).
func FormatMatmulShapes(shapes []MatmulShape) string {
	parts := make([]string, len(shapes))
	for i, s := range shapes {
		parts[i] = fmt.Sprintf("%s:%d:%d:%d", s.Name, s.M, s.K, s.N)
	}
	return strings.Join(parts, ",")
}

// ParseMatmulShapes reads "name:M:K:N,..." (names without ':' or ',').
func ParseMatmulShapes(s string) ([]MatmulShape, error) {
	var out []MatmulShape
	for _, part := range strings.Split(s, ",") {
		f := strings.Split(part, ":")
		if len(f) != 4 {
			return nil, fmt.Errorf("matmul shape %q: expected name:M:K:N", part)
		}
		var dims [3]int
		for i, v := range f[1:] {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("matmul shape %q: expected positive integers for M, K and N, got %q", part, v)
			}
			dims[i] = n
		}
		out = append(out, MatmulShape{Name: f[0], M: dims[0], K: dims[1], N: dims[2]})
	}
	return out, nil
}

// measureMatmul times each product of Config.MatmulShapes: one graph [M, K] x [K, N] per
// shape, on inputs that stay on the backend from call to call (the product's inputs are
// activations already in memory), reading back one element of the result, which waits for it.
func (r *runner) measureMatmul(res *Result) error {
	rng := rand.New(rand.NewPCG(r.cfg.Seed, 11))
	for _, s := range r.cfg.MatmulShapes {
		fill := func(n int) []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
			return v
		}
		a := tensors.FromFlatDataAndDimensions(fill(s.M*s.K), s.M, s.K)
		b := tensors.FromFlatDataAndDimensions(fill(s.K*s.N), s.K, s.N)
		exec, err := graph.NewExec(r.be, func(a, b *graph.Node) *graph.Node {
			return graph.Reshape(graph.Slice(graph.Dot(a, b), graph.AxisElem(0), graph.AxisElem(0)))
		})
		if err != nil {
			return err
		}
		t, err := r.timeIt(fmt.Sprintf("matmul %s (%dx%dx%d)", s.Name, s.M, s.K, s.N), 0, func(int) ([]*tensors.Tensor, error) {
			return exec.Exec(a, b)
		})
		exec.Finalize()
		a.FinalizeAll()
		b.FinalizeAll()
		if err != nil {
			return err
		}
		mt := MatmulTiming{Shape: s, Timing: *t}
		if t.MedianMS > 0 {
			mt.GFLOPs = s.Flops() / (t.MedianMS / 1000) / 1e9
		}
		res.Matmul = append(res.Matmul, mt)
	}
	return nil
}

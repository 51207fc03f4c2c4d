package gemm

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

// fmaExact is a*b + c rounded once to float32, computed with math/big: an implementation
// independent of fma32's float64 arithmetic.
func fmaExact(a, b, c float32) float32 {
	if math.IsNaN(float64(a)) || math.IsNaN(float64(b)) || math.IsNaN(float64(c)) ||
		math.IsInf(float64(a), 0) || math.IsInf(float64(b), 0) || math.IsInf(float64(c), 0) {
		return float32(float64(a)*float64(b) + float64(c))
	}
	x := new(big.Float).SetPrec(400).SetFloat64(float64(a))
	x.Mul(x, new(big.Float).SetPrec(400).SetFloat64(float64(b)))
	x.Add(x, new(big.Float).SetPrec(400).SetFloat64(float64(c)))
	f, _ := x.Float32()
	if f == 0 {
		// Signed zeros: IEEE's exact zero sum is +0 in round to nearest, unless both terms are -0.
		p := float64(a) * float64(b)
		if p == 0 && c == 0 && math.Signbit(p) && math.Signbit(float64(c)) {
			return float32(math.Copysign(0, -1))
		}
		if x.Sign() == 0 {
			return 0
		}
	}
	return f
}

// fmaCases are random operands of several magnitudes plus constructed cases where a*b + c in
// float64 lands exactly on a float32 midpoint (where rounding twice would be wrong), subnormal
// results and the overflow threshold.
func fmaCases(r *rand.Rand, n int) [][3]float32 {
	var out [][3]float32
	rnd := func() float32 {
		switch r.IntN(4) {
		case 0:
			return float32(r.NormFloat64())
		case 1:
			return float32(r.NormFloat64() * math.Pow(2, float64(r.IntN(60)-30)))
		case 2:
			return math.Float32frombits(r.Uint32())
		default:
			return float32(r.IntN(2001)-1000) / 64
		}
	}
	for range n {
		out = append(out, [3]float32{rnd(), rnd(), rnd()})
	}
	// Midpoints: c = 1 + 2^-24 is halfway between 1 and 1+2^-23 only after adding a tiny
	// product that the first rounding to float64 loses: a*b = +-2^-80.
	m := float32(1)
	for _, s := range []float32{1, -1} {
		out = append(out, [3]float32{s * 0x1p-40, 0x1p-40, 1 + 0x1p-23})
		out = append(out, [3]float32{s * 0x1p-40, 0x1p-40, m})
	}
	for range n / 4 {
		// Products with the low bits of a midpoint, plus a c that puts the sum on the grid.
		a := float32(1 + float64(r.IntN(1<<12))*0x1p-12)
		b := float32(1 + float64(r.IntN(1<<12))*0x1p-12)
		p := float64(a) * float64(b)
		mid := float64(float32(p)) + math.Ldexp(1, math.Ilogb(p)-24)
		c := float32(mid - p)
		out = append(out, [3]float32{a, b, c}, [3]float32{a, b, -c}, [3]float32{-a, b, c})
		// Tiny results: subnormal float32.
		out = append(out, [3]float32{a * 0x1p-70, b * 0x1p-70, float32(r.NormFloat64()) * 0x1p-140})
	}
	big := float32(math.MaxFloat32)
	out = append(out, [3]float32{big, 1, big}, [3]float32{big, 1, -big}, [3]float32{0x1p64, 0x1p63, -0x1p103},
		[3]float32{float32(math.Copysign(0, -1)), 1, float32(math.Copysign(0, -1))}, [3]float32{0, -1, 0})
	return out
}

func sameBits(a, b float32) bool {
	if math.IsNaN(float64(a)) || math.IsNaN(float64(b)) {
		return math.IsNaN(float64(a)) && math.IsNaN(float64(b))
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

// fma32 is a*b + c rounded once, on every case, including those where rounding the float64
// sum to float32 would be wrong (checked: the naive conversion fails some of them).
func TestFMA32IsCorrectlyRounded(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	naiveWrong := 0
	for _, c := range fmaCases(r, 20000) {
		want := fmaExact(c[0], c[1], c[2])
		if got := fma32(c[0], c[1], c[2]); !sameBits(got, want) {
			t.Fatalf("fma32(%g, %g, %g) = %g (%08x), want %g (%08x)", c[0], c[1], c[2], got, math.Float32bits(got), want, math.Float32bits(want))
		}
		if naive := float32(float64(c[0])*float64(c[1]) + float64(c[2])); !sameBits(naive, want) {
			naiveWrong++
		}
	}
	if naiveWrong == 0 {
		t.Error("no case where rounding twice is wrong: the test does not reach fma32's slow path")
	}
}

// Dot is the chain of Multiply's elements, and Multiply's elements are that chain for every
// kernel, layout, blocking and thread count.
func naiveChain(a, b Matrix, bi, i, j, k int) float32 {
	var c float32
	for p0 := 0; p0 < k; p0 += 32 {
		var t float32
		for p := p0; p < min(p0+32, k); p++ {
			t = fma32(a.Data[bi*a.BatchStride+i*a.RowStride+p*a.ColStride], b.Data[bi*b.BatchStride+p*b.RowStride+j*b.ColStride], t)
		}
		if p0 == 0 {
			c = t
		} else {
			c += t
		}
	}
	return c
}

func randMatrix(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// layouts returns views of the same batch x rows x cols values in four memory layouts.
func layouts(r *rand.Rand, batch, rows, cols int) map[string]Matrix {
	vals := randMatrix(r, batch*rows*cols)
	at := func(b, i, j int) float32 { return vals[(b*rows+i)*cols+j] }
	out := map[string]Matrix{"rowmajor": RowMajor(vals, rows, cols)}
	tr := make([]float32, len(vals))
	for b := range batch {
		for i := range rows {
			for j := range cols {
				tr[b*rows*cols+j*rows+i] = at(b, i, j)
			}
		}
	}
	out["colmajor"] = Transposed(tr, cols, rows)
	// Batch innermost: [rows, cols, batch], and a padded row stride: neither stride is 1.
	strided := make([]float32, len(vals))
	for b := range batch {
		for i := range rows {
			for j := range cols {
				strided[(i*cols+j)*batch+b] = at(b, i, j)
			}
		}
	}
	if batch > 1 {
		out["strided"] = Matrix{Data: strided, RowStride: cols * batch, ColStride: batch, BatchStride: 1}
	}
	padded := make([]float32, batch*rows*(cols+3))
	for b := range batch {
		for i := range rows {
			for j := range cols {
				padded[(b*rows+i)*(cols+3)+j] = at(b, i, j)
			}
		}
	}
	out["padded"] = Matrix{Data: padded, RowStride: cols + 3, ColStride: 1, BatchStride: rows * (cols + 3)}
	return out
}

var sizes = []int{1, 7, 8, 9, 17, 63, 64, 65}

// withKernels runs f with each set of kernels this processor can run (AVX-512, AVX2, the
// portable Go kernel).
func withKernels(t *testing.T, f func(t *testing.T)) {
	saved := kernels
	defer func() { kernels = saved }()
	for _, set := range append([][]*kernel{saved}, otherKernels...) {
		kernels = set
		t.Run(set[0].name, f)
	}
}

func TestMultiplyIsTheFMAChain(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, m := range sizes {
			for _, n := range sizes {
				for _, k := range []int{1, 8, 17, 32, 33, 65} {
					batch := 1 + (m+n+k)%3
					as, bs := layouts(r, batch, m, k), layouts(r, batch, k, n)
					for an, a := range as {
						for bn, b := range bs {
							threads := 1 + (m*n)%3
							c := make([]float32, batch*m*n)
							Multiply(batch, m, n, k, a, b, c, threads)
							for bi := range batch {
								for i := range m {
									for j := range n {
										want := naiveChain(a, b, bi, i, j, k)
										if got := c[(bi*m+i)*n+j]; !sameBits(got, want) {
											t.Fatalf("batch %d m %d n %d k %d, A %s, B %s, threads %d: C[%d,%d,%d] = %g, want %g",
												batch, m, n, k, an, bn, threads, bi, i, j, got, want)
										}
									}
								}
							}
						}
					}
				}
			}
		}
	})
}

// Long contractions run over several packed blocks of B (kcBlock) and wide products over
// several passes of columns (ncBlock); the chains continue across them. Checked against a
// float64 product with a tolerance proportional to k, and bit for bit against Dot.
func TestMultiplyLargeAgainstFloat64(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, s := range [][3]int{{65, 33, 2*kcBlock + 7}, {13, ncBlock + 21, 40}, {200, 16, 144}, {144, 16, 1000}} {
			m, n, k := s[0], s[1], s[2]
			a, b := RowMajor(randMatrix(r, m*k), m, k), Transposed(randMatrix(r, n*k), n, k)
			c := make([]float32, m*n)
			Multiply(1, m, n, k, a, b, c, 2)
			col := make([]float32, k)
			for i := range m {
				for j := range n {
					var ref, mag float64
					for p := range k {
						x, y := float64(a.Data[i*k+p]), float64(b.Data[j*k+p])
						ref += x * y
						mag += math.Abs(x * y)
						col[p] = b.Data[j*k+p]
					}
					got := c[i*n+j]
					if tol := float64(k) * 0x1p-24 * mag; math.Abs(float64(got)-ref) > tol {
						t.Fatalf("%dx%dx%d: C[%d,%d] = %g, float64 %g, tolerance %g", m, n, k, i, j, got, ref, tol)
					}
					if i%7 == 0 && j%5 == 0 {
						if d := Dot(a.Data[i*k:(i+1)*k], col); !sameBits(d, got) {
							t.Fatalf("%dx%dx%d: C[%d,%d] = %g, Dot gives %g", m, n, k, i, j, got, d)
						}
					}
				}
			}
		}
	})
}

// sliceSource serves the rows of a row-major matrix through RowSource.
type sliceSource struct {
	data []float32
	k    int
}

func (s sliceSource) Rows(dst []float32, i0, rows, p0, cols int) {
	for r := range rows {
		copy(dst[r*cols:(r+1)*cols], s.data[(i0+r)*s.k+p0:])
	}
}

func TestMultiplyRowsEqualsMultiply(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, s := range [][3]int{{1, 1, 1}, {30, 17, 300}, {100, 64, 27}} {
		m, n, k := s[0], s[1], s[2]
		av := randMatrix(r, m*k)
		b := RowMajor(randMatrix(r, k*n), k, n)
		want, got := make([]float32, m*n), make([]float32, m*n)
		Multiply(1, m, n, k, RowMajor(av, m, k), b, want, 1)
		MultiplyRows(m, n, k, sliceSource{av, k}, b, got, 2)
		for i := range want {
			if !sameBits(got[i], want[i]) {
				t.Fatalf("%v: element %d: %g, want %g", s, i, got[i], want[i])
			}
		}
	}
}

func TestMultiplyEmptyContraction(t *testing.T) {
	c := []float32{1, 2, 3, 4, 5, 6}
	Multiply(1, 2, 3, 0, Matrix{}, Matrix{}, c, 1)
	for i, v := range c {
		if v != 0 {
			t.Fatalf("C[%d] = %g, want 0", i, v)
		}
	}
}

func TestMultiplyRejectsShortViews(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a view too short for its shape")
		}
	}()
	Multiply(1, 2, 2, 3, RowMajor(make([]float32, 5), 2, 3), RowMajor(make([]float32, 6), 3, 2), make([]float32, 4), 1)
}

// benchShapes are the products of a training step: DenseNet-BC-100's im2col convolutions at
// batch 64 (bottleneck 1x1 and 3x3 convolutions, forward), WRN-10-1's first group at batch 16,
// and the quick grid's MLP layers at batch 64.
var benchShapes = []struct {
	name    string
	m, n, k int
}{
	{"densenet-1x1-b64", 64 * 32 * 32, 48, 168},
	{"densenet-3x3-b64", 64 * 32 * 32, 12, 432},
	{"densenet-3x3-16x16-b64", 64 * 16 * 16, 12, 432},
	{"wrn-3x3-16-b16", 16 * 32 * 32, 16, 144},
	{"wrn-dw-16-b16", 144, 16, 16 * 32 * 32},
	{"mlp-196x64-b64", 64, 64, 196},
	{"square-512", 512, 512, 512},
}

func BenchmarkMultiply(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, s := range benchShapes {
		a := RowMajor(randMatrix(r, s.m*s.k), s.m, s.k)
		bm := RowMajor(randMatrix(r, s.k*s.n), s.k, s.n)
		c := make([]float32, s.m*s.n)
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", s.name, threads), func(b *testing.B) {
				for range b.N {
					Multiply(1, s.m, s.n, s.k, a, bm, c, threads)
				}
				b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkKernels compares the kernel sets this processor can run (AVX-512, AVX2, the portable
// Go kernel) on one thread.
func BenchmarkKernels(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 10))
	saved := kernels
	defer func() { kernels = saved }()
	for _, s := range []struct {
		name    string
		m, n, k int
	}{{"wrn-3x3-16-b16", 16 * 32 * 32, 16, 144}, {"square-256", 256, 256, 256}} {
		a := RowMajor(randMatrix(r, s.m*s.k), s.m, s.k)
		bm := RowMajor(randMatrix(r, s.k*s.n), s.k, s.n)
		c := make([]float32, s.m*s.n)
		for _, set := range append([][]*kernel{saved}, otherKernels...) {
			b.Run(s.name+"/"+strings.ReplaceAll(set[0].name, " ", "-"), func(b *testing.B) {
				kernels = set
				for range b.N {
					Multiply(1, s.m, s.n, s.k, a, bm, c, 1)
				}
				b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

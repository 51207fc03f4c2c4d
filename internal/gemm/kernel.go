package gemm

import "math"

// kernel is one micro-kernel: it computes an mr x nr block of C from kc columns of mr rows of A
// and a packed panel of B ([kc][nr]): per sub-block of ChainLength columns, one chain of fused
// multiply-adds from zero per element, stored into C (row stride ldc) for the first sub-block
// unless acc, else added to C.
type kernel struct {
	name   string
	mr, nr int
	// rows reads row r of A at a[r*lda:], column p at a[r*lda+p].
	rows func(kc int, a []float32, lda int, b, c []float32, ldc int, acc bool)
	// panels reads A packed as [kc][mr]: column p, row r at a[p*mr+r].
	panels func(kc int, a, b, c []float32, ldc int, acc bool)
}

// kernels are the micro-kernels this processor can run, best first within each NR; set by the
// architecture's init (kernels_amd64.go) or left to the portable one.
var kernels = []*kernel{goKernel}

// otherKernels are further sets of kernels this processor can run (the AVX2 kernels on an
// AVX-512 processor, the portable one), which the tests compare with kernels.
var otherKernels [][]*kernel

// goKernel is the portable micro-kernel: plain Go, with the exact fused multiply-add of fma32.
var goKernel = &kernel{name: "go 4x4", mr: 4, nr: 4, rows: goRows, panels: goPanels}

// chooseKernel returns the kernel that wastes the fewest padded columns on n columns (the one
// with the larger NR on a tie).
func chooseKernel(n int) *kernel {
	best := kernels[0]
	for _, k := range kernels[1:] {
		wb, wk := roundUp(n, best.nr)-n, roundUp(n, k.nr)-n
		if wk < wb || (wk == wb && k.nr > best.nr) {
			best = k
		}
	}
	return best
}

// KernelNames lists the micro-kernels in use on this processor (for benchmark reports).
func KernelNames() []string {
	var out []string
	for _, k := range kernels {
		out = append(out, k.name)
	}
	return out
}

func goRows(kc int, a []float32, lda int, b, c []float32, ldc int, acc bool) {
	a0, a1, a2, a3 := a[:kc], a[lda:lda+kc], a[2*lda:2*lda+kc], a[3*lda:3*lda+kc]
	goTile(kc, func(p int) (float32, float32, float32, float32) { return a0[p], a1[p], a2[p], a3[p] }, b, c, ldc, acc)
}

func goPanels(kc int, a, b, c []float32, ldc int, acc bool) {
	a = a[:kc*4]
	goTile(kc, func(p int) (float32, float32, float32, float32) {
		col := a[p*4 : p*4+4 : p*4+4]
		return col[0], col[1], col[2], col[3]
	}, b, c, ldc, acc)
}

// goTile is the 4x4 portable kernel; col returns column p of the 4 rows of A.
func goTile(kc int, col func(p int) (float32, float32, float32, float32), b, c []float32, ldc int, acc bool) {
	b = b[:kc*4]
	for p0 := 0; p0 < kc; p0 += ChainLength {
		var s [16]float32
		for p := p0; p < min(p0+ChainLength, kc); p++ {
			bp := b[p*4 : p*4+4 : p*4+4]
			b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
			x0, x1, x2, x3 := col(p)
			s[0], s[1], s[2], s[3] = fma32(x0, b0, s[0]), fma32(x0, b1, s[1]), fma32(x0, b2, s[2]), fma32(x0, b3, s[3])
			s[4], s[5], s[6], s[7] = fma32(x1, b0, s[4]), fma32(x1, b1, s[5]), fma32(x1, b2, s[6]), fma32(x1, b3, s[7])
			s[8], s[9], s[10], s[11] = fma32(x2, b0, s[8]), fma32(x2, b1, s[9]), fma32(x2, b2, s[10]), fma32(x2, b3, s[11])
			s[12], s[13], s[14], s[15] = fma32(x3, b0, s[12]), fma32(x3, b1, s[13]), fma32(x3, b2, s[14]), fma32(x3, b3, s[15])
		}
		for r := range 4 {
			row := c[r*ldc : r*ldc+4]
			for j := range row {
				if acc {
					row[j] += s[r*4+j]
				} else {
					row[j] = s[r*4+j]
				}
			}
		}
		acc = true
	}
}

// fma32 returns a*b + c rounded once to float32 (round to nearest, ties to even), as the FMA
// instructions of x86 and ARM compute it.
//
// The product of two float32 values is exact in float64, so a*b + c rounded to float64 and then
// to float32 is the correctly rounded result except when the float64 sum lies exactly halfway
// between two float32 values while the exact sum does not: rounding to float64 is monotonic and
// float32 midpoints are float64 values, so the first rounding can only land on a midpoint, not
// cross one. Only then, which the test of the low 29 bits detects for normal results, does the
// slow path compute the float64 sum's error and round towards it.
func fma32(a, b, c float32) float32 {
	s := float64(a)*float64(b) + float64(c)
	// A float32 midpoint in the normal range has bit 28 set and bits 0-27 clear; smaller
	// results (subnormal float32) have coarser grids: take the slow path for them.
	if bits := math.Float64bits(s); bits&0x1fffffff != 0x10000000 && bits<<1 >= 0x3810000000000000<<1 {
		return float32(s)
	}
	return fma32Slow(a, b, c)
}

func fma32Slow(a, b, c32 float32) float32 {
	p, c := float64(a)*float64(b), float64(c32)
	s := p + c
	r := float32(s)
	if math.IsNaN(s) || math.IsInf(s, 0) || float64(r) == s {
		return r
	}
	// The exact error of s = p + c (Knuth's TwoSum; exact in float64 arithmetic).
	bb := s - p
	e := (p - (s - bb)) + (c - bb)
	if e == 0 {
		return r
	}
	// The other float32 neighbour of s.
	var other float32
	if float64(r) > s {
		other = math.Nextafter32(r, float32(math.Inf(-1)))
	} else {
		other = math.Nextafter32(r, float32(math.Inf(1)))
	}
	if math.IsInf(float64(r), 0) {
		// s rounded up to infinity: it is a midpoint only at the overflow threshold.
		if math.Abs(s) == overflowThreshold && e*s < 0 {
			return float32(math.Copysign(math.MaxFloat32, s))
		}
		return r
	}
	if (float64(r)+float64(other))/2 != s {
		return r
	}
	if e > 0 {
		return max(r, other)
	}
	return min(r, other)
}

// overflowThreshold is the smallest magnitude that rounds to infinity in float32: the largest
// float32 plus half its unit in the last place.
var overflowThreshold = math.MaxFloat32 + math.Ldexp(1, 103)

// Package gemm multiplies float32 matrices for the project's pure-Go backend (models/backend)
// and for the host code that must reproduce that backend's arithmetic bit for bit
// (sampling/ondevice's host K-means).
//
// # The arithmetic contract
//
// Every element of a product C = A·B is computed in one fixed order. The contraction index runs
// in sub-blocks of ChainLength (32) consecutive values; each sub-block is one chain of fused
// multiply-adds from +0 (float32, one rounding per step), and the chains are added in order:
//
//	t_b = +0;  for p in [32b, 32b+32):  t_b = fma(A[i,p], B[p,j], t_b)
//	c = t_0;   for b = 1, 2, ...:       c = c + t_b
//
// The result does not depend on the shapes around the element, on the blocking, on the number of
// threads or on which kernel ran: the AVX-512 and AVX2 kernels in assembly and the portable Go
// kernel give the same bits (the Go kernel rounds its fused multiply-add exactly as the
// hardware does; see fma32). Dot is the same computation for one pair of vectors, so host code
// that computes one element, a row or a block of a product gets the bits the backend gets for
// the whole product. Chains of 32 rather than one chain over the whole contraction keep the
// rounding error of long contractions (a ResNet-50 convolution sums 4,608 products) to about
// that of SimpleGo's own kernels, which add groups of 8.
//
// # How it is fast
//
// The driver follows the usual structure of BLAS implementations (Goto and van de Geijn's): B is
// packed per block of KC rows into panels of NR columns, zero padded; the rows of A are read in
// place when they are contiguous (the micro-kernel broadcasts each A value from its row), copied
// in runs when they come from a gather (a convolution's patches, RowSource), or packed into
// panels of MR rows when A is stored by columns; an MR x NR micro-kernel keeps its block of C in
// registers for the whole block of KC products. Independent blocks of rows are split over
// threads. The micro-kernels are chosen once, at start-up, from what the processor supports.
package gemm

import (
	"fmt"
	"sync"
)

// Matrix is a read-only strided view of float32 matrices: element (b, i, j) of batch b is
// Data[b*BatchStride + i*RowStride + j*ColStride].
type Matrix struct {
	Data        []float32
	RowStride   int
	ColStride   int
	BatchStride int
}

// RowMajor returns the view of a row-major [rows, cols] matrix (a batch of them when data holds
// several, one after the other).
func RowMajor(data []float32, rows, cols int) Matrix {
	return Matrix{Data: data, RowStride: cols, ColStride: 1, BatchStride: rows * cols}
}

// Transposed returns the view of the transpose of a row-major [rows, cols] matrix: a
// [cols, rows] matrix.
func Transposed(data []float32, rows, cols int) Matrix {
	return Matrix{Data: data, RowStride: 1, ColStride: cols, BatchStride: rows * cols}
}

// RowSource provides the left operand of MultiplyRows block by block, for a matrix that is never
// stored whole (a convolution's patches).
type RowSource interface {
	// Rows writes rows [i0, i0+rows) and columns [p0, p0+cols) of the matrix into dst,
	// row-major with row stride cols. It is called concurrently from several goroutines, on
	// disjoint dst.
	Rows(dst []float32, i0, rows, p0, cols int)
}

// Multiply computes C = A·B for batch pairs of an m x k matrix A and a k x n matrix B; c holds the
// batch m x n results, row-major, one after the other (len(c) >= batch*m*n). threads is how many
// goroutines may work on it (at most; small products use fewer).
func Multiply(batch, m, n, k int, a, b Matrix, c []float32, threads int) {
	if batch <= 0 || m <= 0 || n <= 0 {
		return
	}
	checkView("A", a, batch, m, k)
	checkView("B", b, batch, k, n)
	run(&problem{batch: batch, m: m, n: n, k: k, a: a, b: b, c: c}, threads)
}

// MultiplyRows computes C = A·B for one m x k matrix A given by src and a k x n matrix B; c is
// m x n, row-major.
func MultiplyRows(m, n, k int, src RowSource, b Matrix, c []float32, threads int) {
	if m <= 0 || n <= 0 {
		return
	}
	checkView("B", b, 1, k, n)
	run(&problem{batch: 1, m: m, n: n, k: k, src: src, b: b, c: c}, threads)
}

func checkView(name string, v Matrix, batch, rows, cols int) {
	if rows == 0 || cols == 0 {
		return
	}
	last := (batch-1)*v.BatchStride + (rows-1)*v.RowStride + (cols-1)*v.ColStride
	if v.RowStride < 0 || v.ColStride < 0 || v.BatchStride < 0 || last >= len(v.Data) {
		panic(fmt.Sprintf("gemm: %s view (strides %d, %d, batch %d) of %d values does not hold %d x %d x %d",
			name, v.RowStride, v.ColStride, v.BatchStride, len(v.Data), batch, rows, cols))
	}
}

// Dot returns the sum of a[i]*b[i] (len(b) >= len(a)) in the order of the contract above:
// element (i, j) of Multiply's product when a is row i of A and b column j of B.
func Dot(a, b []float32) float32 {
	b = b[:len(a)]
	var c float32
	for p0 := 0; p0 < len(a); p0 += ChainLength {
		var t float32
		for p := p0; p < min(p0+ChainLength, len(a)); p++ {
			t = fma32(a[p], b[p], t)
		}
		if p0 == 0 {
			c = t
		} else {
			c += t
		}
	}
	return c
}

// ChainLength is the longest chain of fused multiply-adds: a contraction is summed in chains of
// this many products (the contract above).
const ChainLength = 32

// Blocking: KC rows of B per packed panel (a 32-column panel of 256 rows is 32 KiB, L1-sized),
// MC rows of A per block (L2-sized), NC columns of C per pass. kcBlock is a multiple of
// ChainLength, so that the blocks of the driver start sub-blocks.
const (
	kcBlock = 256
	mcBlock = 192
	ncBlock = 1024
	// minFlopsPerThread: below this many multiply-adds per goroutine a product runs on fewer (starting a
	// goroutine and waiting for it costs about as much as 10^5 of them).
	minFlopsPerThread = 1 << 20
)

type problem struct {
	batch, m, n, k int
	a              Matrix
	src            RowSource
	b              Matrix
	c              []float32
}

// unit is one block of rows of one batch element: the work one goroutine takes at a time.
type unit struct{ bi, i0, i1 int }

func run(p *problem, threads int) {
	kern := chooseKernel(p.n)
	if p.k == 0 {
		for i := range p.c[:p.batch*p.m*p.n] {
			p.c[i] = 0
		}
		return
	}
	threads = max(1, min(threads, p.batch*p.m*p.n*p.k/minFlopsPerThread))
	// Blocks of rows: mcBlock, smaller when that leaves threads idle.
	mc := mcBlock
	if per := ceilDiv(threads, p.batch); per > 1 {
		mc = min(mc, roundUp(ceilDiv(p.m, per), kern.mr))
	}
	mc = max(mc, kern.mr)
	var units []unit
	for bi := range p.batch {
		for i0 := 0; i0 < p.m; i0 += mc {
			units = append(units, unit{bi, i0, min(i0+mc, p.m)})
		}
	}
	threads = min(threads, len(units))
	if threads == 1 {
		w := newWorker(kern, p)
		for _, u := range units {
			w.run(u)
		}
		w.release()
		return
	}
	var wg sync.WaitGroup
	for t := range threads {
		lo, hi := t*len(units)/threads, (t+1)*len(units)/threads
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newWorker(kern, p)
			for _, u := range units[lo:hi] {
				w.run(u)
			}
			w.release()
		}()
	}
	wg.Wait()
}

// worker holds one goroutine's buffers.
type worker struct {
	kern  *kernel
	p     *problem
	bpack []float32 // [NC/NR][KC][NR]
	apack []float32 // MC x KC: rows of A (row-major) or panels of MR rows
	tile  []float32 // MR x NR: a block of C at the edges
	pad   []float32 // MR x KC: MR rows of A at the bottom edge
}

var bufPool = sync.Pool{New: func() any { return new([]float32) }}

func getBuf(n int) []float32 {
	p := bufPool.Get().(*[]float32)
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	return (*p)[:n]
}

func putBuf(b []float32) {
	bufPool.Put(&b)
}

func newWorker(kern *kernel, p *problem) *worker {
	kc := min(kcBlock, p.k)
	nc := roundUp(min(ncBlock, p.n), kern.nr)
	w := &worker{kern: kern, p: p, bpack: getBuf(kc * nc), tile: getBuf(kern.mr * kern.nr)}
	direct := p.src == nil && p.a.ColStride == 1
	if !direct {
		w.apack = getBuf(roundUp(min(mcBlock, p.m), kern.mr) * kc)
	}
	w.pad = getBuf(kern.mr * kc)
	return w
}

func (w *worker) release() {
	for _, b := range [][]float32{w.bpack, w.apack, w.tile, w.pad} {
		if b != nil {
			putBuf(b)
		}
	}
}

// run computes the rows u.i0..u.i1 of batch element u.bi.
func (w *worker) run(u unit) {
	p := w.p
	for jc := 0; jc < p.n; jc += ncBlock {
		nc := min(ncBlock, p.n-jc)
		for pc := 0; pc < p.k; pc += kcBlock {
			kc := min(kcBlock, p.k-pc)
			w.packB(u.bi, pc, kc, jc, nc)
			for ic := u.i0; ic < u.i1; ic += mcBlock {
				w.block(u.bi, ic, min(mcBlock, u.i1-ic), pc, kc, jc, nc)
			}
		}
	}
}

// packB packs rows [pc, pc+kc) and columns [jc, jc+nc) of B into panels of NR columns:
// bpack[t*kc*NR + p*NR + j] = B[pc+p, jc+t*NR+j], zero beyond nc.
func (w *worker) packB(bi, pc, kc, jc, nc int) {
	nr := w.kern.nr
	b := w.p.b
	base := bi*b.BatchStride + pc*b.RowStride + jc*b.ColStride
	for t := 0; t*nr < nc; t++ {
		panel := w.bpack[t*kc*nr : (t+1)*kc*nr]
		cols := min(nr, nc-t*nr)
		off := base + t*nr*b.ColStride
		switch {
		case b.ColStride == 1:
			for p := range kc {
				row := panel[p*nr : p*nr+nr]
				copy(row, b.Data[off+p*b.RowStride:off+p*b.RowStride+cols])
				clear(row[cols:])
			}
		default:
			for p := range kc {
				row := panel[p*nr : p*nr+nr]
				o := off + p*b.RowStride
				for j := range cols {
					row[j] = b.Data[o+j*b.ColStride]
				}
				clear(row[cols:])
			}
		}
	}
}

// block multiplies rows [ic, ic+mc) x columns [pc, pc+kc) of A by the packed B and adds the
// result to C (or stores it, for the first block of columns of A).
func (w *worker) block(bi, ic, mc, pc, kc, jc, nc int) {
	p, kern := w.p, w.kern
	mr, nr := kern.mr, kern.nr
	acc := pc > 0
	a := p.a
	// Where the rows of A come from: in place (aData, aOff, lda: row i of the block starts at
	// aOff + i*lda) or packed in panels of MR rows ([kc][MR] each).
	var aData []float32
	aOff, lda, panels := 0, 0, false
	switch {
	case p.src != nil:
		p.src.Rows(w.apack[:mc*kc], ic, mc, pc, kc)
		aData, lda = w.apack, kc
	case a.ColStride == 1:
		aData, aOff, lda = a.Data, bi*a.BatchStride+ic*a.RowStride+pc, a.RowStride
	case a.RowStride == 1:
		w.packAPanels(bi, ic, mc, pc, kc)
		panels = true
	default:
		w.gatherA(bi, ic, mc, pc, kc)
		aData, lda = w.apack, kc
	}
	ldc := p.n
	cBase := (bi*p.m+ic)*ldc + jc
	for t := 0; t*nr < nc; t++ {
		bp := w.bpack[t*kc*nr : (t+1)*kc*nr]
		cols := min(nr, nc-t*nr)
		for i := 0; i < mc; i += mr {
			rows := min(mr, mc-i)
			c := cBase + i*ldc + t*nr
			full := rows == mr && cols == nr
			if panels {
				ap := w.apack[(i/mr)*kc*mr : (i/mr+1)*kc*mr]
				if full {
					kern.panels(kc, ap, bp, p.c[c:], ldc, acc)
				} else {
					w.edge(rows, cols, c, acc, func(t []float32) { kern.panels(kc, ap, bp, t, nr, acc) })
				}
				continue
			}
			if rows < mr {
				// The kernel reads MR rows: copy the last ones with zero rows below.
				pad := w.pad[:mr*kc]
				for r := range mr {
					if r < rows {
						o := aOff + (i+r)*lda
						copy(pad[r*kc:(r+1)*kc], aData[o:o+kc])
					} else {
						clear(pad[r*kc : (r+1)*kc])
					}
				}
				w.edge(rows, cols, c, acc, func(t []float32) { kern.rows(kc, pad, kc, bp, t, nr, acc) })
				continue
			}
			ar := aData[aOff+i*lda:]
			if full {
				kern.rows(kc, ar, lda, bp, p.c[c:], ldc, acc)
			} else {
				w.edge(rows, cols, c, acc, func(t []float32) { kern.rows(kc, ar, lda, bp, t, nr, acc) })
			}
		}
	}
}

// edge runs a micro-kernel on the MR x NR tile buffer for a block of C of rows x cols at c
// (smaller than the kernel's), copying the block in first when accumulating and out after.
func (w *worker) edge(rows, cols, c int, acc bool, kernel func(tile []float32)) {
	nr, ldc := w.kern.nr, w.p.n
	t := w.tile
	if acc {
		for r := range rows {
			copy(t[r*nr:r*nr+cols], w.p.c[c+r*ldc:c+r*ldc+cols])
		}
	}
	kernel(t)
	for r := range rows {
		copy(w.p.c[c+r*ldc:c+r*ldc+cols], t[r*nr:r*nr+cols])
	}
}

// packAPanels packs rows [ic, ic+mc) x columns [pc, pc+kc) of a column-major A (RowStride 1)
// into panels of MR rows: apack[q*kc*MR + p*MR + r] = A[ic+q*MR+r, pc+p], zero beyond mc.
func (w *worker) packAPanels(bi, ic, mc, pc, kc int) {
	mr := w.kern.mr
	a := w.p.a
	for q := 0; q*mr < mc; q++ {
		rows := min(mr, mc-q*mr)
		panel := w.apack[q*kc*mr : (q+1)*kc*mr]
		off := bi*a.BatchStride + (ic + q*mr) + pc*a.ColStride
		for p := range kc {
			dst := panel[p*mr : p*mr+mr]
			o := off + p*a.ColStride
			copy(dst, a.Data[o:o+rows])
			clear(dst[rows:])
		}
	}
}

// gatherA copies rows [ic, ic+mc) x columns [pc, pc+kc) of a strided A row-major into apack.
func (w *worker) gatherA(bi, ic, mc, pc, kc int) {
	a := w.p.a
	for r := range mc {
		dst := w.apack[r*kc : (r+1)*kc]
		o := bi*a.BatchStride + (ic+r)*a.RowStride + pc*a.ColStride
		for q := range kc {
			dst[q] = a.Data[o+q*a.ColStride]
		}
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
func roundUp(a, b int) int { return ceilDiv(a, b) * b }

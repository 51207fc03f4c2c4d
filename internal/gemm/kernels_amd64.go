//go:build amd64 && !purego

package gemm

import "unsafe"

//go:generate sh -c "go run gen_amd64.go > kernels_amd64.s"

//go:noescape
func rowsavx51224x16(kc int, a *float32, lda int, b *float32, c *float32, ldc int, acc bool)

//go:noescape
func panelsavx51224x16(kc int, a *float32, b *float32, c *float32, ldc int, acc bool)

//go:noescape
func rowsavx51212x32(kc int, a *float32, lda int, b *float32, c *float32, ldc int, acc bool)

//go:noescape
func panelsavx51212x32(kc int, a *float32, b *float32, c *float32, ldc int, acc bool)

//go:noescape
func rowsavx26x16(kc int, a *float32, lda int, b *float32, c *float32, ldc int, acc bool)

//go:noescape
func panelsavx26x16(kc int, a *float32, b *float32, c *float32, ldc int, acc bool)

// fmaAsm is the processor's fused multiply-add (VFMADD231SS), for the tests of fma32.
func fmaAsm(a, b, c float32) float32

func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

func xgetbv() (eax, edx uint32)

// Processor features, read once at start-up.
var hasAVX2FMA, hasAVX512 = detect()

func detect() (avx2fma, avx512 bool) {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false, false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if ecx1&osxsave == 0 || ecx1&avx == 0 {
		return false, false
	}
	xcr0, _ := xgetbv()
	if xcr0&0x6 != 0x6 { // the OS saves the SSE and AVX registers
		return false, false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	const avx2, avx512f = 1 << 5, 1 << 16
	avx2fma = ebx7&avx2 != 0 && ecx1&fma != 0
	// AVX-512 also needs the OS to save the opmask and the upper ZMM registers.
	avx512 = avx2fma && ebx7&avx512f != 0 && xcr0&0xe0 == 0xe0
	return avx2fma, avx512
}

// The kernels read A and write C through pointers: these wrappers check the extent of what
// they touch, so that a bug in the driver is a panic, not memory corruption.
func asmKernel(name string, mr, nr int,
	rows func(kc int, a *float32, lda int, b *float32, c *float32, ldc int, acc bool),
	panels func(kc int, a *float32, b *float32, c *float32, ldc int, acc bool)) *kernel {
	return &kernel{
		name: name, mr: mr, nr: nr,
		rows: func(kc int, a []float32, lda int, b, c []float32, ldc int, acc bool) {
			_ = a[(mr-1)*lda+kc-1]
			_ = b[kc*nr-1]
			_ = c[(mr-1)*ldc+nr-1]
			rows(kc, unsafe.SliceData(a), lda, unsafe.SliceData(b), unsafe.SliceData(c), ldc, acc)
		},
		panels: func(kc int, a, b, c []float32, ldc int, acc bool) {
			_ = a[kc*mr-1]
			_ = b[kc*nr-1]
			_ = c[(mr-1)*ldc+nr-1]
			panels(kc, unsafe.SliceData(a), unsafe.SliceData(b), unsafe.SliceData(c), ldc, acc)
		},
	}
}

func init() {
	if !hasAVX2FMA {
		return
	}
	avx2 := []*kernel{asmKernel("avx2 6x16", 6, 16, rowsavx26x16, panelsavx26x16)}
	otherKernels = [][]*kernel{{goKernel}}
	kernels = avx2
	if hasAVX512 {
		kernels = []*kernel{
			asmKernel("avx512 12x32", 12, 32, rowsavx51212x32, panelsavx51212x32),
			asmKernel("avx512 24x16", 24, 16, rowsavx51224x16, panelsavx51224x16),
		}
		otherKernels = [][]*kernel{avx2, {goKernel}}
	}
}

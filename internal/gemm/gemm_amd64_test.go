//go:build amd64 && !purego

package gemm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The portable fma32 gives the processor's VFMADD231SS result, bit for bit, so the Go kernel
// and the assembly kernels agree.
func TestFMA32MatchesProcessor(t *testing.T) {
	if !hasAVX2FMA {
		t.Skip("this processor has no FMA3: nothing to compare with")
	}
	r := rand.New(rand.NewPCG(11, 12))
	for _, c := range fmaCases(r, 200000) {
		want := fmaAsm(c[0], c[1], c[2])
		if got := fma32(c[0], c[1], c[2]); !sameBits(got, want) {
			t.Fatalf("fma32(%g, %g, %g) = %g (%08x), processor %g (%08x)", c[0], c[1], c[2], got, math.Float32bits(got), want, math.Float32bits(want))
		}
	}
}

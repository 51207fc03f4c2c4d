// Package testutil holds the helpers that the tests of several packages share. It is imported by
// tests only.
package testutil

import (
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/oodlab/dos/models/backend"
)

// GoBackend returns the project's pure-Go backend (backend.NewGo: SimpleGo completed with the ops
// GoMLX v0.26.0 lacks, its ops executed one after the other), finalised when the test ends.
func GoBackend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := backend.NewGo("")
	if err != nil {
		t.Fatalf("pure-Go backend: %v", err)
	}
	t.Cleanup(b.Finalize)
	return b
}

// Float64s returns the values of a float32 or float64 tensor as float64.
func Float64s(t testing.TB, x *tensors.Tensor) []float64 {
	t.Helper()
	switch x.DType() {
	case dtypes.Float64:
		return tensors.MustCopyFlatData[float64](x)
	case dtypes.Float32:
		f := tensors.MustCopyFlatData[float32](x)
		out := make([]float64, len(f))
		for i, v := range f {
			out[i] = float64(v)
		}
		return out
	}
	t.Fatalf("unexpected dtype %s", x.DType())
	return nil
}

// Package testutil holds the helpers that the tests of several packages share. It is imported by
// tests only.
package testutil

import (
	"fmt"
	"os"
	"os/exec"
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
		return Floats[float64](tensors.MustCopyFlatData[float32](x))
	}
	t.Fatalf("unexpected dtype %s", x.DType())
	return nil
}

// Floats converts float32s to float64s or back (rounding to nearest), element by element.
func Floats[To, From float32 | float64](v []From) []To {
	out := make([]To, len(v))
	for i, x := range v {
		out[i] = To(x)
	}
	return out
}

// MissingTool skips the test when a tool it needs is missing, saying what is missing (what) and
// how to install it (install, a Debian command); under .ci/run (OOD_REQUIRE_TOOLS=1), which
// installs every such tool, it fails the test instead, so that CI never passes by skipping.
func MissingTool(t testing.TB, what, install string) {
	t.Helper()
	if os.Getenv("OOD_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s, and OOD_REQUIRE_TOOLS=1 requires it (Debian: %s)", what, install)
	}
	t.Skipf("%s (Debian: %s)", what, install)
}

// PeerPython returns a Python that imports torch and scikit-learn, for the tests that run the
// PyTorch peer: $PY, else python3, else /usr/bin/python3 (Debian's python3-torch and
// python3-sklearn); without one, see MissingTool.
func PeerPython(t testing.TB) string {
	t.Helper()
	cands := []string{"python3", "/usr/bin/python3"}
	if py := os.Getenv("PY"); py != "" {
		cands = []string{py}
	}
	for _, py := range cands {
		if exec.Command(py, "-c", "import torch, sklearn").Run() == nil {
			return py
		}
	}
	MissingTool(t, fmt.Sprintf("no Python with torch and scikit-learn among %v", cands), "apt-get install -y python3-torch python3-sklearn")
	return ""
}

// Package assert holds the comparisons the tests of several packages share: numbers against
// goldens with one tolerance rule (Close), and text against golden files (Golden). It is
// imported by tests only and imports nothing of the project.
package assert

import (
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// Tol is a tolerance: |got - want| <= Rel*|want| + Abs.
type Tol struct{ Rel, Abs float64 }

// Near returns a tolerance of tol relative to |want| with the same floor tol near zero, the
// usual choice for goldens of order 1.
func Near(tol float64) Tol { return Tol{Rel: tol, Abs: tol} }

// Close reports (t.Errorf) every value of got that is not finite or is farther from want
// than tol allows; a length mismatch stops the test.
func Close[F float32 | float64](t testing.TB, what string, got, want []F, tol Tol) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(g) || math.IsInf(g, 0) {
			t.Errorf("%s[%d] = %v, not finite", what, i, g)
		} else if math.Abs(g-w) > tol.Rel*math.Abs(w)+tol.Abs {
			t.Errorf("%s[%d] = %.12g, want %.12g (tolerance %g relative + %g)", what, i, g, w, tol.Rel, tol.Abs)
		} else {
			continue
		}
		if bad++; bad >= 10 {
			t.Fatalf("%s: stopping after %d differences", what, bad)
		}
	}
}

// Update is the -update flag of the tests that compare with golden files: it rewrites the
// files instead.
var Update = flag.Bool("update", false, "rewrite the golden files of the tests instead of comparing with them")

// Golden compares got with the golden file at path (relative to the test's package), or with
// -update writes it.
func Golden(t testing.TB, path, got string) {
	t.Helper()
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

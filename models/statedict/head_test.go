package statedict

import (
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestAddAbsentClass: a K-output state dict extended by AddAbsentClass imports into a K+1
// network, whose classifier keeps the K rows and gains a zero row; everything else is the same.
func TestAddAbsentClass(t *testing.T) {
	for _, c := range []struct {
		network string
		k       int
	}{{"resnet18", 3}, {"resnet50", 5}} {
		base, err := Template(c.network, c.k)
		if err != nil {
			t.Fatal(err)
		}
		sd := Hashed(base)
		ext, keys, err := AddAbsentClass(sd, c.network, c.k+1)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(keys, []string{"fc.weight", "fc.bias"}) && !slices.Equal(keys, []string{"linear.weight", "linear.bias"}) {
			t.Fatalf("%s: extended %v", c.network, keys)
		}
		for _, k := range sd.Keys() {
			a, _ := sd.Get(k)
			b, _ := ext.Get(k)
			if slices.Contains(keys, k) {
				av, _ := a.Float32s()
				bv, _ := b.Float32s()
				row := len(av) / c.k
				if b.Shape[0] != c.k+1 || !slices.Equal(bv[:len(av)], av) || slices.ContainsFunc(bv[len(av):], func(v float32) bool { return v != 0 }) || len(bv) != len(av)+row {
					t.Fatalf("%s %s: %v -> %v, want the rows kept and one zero row", c.network, k, a.Shape, b.Shape)
				}
			} else if !a.Equal(b) {
				t.Fatalf("%s: key %s changed", c.network, k)
			}
		}
		ctx := context.New()
		if err := Import(ctx.In("model"), c.network, c.k+1, ext); err != nil {
			t.Fatalf("%s: import of the extended dict: %v", c.network, err)
		}
		// The original does not fit the K+1 network; the extended one does not extend again.
		if err := Import(context.New().In("model"), c.network, c.k+1, sd); err == nil {
			t.Fatalf("%s: a %d-output dict imported into %d outputs", c.network, c.k, c.k+1)
		}
		if _, _, err := AddAbsentClass(ext, c.network, c.k+1); err == nil || !strings.Contains(err.Error(), "want float") {
			t.Fatalf("%s: extending a K+1 dict: %v", c.network, err)
		}
	}
}

package backend

import (
	"flag"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph DSL reads better unqualified.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"k8s.io/klog/v2"
)

// TestStableHLO emits a small graph through the XLA backend's translation and checks the program:
// its signature, its operations (a negative Pad and a Reverse are native StableHLO operations
// there, not the compositions the pure-Go backend uses), and that klog's verbosity is restored.
func TestStableHLO(t *testing.T) {
	var fs flag.FlagSet
	klog.InitFlags(&fs)
	vBefore := fs.Lookup("v").Value.String()
	prog, err := StableHLO("tiny", func(g *Graph) []*Node {
		x := Parameter(g, "x", shapes.Make(dtypes.Float32, 2, 3))
		y := AddScalar(Mul(x, x), 1)
		y = Reverse(y, 1)
		y = Pad(y, Const(g, float32(0)), PadAxis{}, PadAxis{Start: -1, End: 2})
		return []*Node{ReduceAllSum(y)}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(prog, "func.func @main(%x: tensor<2x3xf32>)") || !strings.HasSuffix(prog, "}\n") {
		t.Errorf("unexpected program:\n%s", prog)
	}
	counts := map[string]int{}
	for _, c := range CountOps(prog) {
		counts[c.Op] = c.Count
	}
	for op, want := range map[string]int{"multiply": 1, "reverse": 1, "pad": 1, "reduce": 1} {
		if counts[op] != want {
			t.Errorf("%s: %d in the program, want %d; counts %v\n%s", op, counts[op], want, counts, prog)
		}
	}
	if got := fs.Lookup("v").Value.String(); got != vBefore {
		t.Errorf("klog verbosity %s after StableHLO, was %s", got, vBefore)
	}

	// A graph that cannot be built is an error naming the graph, not a panic.
	_, err = StableHLO("bad", func(g *Graph) []*Node {
		return []*Node{Add(Parameter(g, "a", shapes.Make(dtypes.Float32, 2)), Parameter(g, "b", shapes.Make(dtypes.Float32, 3)))}
	})
	if err == nil || !strings.Contains(err.Error(), `"bad"`) {
		t.Errorf("mismatched shapes: error %v, want one naming the graph", err)
	}
}

// TestCountOps counts the first operation of each line and ignores attributes.
func TestCountOps(t *testing.T) {
	prog := `  %0 = stablehlo.convolution(%a, %b) dim_numbers = #stablehlo.conv<[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]>
  %1 = stablehlo.add %0, %0 : tensor<2xf32>
  %2 = "stablehlo.reduce"(%1, %c) ({
    stablehlo.return %x : tensor<f32>
  %3 = stablehlo.add %2, %2 : tensor<f32>
`
	got := CountOps(prog)
	want := []OpCount{{"add", 2}, {"convolution", 1}, {"reduce", 1}, {"return", 1}}
	if len(got) != len(want) {
		t.Fatalf("CountOps = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("CountOps = %v, want %v", got, want)
		}
	}
}

// TestEnvXLA: no XLA backend named, nothing opened; one named that cannot be opened, an error
// naming it.
func TestEnvXLA(t *testing.T) {
	for _, v := range []string{"", "go"} {
		t.Setenv(EnvVar, v)
		if be, _, named, err := EnvXLA(); named || be != nil || err != nil {
			t.Errorf("%s=%q: named %v, backend %v, err %v", EnvVar, v, named, be, err)
		}
	}
	t.Setenv(EnvVar, "xla:/nonexistent/plugin.so")
	if _, _, named, err := EnvXLA(); !named || err == nil || !strings.Contains(err.Error(), "/nonexistent/plugin.so") {
		t.Errorf("missing plugin: named %v, err %v", named, err)
	}
}

package backend

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/xla"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/oodlab/dos/internal/assert"
)

func goBackend(t *testing.T) backends.Backend {
	t.Helper()
	b, info, err := New("go")
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "go" || len(info.Devices) == 0 {
		t.Fatalf("info = %+v, want name go with devices", info)
	}
	return b
}

func TestNewRejectsBadNames(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"cuda", `unknown backend "cuda"`},
		{"tpu:x", `unknown backend "tpu:x"`},
		{"xla:/no/such/dir/pjrt_plugin.so", `"/no/such/dir/pjrt_plugin.so" does not exist`},
		{"xla:relative/plugin.so", "must be absolute"},
		{"go:nonsense=1", `backend "go:nonsense=1"`},
	} {
		_, _, err := New(tc.name)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q) error = %v, want it to contain %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("New(%q) error spans several lines: %q", tc.name, err)
		}
	}
}

func TestNewReadsEnvironment(t *testing.T) {
	t.Setenv(EnvVar, "go:parallelism=1")
	_, info, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "go" || info.Config != "parallelism=1" {
		t.Fatalf("info = %+v, want the go backend configured from %s", info, EnvVar)
	}
}

func TestAutoFallsBackWithNotice(t *testing.T) {
	t.Setenv(EnvVar, "")
	t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", t.TempDir())
	t.Setenv(xla.NoAutoInstallEnv, "1")
	b, info, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	if info.Name == "go" {
		if info.Notice == "" || strings.Contains(info.Notice, "\n") {
			t.Fatalf("pure-Go fallback needs a one-line notice, got %q", info.Notice)
		}
		if _, ok := b.(*GoBackend); !ok {
			t.Fatalf("fallback backend is %T, want *GoBackend", b)
		}
	}
}

// A grid opens a backend per run: offline, the plugin download must be tried once per process,
// and every run's notice must still say why XLA is not used.
func TestAutoInstallTriedOnce(t *testing.T) {
	t.Setenv(EnvVar, "")
	t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", t.TempDir())
	t.Setenv(xla.NoAutoInstallEnv, "") // restored after the test, unset during it
	os.Unsetenv(xla.NoAutoInstallEnv)
	saved := autoInstall
	t.Cleanup(func() { autoInstall = saved })
	calls := 0
	autoInstall = newAutoInstall(func() error { calls++; return errors.New("no route to the plugin release") })
	for run := range 3 {
		b, info, err := New("")
		if err != nil {
			t.Fatal(err)
		}
		b.Finalize()
		if info.Name == "go" && !strings.Contains(info.Notice, "auto-install failed: no route to the plugin release") {
			t.Errorf("run %d: notice %q does not give the install error", run, info.Notice)
		}
	}
	if calls != 1 {
		t.Errorf("the plugin install was tried %d times for 3 backends, want once", calls)
	}
}

// refPad is XLA's Pad on a row-major array: interior padding, then edge padding (negative crops).
func refPad(x []float64, dims []int, fill float64, cfg []backends.PadAxis) ([]float64, []int) {
	for axis, c := range cfg {
		pre, n, post := 1, dims[axis], 1
		for i, d := range dims {
			if i < axis {
				pre *= d
			} else if i > axis {
				post *= d
			}
		}
		inter := n
		if n > 0 {
			inter = n + (n-1)*c.Interior
		}
		m := inter + c.Start + c.End
		out := make([]float64, pre*m*post)
		for p := range pre {
			for j := range m {
				k := j - c.Start // position in the interior-padded axis
				for q := range post {
					v := fill
					if k >= 0 && k < inter && k%(c.Interior+1) == 0 {
						v = x[(p*n+k/(c.Interior+1))*post+q]
					}
					out[(p*m+j)*post+q] = v
				}
			}
		}
		x = out
		dims = append([]int(nil), dims...)
		dims[axis] = m
	}
	return x, dims
}

func randSlice(r *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	return v
}

func TestPadMatchesXLASemantics(t *testing.T) {
	b := goBackend(t)
	r := rand.New(rand.NewPCG(1, 2))
	dims := []int{2, 3, 4}
	x := randSlice(r, 24)
	for _, cfg := range [][]backends.PadAxis{
		{{Start: 1, End: 2}},
		{{}, {Interior: 2}},
		{{}, {Start: -1, End: 1, Interior: 1}, {Start: 2, End: -3, Interior: 3}},
		{{Start: -1}, {End: -2}, {Start: -1, End: -1}},
		{{Interior: 1, Start: -1, End: -1}, {}, {Interior: 2, Start: 1}},
	} {
		want, wantDims := refPad(x, dims, -7, cfg)
		got, err := ExecOnce(b, func(xn *Node) *Node {
			return Pad(xn, Scalar(xn.Graph(), xn.DType(), -7.0), cfg...)
		}, tensors.FromFlatDataAndDimensions(x, dims...))
		if err != nil {
			t.Fatalf("Pad%v: %v", cfg, err)
		}
		if !equalInts(got.Shape().Dimensions, wantDims) {
			t.Fatalf("Pad%v shape = %v, want %v", cfg, got.Shape().Dimensions, wantDims)
		}
		assert.Close(t, "Pad", tensors.MustCopyFlatData[float64](got), want, assert.Near(0))
	}
}

func TestReverseMatchesReference(t *testing.T) {
	b := goBackend(t)
	dims := []int{3, 2, 4}
	x := make([]float64, 24)
	for i := range x {
		x[i] = float64(i)
	}
	got, err := ExecOnce(b, func(xn *Node) *Node { return Reverse(xn, 0, 2) },
		tensors.FromFlatDataAndDimensions(x, dims...))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, 24)
	for i := range 3 {
		for j := range 2 {
			for k := range 4 {
				want[(i*2+j)*4+k] = x[((2-i)*2+j)*4+(3-k)]
			}
		}
	}
	assert.Close(t, "Reverse", tensors.MustCopyFlatData[float64](got), want, assert.Near(0))
}

// TestMaxPoolGradientWithTies checks SelectAndScatterMax through the gradient of max pooling:
// each window's upstream gradient goes to the first (row-major) maximum of the window.
func TestMaxPoolGradientWithTies(t *testing.T) {
	b := goBackend(t)
	const h, w = 5, 5
	x := make([]float64, h*w)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range x {
		x[i] = float64(r.IntN(3)) // many ties
	}
	// 3x3 windows, stride 2, padding 1: output 3x3.
	up := randSlice(r, 9)
	got, err := ExecOnce(b, func(xn, upn *Node) *Node {
		y := MaxPool(xn).Window(3).Strides(2).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
		return Gradient(ReduceAllSum(Mul(y, upn)), xn)[0]
	}, tensors.FromFlatDataAndDimensions(x, 1, h, w, 1), tensors.FromFlatDataAndDimensions(up, 1, 3, 3, 1))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, h*w)
	for oi := range 3 {
		for oj := range 3 {
			best, at := math.Inf(-1), -1
			for di := range 3 {
				for dj := range 3 {
					i, j := oi*2-1+di, oj*2-1+dj
					if i < 0 || j < 0 || i >= h || j >= w {
						continue
					}
					if x[i*w+j] > best {
						best, at = x[i*w+j], i*w+j
					}
				}
			}
			want[at] += up[oi*3+oj]
		}
	}
	assert.Close(t, "max-pool gradient", tensors.MustCopyFlatData[float64](got), want, assert.Near(1e-12))
}

// smallNet exercises every composed op in its gradient: a strided, padded convolution (Reverse
// and interior Pad), mean pooling and max pooling (Pad, SelectAndScatterMax) and a slice.
func smallNet(x, k, wOut *Node) *Node {
	y := Convolve(x, k).Strides(2).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
	y = Tanh(y)
	y = MeanPool(y).Window(2).Strides(1).Done()
	y = MaxPool(y).Window(2).Strides(2).PadSame().Done()
	y = Slice(y, AxisRange(), AxisRange(0, 1))
	return ReduceAllSum(Mul(y, wOut))
}

func gradients(t *testing.T, b backends.Backend, x, k, wOut *tensors.Tensor) (float64, []float64, []float64) {
	t.Helper()
	e, err := NewExec(b, func(x, k, wOut *Node) (*Node, *Node, *Node) {
		loss := smallNet(x, k, wOut)
		g := Gradient(loss, x, k)
		return loss, g[0], g[1]
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Exec(x, k, wOut)
	if err != nil {
		t.Fatal(err)
	}
	return tensors.ToScalar[float64](out[0]), tensors.MustCopyFlatData[float64](out[1]), tensors.MustCopyFlatData[float64](out[2])
}

func netInputs() (x, k []float64, xs, ks, ws []int, w []float64) {
	r := rand.New(rand.NewPCG(5, 6))
	xs, ks = []int{2, 7, 6, 2}, []int{3, 3, 2, 3}
	x, k = randSlice(r, 2*7*6*2), randSlice(r, 3*3*2*3)
	// Output of smallNet before the weights: conv 4x3 -> mean pool 3x2 -> max pool 2x1 -> slice 1x1.
	ws = []int{2, 1, 1, 3}
	w = randSlice(r, 6)
	return
}

func TestGradientsMatchFiniteDifferences(t *testing.T) {
	b := goBackend(t)
	x, k, xs, ks, ws, w := netInputs()
	tx, tk, tw := tensors.FromFlatDataAndDimensions(x, xs...), tensors.FromFlatDataAndDimensions(k, ks...),
		tensors.FromFlatDataAndDimensions(w, ws...)
	_, gx, gk := gradients(t, b, tx, tk, tw)
	lossOf, err := NewExec(b, smallNet)
	if err != nil {
		t.Fatal(err)
	}
	f := func(x, k []float64) float64 {
		out, err := lossOf.Exec(tensors.FromFlatDataAndDimensions(x, xs...), tensors.FromFlatDataAndDimensions(k, ks...), tw)
		if err != nil {
			t.Fatal(err)
		}
		return tensors.ToScalar[float64](out[0])
	}
	const eps = 1e-6
	numeric := func(v []float64, which int) []float64 {
		g := make([]float64, len(v))
		for i := range v {
			orig := v[i]
			v[i] = orig + eps
			var plus, minus float64
			if which == 0 {
				plus = f(v, k)
			} else {
				plus = f(x, v)
			}
			v[i] = orig - eps
			if which == 0 {
				minus = f(v, k)
			} else {
				minus = f(x, v)
			}
			v[i] = orig
			g[i] = (plus - minus) / (2 * eps)
		}
		return g
	}
	assert.Close(t, "d loss/d input", gx, numeric(x, 0), assert.Near(1e-6))
	assert.Close(t, "d loss/d kernel", gk, numeric(k, 1), assert.Near(1e-6))
	nonzero := 0
	for _, v := range gx {
		if v != 0 {
			nonzero++
		}
	}
	if nonzero == 0 {
		t.Fatal("input gradient is all zeros: the test network does not exercise the ops")
	}
}

// TestMatchesNativeXLA compares the composed ops with XLA's native ones: on the backend named by
// GOMLX_BACKEND when it is an XLA one (e.g. the CUDA plugin on a GPU machine), else on the PJRT
// CPU plugin when one is installed (it is not on the project's CI machines, which have no
// network to fetch one).
func TestMatchesNativeXLA(t *testing.T) {
	name := os.Getenv(EnvVar)
	if !strings.HasPrefix(name, "xla") {
		plugins, _ := filepath.Glob(filepath.Join(os.Getenv("HOME"), ".local/lib/go-xla/*pjrt*"))
		if len(plugins) == 0 && os.Getenv("PJRT_PLUGIN_LIBRARY_PATH") == "" {
			t.Skip("no PJRT plugin installed: native comparison not possible on this machine")
		}
		name = "xla:cpu"
	}
	xla.EnableAutoInstall(false)
	native, info, err := New(name)
	if err != nil {
		t.Skipf("XLA backend %q unavailable: %v", name, err)
	}
	t.Logf("comparing with %s", info)
	x, k, xs, ks, ws, w := netInputs()
	args := []*tensors.Tensor{tensors.FromFlatDataAndDimensions(x, xs...), tensors.FromFlatDataAndDimensions(k, ks...),
		tensors.FromFlatDataAndDimensions(w, ws...)}
	l1, gx1, gk1 := gradients(t, goBackend(t), args[0], args[1], args[2])
	l2, gx2, gk2 := gradients(t, native, args[0], args[1], args[2])
	assert.Close(t, "loss", []float64{l1}, []float64{l2}, assert.Near(1e-9))
	assert.Close(t, "d/dx", gx1, gx2, assert.Near(1e-9))
	assert.Close(t, "d/dk", gk1, gk2, assert.Near(1e-9))
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

package statedict

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/internal/assert"
	"github.com/oodlab/dos/internal/testutil"
	"github.com/oodlab/dos/models"
)

// goldens is testdata/pytorch_goldens.json, written by testdata/gen_goldens.py from the
// official PyTorch definitions.
type goldens struct {
	TorchVersion string `json:"torch_version"`
	// Formula maps "network@outputs" to the outputs of the official network filled with the
	// formula (formulaStateDict) on formulaBatch.
	Formula map[string]struct {
		Logits   [][]float64 `json:"logits"`
		Features [][]float64 `json:"features"`
	} `json:"formula"`
	// Keys maps "network@outputs" to the state dict's [key, shape, dtype] triples in order.
	Keys map[string][][3]json.RawMessage `json:"keys"`
}

type goldenKey struct {
	Key   string
	Shape []int
	DType string
}

func loadGoldens(t *testing.T) (goldens, map[string][]goldenKey) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "pytorch_goldens.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g goldens
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	keys := map[string][]goldenKey{}
	for net, triples := range g.Keys {
		for _, tr := range triples {
			var k goldenKey
			if json.Unmarshal(tr[0], &k.Key) != nil || json.Unmarshal(tr[1], &k.Shape) != nil || json.Unmarshal(tr[2], &k.DType) != nil {
				t.Fatalf("%s: bad key triple %s", net, tr)
			}
			keys[net] = append(keys[net], k)
		}
	}
	return g, keys
}

// officialCases are the networks whose official state dicts the goldens list, with the
// number of keys (every parameter and buffer, num_batches_tracked included) and a few keys
// with their PyTorch shapes, as PyTorch 1.13 printed them.
var officialCases = []struct {
	golden  string
	network string
	outputs int
	numKeys int
	some    map[string][]int
}{
	{"densenet-bc-100@11", "densenet-bc-100", 11, 596, map[string][]int{
		"conv1.weight":                           {24, 3, 3, 3},
		"block1.layer.0.bn1.weight":              {24},
		"block1.layer.15.conv2.weight":           {12, 48, 3, 3},
		"trans1.conv1.weight":                    {108, 216, 1, 1},
		"block3.layer.15.bn2.running_var":        {48},
		"bn1.running_mean":                       {342},
		"bn1.num_batches_tracked":                {},
		"linear.weight":                          {11, 342},
		"linear.bias":                            {11},
		"trans2.bn1.num_batches_tracked":         {},
		"block2.layer.7.conv1.weight":            {48, 192, 1, 1},
		"block1.layer.0.bn1.num_batches_tracked": {},
	}},
	{"wrn-40-4@10", "wrn-40-4", 10, 227, map[string][]int{
		"conv1.weight":                       {16, 3, 3, 3},
		"block1.layer.0.convShortcut.weight": {64, 16, 1, 1},
		"block2.layer.0.conv1.weight":        {128, 64, 3, 3},
		"block3.layer.5.bn2.running_var":     {256},
		"bn1.weight":                         {256},
		"fc.weight":                          {10, 256},
		"fc.bias":                            {10},
	}},
	{"wrn-16-1@10", "wrn-16-1", 10, 82, map[string][]int{
		"block1.layer.0.conv1.weight":        {16, 16, 3, 3},
		"block2.layer.0.convShortcut.weight": {32, 16, 1, 1},
		"fc.weight":                          {10, 64},
	}},
	{"resnet18@10", "resnet18", 10, 122, map[string][]int{
		"conv1.weight":                     {64, 3, 3, 3},
		"bn1.running_var":                  {64},
		"layer1.0.conv1.weight":            {64, 64, 3, 3},
		"layer2.0.shortcut.0.weight":       {128, 64, 1, 1},
		"layer2.0.shortcut.1.running_mean": {128},
		"layer4.1.bn2.num_batches_tracked": {},
		"linear.weight":                    {10, 512},
	}},
	{"resnet50@1000", "resnet50", 1000, 320, map[string][]int{
		"conv1.weight":                      {64, 3, 7, 7},
		"bn1.weight":                        {64},
		"layer1.0.conv1.weight":             {64, 64, 1, 1},
		"layer1.0.downsample.0.weight":      {256, 64, 1, 1},
		"layer1.0.downsample.1.running_var": {256},
		"layer3.5.conv2.weight":             {256, 256, 3, 3},
		"layer4.2.bn3.weight":               {2048},
		"fc.weight":                         {1000, 2048},
		"fc.bias":                           {1000},
	}},
}

// Every variable of each network maps to exactly one key and every key to one variable (or is
// a num_batches_tracked), and the keys, their order and shapes are exactly those of the
// official PyTorch code.
func TestMappingMatchesOfficialKeys(t *testing.T) {
	_, official := loadGoldens(t)
	for _, c := range officialCases {
		t.Run(c.golden, func(t *testing.T) {
			entries, err := Mapping(c.network, c.outputs)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != c.numKeys {
				t.Errorf("%d keys, want %d", len(entries), c.numKeys)
			}
			byKey := map[string]Entry{}
			byVar := map[string]string{}
			numVars := 0
			for _, e := range entries {
				if _, dup := byKey[e.Key]; dup {
					t.Errorf("key %q twice", e.Key)
				}
				byKey[e.Key] = e
				if e.Layout == Counter {
					if e.Name != "" || !strings.HasSuffix(e.Key, ".num_batches_tracked") {
						t.Errorf("counter entry %+v", e)
					}
					continue
				}
				numVars++
				v := e.Scope + "/" + e.Name
				if prev, dup := byVar[v]; dup {
					t.Errorf("variable %s maps to %q and %q", v, prev, e.Key)
				}
				byVar[v] = e.Key
			}
			// The variables, as the network creates them.
			arch, err := models.Lookup(c.network)
			if err != nil {
				t.Fatal(err)
			}
			vars, err := variables(arch, c.outputs)
			if err != nil {
				t.Fatal(err)
			}
			if len(vars) != numVars {
				t.Errorf("%d variables, %d of them mapped", len(vars), numVars)
			}
			for _, v := range vars {
				if _, ok := byVar[v.scope+"/"+v.name]; !ok {
					t.Errorf("variable %s/%s has no key", v.scope, v.name)
				}
			}
			for k, shape := range c.some {
				e, ok := byKey[k]
				if !ok {
					t.Errorf("no key %q", k)
				} else if !slices.Equal(e.Shape, shape) {
					t.Errorf("%q: shape %v, want %v", k, e.Shape, shape)
				}
			}
			want := official[c.golden]
			if len(want) != c.numKeys {
				t.Fatalf("goldens list %d keys, the test expects %d", len(want), c.numKeys)
			}
			for i := range min(len(want), len(entries)) {
				e, w := entries[i], want[i]
				dt := "float32"
				if e.Layout == Counter {
					dt = "int64"
				}
				if e.Key != w.Key || !slices.Equal(e.Shape, w.Shape) || dt != w.DType {
					t.Errorf("key %d: %s %v %s, PyTorch has %s %v %s", i, e.Key, e.Shape, dt, w.Key, w.Shape, w.DType)
				}
			}
		})
	}
}

// formulaStateDict is Formula for the golden key list.
func formulaStateDict(keys []goldenKey) *StateDict {
	template := &StateDict{}
	for _, gk := range keys {
		n := numElements(gk.Shape)
		if strings.HasSuffix(gk.Key, "num_batches_tracked") {
			template.Set(gk.Key, FromInt64(gk.Shape, make([]int64, n)))
		} else {
			template.Set(gk.Key, FromFloat32(gk.Shape, make([]float32, n)))
		}
	}
	return Formula(template)
}

// formulaBatch is gen_goldens.py's formula_batch in NHWC: 2 images 32x32x3.
func formulaBatch() *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(FormulaImages(2, 32, 32, 3), 2, 32, 32, 3)
}

// The official networks (DenseNet3 of the DOS code, OE's WideResNet, the CIFAR ResNet18,
// torchvision's ResNet-50) and ours, given the same state dict, give the same logits and
// features in inference mode.
func TestForwardMatchesPyTorch(t *testing.T) {
	g, keys := loadGoldens(t)
	b := testutil.GoBackend(t)
	for _, c := range []struct {
		network string
		outputs int
	}{{"densenet-bc-100", 11}, {"wrn-16-1", 10}, {"resnet18", 10}, {"resnet50", 1000}} {
		name := fmt.Sprintf("%s@%d", c.network, c.outputs)
		t.Run(name, func(t *testing.T) {
			want, ok := g.Formula[name]
			if !ok {
				t.Fatalf("no goldens for %s", name)
			}
			ctx := context.New()
			if err := Import(ctx.In("model"), c.network, c.outputs, formulaStateDict(keys[name])); err != nil {
				t.Fatal(err)
			}
			arch, err := models.Lookup(c.network)
			if err != nil {
				t.Fatal(err)
			}
			exec, err := context.NewExec(b, ctx, func(ctx *context.Context, x *graph.Node) (*graph.Node, *graph.Node) {
				out := arch.Build(ctx.In("model"), x, c.outputs, false)
				return out.Logits, out.Features
			})
			if err != nil {
				t.Fatal(err)
			}
			defer exec.Finalize()
			before := ctx.NumVariables()
			outs, err := exec.Exec(formulaBatch())
			if err != nil {
				t.Fatal(err)
			}
			if ctx.NumVariables() != before {
				t.Errorf("the network created %d variables besides the imported ones", ctx.NumVariables()-before)
			}
			// float32 through up to 100 layers: the differences grow with the size of the
			// activations (ResNet-50's logits reach 180 here, and cancel down to 0.02), so the
			// floor is relative to the largest output. The differences seen are at most 2e-6 of
			// it (ResNet-50: 3.7e-4, where PyTorch's own float32 logits are 9e-5 from its
			// float64 ones), while a kernel read with its spatial axes swapped moves DenseNet's
			// logits by 4e-5 on a scale of 1.
			wantLogits, wantFeatures := slices.Concat(want.Logits...), slices.Concat(want.Features...)
			scale := 1.0
			for _, v := range slices.Concat(wantLogits, wantFeatures) {
				scale = max(scale, math.Abs(v))
			}
			tol := assert.Tol{Rel: 1e-5, Abs: 5e-7 * scale}
			gotLogits := testutil.Float64s(t, outs[0])
			assert.Close(t, "logits", gotLogits, wantLogits, tol)
			assert.Close(t, "features", testutil.Float64s(t, outs[1]), wantFeatures, tol)
			maxDiff := 0.0
			for i, v := range gotLogits {
				maxDiff = max(maxDiff, math.Abs(v-wantLogits[i]))
			}
			t.Logf("max |logit - PyTorch %s| = %.3g (largest |logit| or |feature| %.3g)", g.TorchVersion, maxDiff, scale)
		})
	}
}

// fillerStateDict fills every key of a mapping with distinct, cheap values.
func fillerStateDict(entries []Entry) *StateDict {
	sd := &StateDict{}
	for k, e := range entries {
		if e.Layout == Counter {
			sd.Set(e.Key, FromInt64([]int{}, []int64{0}))
			continue
		}
		n := numElements(e.Shape)
		vals := make([]float32, n)
		for i := range vals {
			vals[i] = float32((i*31+k*17)%1009)/1009 - 0.5
		}
		if e.Name == "running_var" {
			for i := range vals {
				vals[i] += 1
			}
		}
		sd.Set(e.Key, FromFloat32(e.Shape, vals))
	}
	return sd
}

func equalStateDicts(t *testing.T, what string, got, want *StateDict, sameOrder bool) {
	t.Helper()
	if sameOrder && !slices.Equal(got.Keys(), want.Keys()) {
		t.Errorf("%s: keys %v..., want %v...", what, got.Keys()[:min(3, got.Len())], want.Keys()[:min(3, want.Len())])
	}
	if got.Len() != want.Len() {
		t.Errorf("%s: %d keys, want %d", what, got.Len(), want.Len())
	}
	for _, k := range want.Keys() {
		g, ok := got.Get(k)
		w, _ := want.Get(k)
		if !ok {
			t.Errorf("%s: no key %q", what, k)
		} else if !g.Equal(w) {
			t.Errorf("%s: key %q: %s differs from %s (or its data does)", what, k, g, w)
		}
	}
}

// Export then Import into a fresh context gives the same variables, for each network, and
// Export gives back the imported state dict.
func TestExportImportRoundTrip(t *testing.T) {
	for _, c := range []struct {
		network string
		outputs int
	}{{"densenet-bc-100", 11}, {"wrn-40-4", 10}, {"resnet18", 10}, {"resnet50", 1000}} {
		t.Run(c.network, func(t *testing.T) {
			entries, err := Mapping(c.network, c.outputs)
			if err != nil {
				t.Fatal(err)
			}
			sd := fillerStateDict(entries)
			ctx := context.New()
			if err := Import(ctx.In("model"), c.network, c.outputs, sd); err != nil {
				t.Fatal(err)
			}
			exported, err := Export(ctx.In("model"), c.network, c.outputs)
			if err != nil {
				t.Fatal(err)
			}
			equalStateDicts(t, "export", exported, sd, true)
			ctx2 := context.New()
			if err := Import(ctx2.In("net"), c.network, c.outputs, exported); err != nil {
				t.Fatal(err)
			}
			if ctx2.NumVariables() != ctx.NumVariables() {
				t.Errorf("%d variables after the round trip, %d before", ctx2.NumVariables(), ctx.NumVariables())
			}
			for v := range ctx.IterVariables() {
				scope := "/net" + strings.TrimPrefix(v.Scope(), "/model")
				v2 := ctx2.GetVariableByScopeAndName(scope, v.Name())
				if v2 == nil {
					t.Fatalf("no variable %s/%s after the round trip", scope, v.Name())
				}
				a, b := tensors.MustCopyFlatData[float32](v.MustValue()), tensors.MustCopyFlatData[float32](v2.MustValue())
				if !slices.Equal(a, b) || v.Trainable != v2.Trainable {
					t.Fatalf("variable %s differs after the round trip", v.ScopeAndName())
				}
			}
		})
	}
}

// The layouts: a conv weight [o, i, h, w] in PyTorch is [h, w, i, o] here, a linear weight
// [o, i] is [i, o]; batch-norm statistics keep their names and trainable flags.
func TestImportLayouts(t *testing.T) {
	entries, err := Mapping("resnet18", 10)
	if err != nil {
		t.Fatal(err)
	}
	sd := fillerStateDict(entries)
	ctx := context.New()
	if err := Import(ctx, "resnet18", 10, sd); err != nil {
		t.Fatal(err)
	}
	conv, _ := sd.Get("layer2.0.conv1.weight") // [128, 64, 3, 3]
	torchConv, _ := conv.Float32s()
	goConv := tensors.MustCopyFlatData[float32](ctx.GetVariableByScopeAndName("/layer2/block0/conv1", "weights").MustValue())
	o, i, h, w := 5, 7, 2, 1
	if got, want := goConv[((h*3+w)*64+i)*128+o], torchConv[((o*64+i)*3+h)*3+w]; got != want {
		t.Errorf("conv [h=%d w=%d i=%d o=%d] = %v, want PyTorch's [o, i, h, w] %v", h, w, i, o, got, want)
	}
	lin, _ := sd.Get("linear.weight") // [10, 512]
	torchLin, _ := lin.Float32s()
	goLin := tensors.MustCopyFlatData[float32](ctx.GetVariableByScopeAndName("/fc", "weights").MustValue())
	if got, want := goLin[300*10+7], torchLin[7*512+300]; got != want {
		t.Errorf("linear [in=300, out=7] = %v, want PyTorch's [7, 300] %v", got, want)
	}
	rv := ctx.GetVariableByScopeAndName("/layer2/block0/shortcut_bn", "running_var")
	if rv == nil || rv.Trainable {
		t.Errorf("running_var of the shortcut's batch norm: %v, want a non-trainable variable", rv)
	}
	rvT, _ := sd.Get("layer2.0.shortcut.1.running_var")
	want, _ := rvT.Float32s()
	if got := tensors.MustCopyFlatData[float32](rv.MustValue()); !slices.Equal(got, want) {
		t.Error("running_var is not imported as is (PyTorch's unbiased running variance, as nn.RunningVarVar)")
	}
}

// A state dict that does not fit: missing, unexpected and misshaped keys are all named, with
// both shapes; the context is left alone.
func TestImportMismatch(t *testing.T) {
	_, keys := loadGoldens(t)
	good := formulaStateDict(keys["densenet-bc-100@11"])
	bad := &StateDict{}
	for _, k := range good.Keys() {
		v, _ := good.Get(k)
		switch k {
		case "block2.layer.3.conv1.weight":
			continue // missing
		case "linear.weight":
			v = FromFloat32([]int{10, 342}, make([]float32, 3420))
		case "bn1.num_batches_tracked":
			v = FromFloat32([]int{}, []float32{1})
		}
		bad.Set(k, v)
	}
	bad.Set("fc.weight", FromFloat32([]int{2}, []float32{1, 2}))
	ctx := context.New()
	err := Import(ctx.In("model"), "densenet-bc-100", 11, bad)
	var mm *MismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("error %v, want a *MismatchError", err)
	}
	if !slices.Equal(mm.Missing, []string{"block2.layer.3.conv1.weight"}) || !slices.Equal(mm.Unexpected, []string{"fc.weight"}) || len(mm.Mismatched) != 2 {
		t.Errorf("missing %v, unexpected %v, mismatched %+v", mm.Missing, mm.Unexpected, mm.Mismatched)
	}
	for _, want := range []string{`"linear.weight"`, "[10 342]", "[11 342]", "block2.layer.3.conv1.weight", "fc.weight", `"bn1.num_batches_tracked"`, "densenet-bc-100 with 11 outputs"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if ctx.NumVariables() != 0 {
		t.Errorf("a failed import left %d variables", ctx.NumVariables())
	}

	// The same file for another number of outputs names the classifier's shapes.
	err = Import(context.New(), "densenet-bc-100", 10, good)
	if err == nil || !strings.Contains(err.Error(), `key "linear.weight": the state dict has float32 [11 342], the network needs float [10 342]`) {
		t.Errorf("10 outputs: %v", err)
	}
	// Another network altogether: the lists are cut short in the message.
	err = Import(context.New(), "resnet18", 11, good)
	if !errors.As(err, &mm) || len(mm.Missing) < 50 || !strings.Contains(err.Error(), "more)") {
		t.Errorf("resnet18: %v", err)
	}
	// An existing variable of another shape.
	ctx = context.New()
	ctx.InAbsPath("/fc").VariableWithValue("weights", tensors.FromFlatDataAndDimensions(make([]float32, 9), 3, 3))
	if err := Import(ctx, "densenet-bc-100", 11, good); err == nil || !strings.Contains(err.Error(), "/fc/weights") {
		t.Errorf("existing variable of another shape: %v", err)
	}
}

// DataParallel's "module." prefix is accepted, num_batches_tracked may be absent, and the
// number of outputs can be read from the file.
func TestImportLenient(t *testing.T) {
	entries, err := Mapping("wrn-16-1", 10)
	if err != nil {
		t.Fatal(err)
	}
	sd := fillerStateDict(entries)
	prefixed := &StateDict{}
	for _, k := range sd.Keys() {
		if strings.HasSuffix(k, "num_batches_tracked") {
			continue
		}
		v, _ := sd.Get(k)
		prefixed.Set("module."+k, v)
	}
	if n, err := NumOutputs("wrn-16-1", prefixed); n != 10 || err != nil {
		t.Errorf("NumOutputs = %d, %v", n, err)
	}
	ctx := context.New()
	if err := Import(ctx.In("model"), "wrn-16-1", 10, prefixed); err != nil {
		t.Fatal(err)
	}
	if n, err := ContextNumOutputs(ctx.In("model"), "wrn-16-1"); n != 10 || err != nil {
		t.Errorf("ContextNumOutputs = %d, %v", n, err)
	}
	exported, err := Export(ctx.In("model"), "wrn-16-1", 10)
	if err != nil {
		t.Fatal(err)
	}
	equalStateDicts(t, "export", exported, sd, true)
	if _, err := Export(ctx.In("other"), "wrn-16-1", 10); err == nil || !strings.Contains(err.Error(), "missing variables: /other/conv1/weights") {
		t.Errorf("export from an empty scope: %v", err)
	}
	if _, err := Mapping("small-cnn", 10); err == nil || !strings.Contains(err.Error(), "densenet-bc-100") {
		t.Errorf("a network without a PyTorch naming: %v", err)
	}
}

// mixedStateDict has every dtype, a scalar and an empty tensor.
func mixedStateDict() *StateDict {
	sd := &StateDict{}
	sd.Set("w", FromFloat32([]int{2, 3}, []float32{1, -2.5, 3, float32(math.Inf(1)), 0, 1e-30}))
	sd.Set("d", FromFloat64([]int{3}, []float64{math.Pi, -1e300, 0}))
	sd.Set("n", FromInt64([]int{}, []int64{1 << 40}))
	sd.Set("neg", FromInt64([]int{2}, []int64{-1, math.MinInt64}))
	sd.Set("i32", Tensor{DType: Int32, Shape: []int{2}, Data: []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}})
	sd.Set("i16", Tensor{DType: Int16, Shape: []int{1}, Data: []byte{0xfe, 0xff}})
	sd.Set("i8", Tensor{DType: Int8, Shape: []int{2}, Data: []byte{0x80, 7}})
	sd.Set("u8", Tensor{DType: Uint8, Shape: []int{1, 3}, Data: []byte{0, 128, 255}})
	sd.Set("b", Tensor{DType: Bool, Shape: []int{2}, Data: []byte{1, 0}})
	sd.Set("empty", FromFloat32([]int{0, 4}, nil))
	sd.Set("big", FromFloat32([]int{70000}, make([]float32, 70000)))
	return sd
}

// Write then Read gives identical tensors, in both formats (in order for .pth; a .safetensors
// file keeps no order).
func TestWriteReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	sd := mixedStateDict()
	for _, name := range []string{"x.pth", "x.pt", "x.safetensors"} {
		path := filepath.Join(dir, name)
		if err := Write(path, sd); err != nil {
			t.Fatal(err)
		}
		got, err := Read(path)
		if err != nil {
			t.Fatal(err)
		}
		equalStateDicts(t, name, got, sd, !strings.HasSuffix(name, ".safetensors"))
	}
	if err := Write(filepath.Join(dir, "x.npz"), sd); err == nil || !strings.Contains(err.Error(), ".safetensors") {
		t.Errorf("unknown extension: %v", err)
	}
	bad := &StateDict{}
	bad.Set("w", Tensor{DType: Float32, Shape: []int{2}, Data: []byte{1, 2, 3}})
	if err := Write(filepath.Join(dir, "bad.pth"), bad); err == nil || !strings.Contains(err.Error(), `"w"`) {
		t.Errorf("tensor with short data: %v", err)
	}
}

// The .pth writer lays out its zip archive as torch.save does: stored records under one
// folder, data.pkl first, each record's data at a multiple of 64 bytes, a version record.
func TestPthLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.pth")
	if err := Write(path, mixedStateDict()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for off := 0; off+30 <= len(b) && string(b[off:off+4]) == "PK\x03\x04"; {
		le16 := func(i int) int { return int(b[off+i]) | int(b[off+i+1])<<8 }
		size := le16(18) | le16(20)<<16
		nameLen, extraLen := le16(26), le16(28)
		names = append(names, string(b[off+30:off+30+nameLen]))
		if data := off + 30 + nameLen + extraLen; data%64 != 0 || le16(8) != 0 {
			t.Errorf("record %s: data at %d, method %d", names[len(names)-1], data, le16(8))
		}
		off += 30 + nameLen + extraLen + size
	}
	want := []string{"archive/data.pkl", "archive/byteorder"}
	for i := range mixedStateDict().Len() {
		want = append(want, fmt.Sprintf("archive/data/%d", i))
	}
	want = append(want, "archive/version")
	if !slices.Equal(names, want) {
		t.Errorf("records %v, want %v", names, want)
	}
}

// Files written by torch.save (PyTorch 1.13, testdata/gen_goldens.py's write_small_files): every
// dtype, a transposed tensor, a slice of a shared storage, in a DOS-style checkpoint dict; and
// the legacy format.
func TestReadTorchFiles(t *testing.T) {
	val := func(i int) float64 { return float64(i%7)*0.5 - 1.25 }
	vals := func(idx ...int) []float32 {
		out := make([]float32, len(idx))
		for j, i := range idx {
			out[j] = float32(val(i))
		}
		return out
	}
	seq := func(a, b int) []int {
		var s []int
		for i := a; i < b; i++ {
			s = append(s, i)
		}
		return s
	}
	want := &StateDict{}
	want.Set("f32", FromFloat32([]int{2, 3}, vals(seq(0, 6)...)))
	want.Set("f32_t", FromFloat32([]int{3, 2}, vals(0, 3, 1, 4, 2, 5)))
	want.Set("f64", FromFloat64([]int{3}, []float64{val(0), val(1), val(2)}))
	want.Set("f16", FromFloat32([]int{4}, vals(seq(0, 4)...)))
	want.Set("bf16", FromFloat32([]int{4}, vals(seq(0, 4)...)))
	want.Set("i64_scalar", FromInt64([]int{}, []int64{7}))
	want.Set("i32", Tensor{DType: Int32, Shape: []int{2, 2}, Data: []byte{1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 3, 0, 0, 0, 0xfc, 0xff, 0xff, 0xff}})
	want.Set("u8", Tensor{DType: Uint8, Shape: []int{3}, Data: []byte{0, 7, 255}})
	want.Set("bool", Tensor{DType: Bool, Shape: []int{2}, Data: []byte{1, 0}})
	want.Set("base", FromFloat32([]int{10}, vals(seq(0, 10)...)))
	want.Set("slice", FromFloat32([]int{4}, vals(seq(3, 7)...)))
	got, err := Read(filepath.Join("testdata", "torch_small.pth"))
	if err != nil {
		t.Fatal(err)
	}
	equalStateDicts(t, "torch_small.pth", got, want, true)

	legacy, err := Read(filepath.Join("testdata", "torch_small_legacy.pth"))
	if err != nil {
		t.Fatal(err)
	}
	wantLegacy := &StateDict{}
	for _, k := range []string{"f32", "f64", "i64_scalar"} {
		v, _ := want.Get(k)
		wantLegacy.Set(k, v)
	}
	equalStateDicts(t, "torch_small_legacy.pth", legacy, wantLegacy, true)
}

// Truncated or foreign files give an error that names the file.
func TestReadBadFiles(t *testing.T) {
	dir := t.TempDir()
	sd := mixedStateDict()
	for _, name := range []string{"t.pth", "t.safetensors"} {
		path := filepath.Join(dir, name)
		if err := Write(path, sd); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		for _, n := range []int{len(b) - 1, len(b) / 2, 6} {
			if err := os.WriteFile(path, b[:n], 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Read(path)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "truncated") {
				t.Errorf("%s cut to %d bytes: %v", name, n, err)
			}
		}
	}
	junk := filepath.Join(dir, "junk.pth")
	os.WriteFile(junk, []byte("not a pickle at all"), 0o644)
	if _, err := Read(junk); err == nil || !strings.Contains(err.Error(), junk) {
		t.Errorf("junk: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "absent.safetensors")); err == nil || !strings.Contains(err.Error(), "absent.safetensors") {
		t.Errorf("absent file: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "x.h5")); err == nil {
		t.Error("unknown extension: no error")
	}
}

// TestExportForPyTorch writes, when STATEDICT_EXPORT_DIR is set, a densenet-bc-100 whose
// weights come from this side (GoMLX's initialisers, batch-norm statistics from 40
// training-mode passes) as go_densenet.pth and go_densenet.safetensors, with its inference
// logits on formulaBatch in go_densenet.json, for
// gen_goldens.py --check-go DIR to load in the official DenseNet3 and compare.
func TestExportForPyTorch(t *testing.T) {
	dir := os.Getenv("STATEDICT_EXPORT_DIR")
	if dir == "" {
		t.Skip("set STATEDICT_EXPORT_DIR to write a densenet-bc-100 for testdata/gen_goldens.py --check-go")
	}
	const network, outputs = "densenet-bc-100", 11
	arch, err := models.Lookup(network)
	if err != nil {
		t.Fatal(err)
	}
	b := testutil.GoBackend(t)
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, int64(5))
	x := formulaBatch()
	for _, training := range []bool{true, false} {
		exec, err := context.NewExec(b, ctx, func(ctx *context.Context, x *graph.Node) (*graph.Node, *graph.Node) {
			out := arch.Build(ctx.In("model"), x, outputs, training)
			return out.Logits, out.Features
		})
		if err != nil {
			t.Fatal(err)
		}
		// Training-mode passes bring the running statistics near the batch's (0.9^40 of the
		// initial values is left), so that inference is as well conditioned as training.
		passes := 1
		if training {
			passes = 40
		}
		var outs []*tensors.Tensor
		for range passes {
			if outs, err = exec.Exec(x); err != nil {
				t.Fatal(err)
			}
		}
		exec.Finalize()
		if training {
			continue
		}
		sd, err := Export(ctx.In("model"), network, outputs)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"go_densenet.pth", "go_densenet.safetensors"} {
			if err := Write(filepath.Join(dir, name), sd); err != nil {
				t.Fatal(err)
			}
		}
		logits, features := testutil.Float64s(t, outs[0]), testutil.Float64s(t, outs[1])
		j, err := json.Marshal(map[string]any{"network": network, "outputs": outputs, "logits": logits, "features": features})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "go_densenet.json"), j, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote go_densenet.{pth,safetensors,json} in %s", dir)
	}
}

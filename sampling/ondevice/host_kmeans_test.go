package ondevice

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/oodlab/dos/internal/testutil"
	"github.com/oodlab/dos/sampling"
)

// The host K-means and DOS selection must give the graph's results on the pure-Go backend bit
// for bit: the same initial centres, assignments, centroids, inertia and picks. The shapes below
// have contractions shorter and longer than gemm's chains of 32 and not multiples of them,
// large and small products, empty clusters, KeepEmpty, k = B, k < B, k > B, raw and normalised features,
// trimming, keep ratio and the nearest-member pick.

// randRelu returns n rows of d |N(0,1)| values (post-ReLU-like features).
func randRelu(rng *rand.Rand, n, d int) []float32 {
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(math.Abs(rng.NormFloat64()))
	}
	return x
}

// fewDistinct returns n rows that repeat `distinct` random rows: k-means++ then runs out of
// potential and picks duplicate centres, which leaves clusters empty.
func fewDistinct(rng *rand.Rand, n, d, distinct int) []float32 {
	base := randRelu(rng, distinct, d)
	x := make([]float32, n*d)
	for i := range n {
		copy(x[i*d:(i+1)*d], base[(i%distinct)*d:])
	}
	return x
}

func sameBits(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

// hostDOSCheck compares HostSelectDOS with SelectDOS for one configuration: the selection's
// graph and the graph of its inputs (DOSHostInputs), compiled once on the pure-Go backend.
type hostDOSCheck struct {
	cfg         sampling.DOSConfig
	sel, inputs *Exec
}

func newHostDOSCheck(t *testing.T, b backends.Backend, cfg sampling.DOSConfig) *hostDOSCheck {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	sel := newSelectDOSExec(t, b, cfg)
	t.Cleanup(sel.Finalize)
	inputs, err := NewExec(b, func(l, f *Node) []*Node {
		u, x := DOSHostInputs(l, f, cfg)
		return []*Node{u, x}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inputs.Finalize)
	return &hostDOSCheck{cfg: cfg, sel: sel, inputs: inputs}
}

// compare runs SelectDOS on a block (logits [C, nOut], feats [C, d]) and uniforms u, and
// HostSelectDOS on the values of DOSHostInputs; it reports, under what, the picks, clusters and
// diagnostics in which the host differs from the graph (bit for bit), and returns the graph's.
func (h *hostDOSCheck) compare(t *testing.T, what string, logits []float32, nOut int, feats []float32, d int, u []float32) dosRun {
	t.Helper()
	want := execSelectDOS(t, h.sel, h.cfg, logits, feats, nOut, d, u)
	in, err := h.inputs.Exec(tensors.FromFlatDataAndDimensions(logits, h.cfg.Candidates, nOut),
		tensors.FromFlatDataAndDimensions(feats, h.cfg.Candidates, d))
	if err != nil {
		t.Fatal(err)
	}
	got, err := HostSelectDOS(tensors.MustCopyFlatData[float32](in[0]), tensors.MustCopyFlatData[float32](in[1]), d, u, h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Indices, want.indices) {
		t.Errorf("%s: picks differ:\nhost  %v\ngraph %v", what, got.Indices, want.indices)
	}
	if !slices.Equal(got.Clustered, want.clustered) || !slices.Equal(got.Assign, want.assign) {
		t.Errorf("%s: clustered rows or clusters differ:\nhost  %v %v\ngraph %v %v", what, got.Clustered, got.Assign, want.clustered, want.assign)
	}
	if !sameBits([]float32{got.Inertia, got.MeanPAbsPicked, got.MeanPAbsAll}, []float32{want.inertia, want.meanPicked, want.meanAll}) ||
		got.EmptyClusters != want.empty {
		t.Errorf("%s: diagnostics host (%v, %d, %v, %v), graph (%v, %d, %v, %v)", what, got.Inertia, got.EmptyClusters,
			got.MeanPAbsPicked, got.MeanPAbsAll, want.inertia, want.empty, want.meanPicked, want.meanAll)
	}
	return want
}

func TestHostKMeansMatchesGraph(t *testing.T) {
	b := testutil.GoBackend(t)
	cases := []struct {
		name      string
		n, d, k   int
		nInit     int
		iters     int
		keepEmpty bool
		data      func(rng *rand.Rand, n, d int) []float32
	}{
		{"d multiple of 8", 48, 8, 6, 3, 10, false, randRelu},
		{"odd sizes", 37, 5, 7, 2, 8, false, randRelu},
		{"large pairwise matrix, small distances", 200, 13, 12, 5, 30, false, randRelu},
		{"large distances, sums over 150 points", 150, 20, 40, 3, 12, false, randRelu},
		{"cluster sums over 110 features", 131, 110, 32, 5, 6, false, randRelu},
		{"keep empty", 37, 5, 7, 2, 8, true, randRelu},
		{"duplicate centres, relocation", 40, 6, 9, 3, 10, false, func(r *rand.Rand, n, d int) []float32 { return fewDistinct(r, n, d, 5) }},
		{"duplicate centres, keep empty", 40, 6, 9, 3, 10, true, func(r *rand.Rand, n, d int) []float32 { return fewDistinct(r, n, d, 5) }},
		{"k = n", 12, 3, 12, 2, 4, false, randRelu},
		{"one cluster", 20, 4, 1, 2, 3, false, randRelu},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sampling.KMeansConfig{K: tc.k, NInit: tc.nInit, Iters: tc.iters, KeepEmpty: tc.keepEmpty}
			exec := newKMeansExec(t, b, cfg)
			defer exec.Finalize()
			for seed := range uint64(3) {
				rng := rand.New(rand.NewPCG(seed, 99))
				x := tc.data(rng, tc.n, tc.d)
				want := runKMeans(t, exec, cfg, x, tc.n, tc.d, seed)
				u := cfg.HostUniforms(rand.New(rand.NewPCG(seed, 7))) // runKMeans's uniforms
				got, err := HostKMeans(x, tc.n, tc.d, u, cfg)
				if err != nil {
					t.Fatal(err)
				}
				compareKMeans(t, fmt.Sprintf("seed %d", seed), got, want)
			}
		})
	}
}

func compareKMeans(t *testing.T, what string, got HostKMeansResult, want kmeansRun) {
	t.Helper()
	if !slices.Equal(got.Assign, want.assign) {
		t.Errorf("%s: assignments differ:\nhost  %v\ngraph %v", what, got.Assign, want.assign)
	}
	if !sameBits(got.Centroids, want.centroids) {
		t.Errorf("%s: centroids differ (host %v..., graph %v...)", what, got.Centroids[:4], want.centroids[:4])
	}
	if math.Float32bits(got.Inertia) != math.Float32bits(want.inertia) {
		t.Errorf("%s: inertia host %v, graph %v", what, got.Inertia, want.inertia)
	}
	if got.EmptyClusters != want.empty || got.ChangedIters != want.changedIters {
		t.Errorf("%s: empty clusters host %d graph %d; changed iterations host %d graph %d", what,
			got.EmptyClusters, want.empty, got.ChangedIters, want.changedIters)
	}
}

// TestHostKMeansFromMatchesGraph starts both from given centres that leave clusters empty (a
// duplicate centre, which loses every tie, and a far one), with and without the relocation, and
// from testdata's scikit-learn relocation cases.
func TestHostKMeansFromMatchesGraph(t *testing.T) {
	b := testutil.GoBackend(t)
	const n, d, k = 45, 7, 6
	for _, keepEmpty := range []bool{false, true} {
		for _, iters := range []int{1, 2, 10} {
			cfg := sampling.KMeansConfig{K: k, NInit: 1, Iters: iters, KeepEmpty: keepEmpty}
			exec, err := NewExec(b, func(x, c0 *Node) []*Node {
				r := KMeansFrom(x, c0, cfg)
				return []*Node{r.Assign, r.Centroids, r.Inertia, r.EmptyClusters, r.ChangedIters}
			})
			if err != nil {
				t.Fatal(err)
			}
			for seed := range uint64(3) {
				rng := rand.New(rand.NewPCG(seed, 5))
				x := randRelu(rng, n, d)
				init := make([]float32, k*d)
				copy(init, x[:k*d])
				copy(init[d:2*d], init[:d]) // centre 1 = centre 0: it loses every tie
				for j := range d {
					init[5*d+j] = 50 // far from every point
				}
				outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, n, d), tensors.FromFlatDataAndDimensions(init, k, d))
				if err != nil {
					t.Fatal(err)
				}
				want := kmeansRun{assign: tensors.MustCopyFlatData[int32](outs[0]), centroids: tensors.MustCopyFlatData[float32](outs[1]),
					inertia: outs[2].Value().(float32), empty: outs[3].Value().(int32), changedIters: outs[4].Value().(int32)}
				got, err := HostKMeansFrom(x, n, d, init, cfg)
				if err != nil {
					t.Fatal(err)
				}
				compareKMeans(t, fmt.Sprintf("keepEmpty %v, %d iterations, seed %d", keepEmpty, iters, seed), got, want)
			}
			exec.Finalize()
		}
	}
}

// TestHostKMeansOfficialShape: k = 64 on testdata's 384 x 342 post-ReLU unit features, 5
// restarts, the default iterations (the official DOS shape, both kernels).
func TestHostKMeansOfficialShape(t *testing.T) {
	if testing.Short() {
		t.Skip("the graph K-means at the official shape takes seconds on the pure-Go backend")
	}
	b := testutil.GoBackend(t)
	const n, d = 384, 342
	x := readF32(t, "relu_384x342", n, d)
	cfg := sampling.DefaultKMeansConfig(64)
	exec := newKMeansExec(t, b, cfg)
	defer exec.Finalize()
	want := runKMeans(t, exec, cfg, x, n, d, 4)
	got, err := HostKMeans(x, n, d, cfg.HostUniforms(rand.New(rand.NewPCG(4, 7))), cfg)
	if err != nil {
		t.Fatal(err)
	}
	compareKMeans(t, "official shape", got, want)
}

// TestHostSelectDOSMatchesGraph compares HostSelectDOS (fed by DOSHostInputs) with SelectDOS.
func TestHostSelectDOSMatchesGraph(t *testing.T) {
	b := testutil.GoBackend(t)
	const nOut = 6
	type tc struct {
		name string
		cfg  sampling.DOSConfig
		d    int
		few  int // > 0: the features repeat this many distinct rows
	}
	base := func(c, batch int) sampling.DOSConfig {
		cfg := sampling.DefaultDOSConfig(c, batch)
		cfg.KMeans.Iters = 10
		return cfg
	}
	with := func(cfg sampling.DOSConfig, f func(*sampling.DOSConfig)) sampling.DOSConfig { f(&cfg); return cfg }
	cases := []tc{
		{"k = B (official)", base(48, 8), 16, 0},
		{"k = B, odd feature size", base(40, 8), 11, 0},
		{"k < B, B not a multiple of k", with(base(48, 8), func(c *sampling.DOSConfig) { c.Clusters = 3 }), 9, 0},
		{"k > B", with(base(48, 8), func(c *sampling.DOSConfig) { c.Clusters = 13 }), 9, 0},
		{"raw features", with(base(48, 8), func(c *sampling.DOSConfig) { c.RawFeatures = true }), 10, 0},
		{"trim", with(base(48, 8), func(c *sampling.DOSConfig) { c.Trim = 7 }), 10, 0},
		{"dual-batch: keep, raw, nearest, one restart", with(base(50, 8), func(c *sampling.DOSConfig) {
			c.Keep, c.RawFeatures, c.PickNearest, c.KMeans.NInit = 40, true, true, 1
		}), 12, 0},
		{"empty clusters and fill-up", base(40, 8), 6, 5},
		{"empty clusters kept", with(base(40, 8), func(c *sampling.DOSConfig) { c.KMeans.KeepEmpty = true }), 6, 5},
		{"quick grid's shape", with(base(128, 64), func(c *sampling.DOSConfig) { c.KMeans.Iters = sampling.DefaultKMeansIters }), 64, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			check := newHostDOSCheck(t, b, cfg)
			sawEmpty, sawFill := false, false
			for seed := range uint64(3) {
				rng := rand.New(rand.NewPCG(seed, 31))
				logits := make([]float32, cfg.Candidates*nOut)
				for i := range logits {
					logits[i] = float32(2 * rng.NormFloat64())
				}
				feats := randRelu(rng, cfg.Candidates, c.d)
				if c.few > 0 {
					feats = fewDistinct(rng, cfg.Candidates, c.d, c.few)
				}
				u := cfg.HostUniforms(rng)
				want := check.compare(t, fmt.Sprintf("seed %d", seed), logits, nOut, feats, c.d, u)
				sawEmpty = sawEmpty || want.empty > 0
				sawFill = sawFill || fillUps(cfg, want) > 0
			}
			if c.few > 0 && !cfg.KMeans.KeepEmpty && !sawFill {
				t.Errorf("no seed needed a fill-up: the case no longer tests it")
			}
			if c.few > 0 && cfg.KMeans.KeepEmpty && !sawEmpty {
				t.Errorf("no seed left a cluster empty: the case no longer tests it")
			}
		})
	}
}

// fillUps counts the selected slots that no cluster filled (their pick is not its cluster's best).
func fillUps(cfg sampling.DOSConfig, r dosRun) int {
	k, per := cfg.K(), cfg.PerCluster()
	counts := make([]int, k)
	for _, a := range r.assign {
		counts[a]++
	}
	fill := 0
	for c := range min(k, cfg.BatchSize) {
		fill += per - min(per, counts[c])
	}
	return fill + cfg.BatchSize - min(k, cfg.BatchSize)*per
}

func TestHostSelectDOSErrors(t *testing.T) {
	cfg := sampling.DefaultDOSConfig(16, 4)
	u := make([]float32, cfg.UniformsSize())
	for _, c := range []struct {
		name           string
		p, f, uniforms []float32
		d              int
	}{
		{"p_abs", make([]float32, 15), make([]float32, 32), u, 2},
		{"features", make([]float32, 16), make([]float32, 31), u, 2},
		{"uniforms", make([]float32, 16), make([]float32, 32), u[1:], 2},
	} {
		if _, err := HostSelectDOS(c.p, c.f, c.d, c.uniforms, cfg); err == nil {
			t.Errorf("%s: no error for a wrong size", c.name)
		}
	}
	if _, err := HostKMeans(make([]float32, 6), 3, 2, nil, sampling.KMeansConfig{K: 4, NInit: 1, Iters: 1}); err == nil {
		t.Errorf("HostKMeans: no error for k > n")
	}
}

// TestHostProductsMatchGraph checks the building blocks bit for bit against the graph's on the
// pure-Go backend, with contractions shorter and longer than gemm's chains of 32: the distances of centres to points (sqDistances), the pairwise distances of
// k-means++ (pairwiseSqDistances) and its cumulative sums (a product with upperOnes). A rounding
// difference there rarely changes a cluster, so the end-to-end comparisons above may not see it.
func TestHostProductsMatchGraph(t *testing.T) {
	b := testutil.GoBackend(t)
	rng := rand.New(rand.NewPCG(8, 9))
	for _, s := range []struct{ r, m, n, d int }{
		{1, 5, 30, 8}, {2, 7, 37, 13}, {3, 40, 150, 20}, {5, 12, 200, 13}, {1, 4, 129, 70},
	} {
		name := fmt.Sprintf("r%d m%d n%d d%d", s.r, s.m, s.n, s.d)
		x := randRelu(rng, s.n, s.d)
		c := make([]float32, s.r*s.m*s.d)
		for i := range c {
			c[i] = float32(rng.NormFloat64())
		}
		exec, err := NewExec(b, func(xn, cn *Node) []*Node {
			x2 := Reshape(ReduceSum(Square(xn), -1), 1, 1, s.n)
			return []*Node{sqDistances(xn, x2, cn), pairwiseSqDistances(xn, x2)}
		})
		if err != nil {
			t.Fatal(err)
		}
		outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, s.n, s.d), tensors.FromFlatDataAndDimensions(c, s.r, s.m, s.d))
		exec.Finalize()
		if err != nil {
			t.Fatal(err)
		}
		p := newKMProblem(x, s.n, s.d, sampling.KMeansConfig{K: s.m, NInit: s.r, Iters: 1})
		got := make([]float32, s.r*s.m*s.n)
		c2 := make([]float32, s.r*s.m)
		for i := range c2 {
			c2[i] = sqNorm(c[i*s.d : (i+1)*s.d])
		}
		distRows(got, c, c2, s.r*s.m, x, p.x2, s.d)
		if want := tensors.MustCopyFlatData[float32](outs[0]); !sameBits(got, want) {
			t.Errorf("%s: centre-point distances differ from sqDistances", name)
		}
		if want := tensors.MustCopyFlatData[float32](outs[1]); !sameBits(p.pairwise(), want) {
			t.Errorf("%s: pairwise distances differ from pairwiseSqDistances", name)
		}
	}
	for _, s := range []struct{ r, n int }{{5, 128}, {5, 37}, {3, 100}, {40, 500}, {41, 413}} {
		v := make([]float32, s.r*s.n)
		for i := range v {
			v[i] = float32(math.Abs(rng.NormFloat64()) * 3)
		}
		exec, err := NewExec(b, func(vn *Node) *Node { return MatMul(vn, upperOnes(vn.Graph(), s.n)) })
		if err != nil {
			t.Fatal(err)
		}
		outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(v, s.r, s.n))
		exec.Finalize()
		if err != nil {
			t.Fatal(err)
		}
		want := tensors.MustCopyFlatData[float32](outs[0])
		got := make([]float32, len(v))
		for i := range s.r {
			prefixSums(got[i*s.n:(i+1)*s.n], v[i*s.n:(i+1)*s.n])
		}
		if !sameBits(got, want) {
			t.Errorf("r%d n%d: cumulative sums differ from the product with upperOnes", s.r, s.n)
		}
	}
}

// BenchmarkHostKMeans: HostKMeans at the official shape (k = 64, 384 x 342 post-ReLU unit
// features, 5 restarts, the default iterations), the host counterpart of BenchmarkKMeans.
func BenchmarkHostKMeans(b *testing.B) {
	const n, d = 384, 342
	x := readF32(b, "relu_384x342", n, d)
	cfg := sampling.DefaultKMeansConfig(64)
	for i := range b.N {
		if _, err := HostKMeans(x, n, d, cfg.HostUniforms(rand.New(rand.NewPCG(uint64(i), 7))), cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHostSelectDOSQuick: HostSelectDOS at the quick grid's shape (128 candidates, OOD
// batch 64, the MLP's 64 features, the default K-means).
func BenchmarkHostSelectDOSQuick(b *testing.B) {
	cfg := sampling.DefaultDOSConfig(128, 64)
	rng := rand.New(rand.NewPCG(1, 2))
	feats := randRelu(rng, cfg.Candidates, 64)
	for i := range cfg.Candidates { // unit rows, as DOSHostInputs gives them
		row := feats[i*64 : (i+1)*64]
		norm := float32(math.Sqrt(float64(sqNorm(row))))
		for j := range row {
			row[j] /= norm
		}
	}
	p := make([]float32, cfg.Candidates)
	for i := range p {
		p[i] = rng.Float32()
	}
	b.ResetTimer()
	for range b.N {
		if _, err := HostSelectDOS(p, feats, 64, cfg.HostUniforms(rng), cfg); err != nil {
			b.Fatal(err)
		}
	}
}

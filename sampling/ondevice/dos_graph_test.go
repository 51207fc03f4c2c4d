package ondevice

import (
	"cmp"
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

// dosRun holds the host values of one SelectDOS execution.
type dosRun struct {
	indices, clustered, assign []int32
	inertia                    float32
	empty                      int32
	meanPicked, meanAll        float32
}

func runSelectDOS(t *testing.T, cfg sampling.DOSConfig, logits, feats []float32, nOut, d int, uniforms []float32) dosRun {
	t.Helper()
	exec := newSelectDOSExec(t, testutil.GoBackend(t), cfg)
	defer exec.Finalize()
	return execSelectDOS(t, exec, cfg, logits, feats, nOut, d, uniforms)
}

// newSelectDOSExec compiles SelectDOS for cfg on b, with every output of DOSSelection.
func newSelectDOSExec(t testing.TB, b backends.Backend, cfg sampling.DOSConfig) *Exec {
	t.Helper()
	exec, err := NewExec(b, func(l, f, u *Node) []*Node {
		s := SelectDOS(l, f, u, cfg)
		return []*Node{s.Indices, s.Clustered, s.Assign, s.Inertia, s.EmptyClusters, s.MeanPAbsPicked, s.MeanPAbsAll}
	})
	if err != nil {
		t.Fatal(err)
	}
	return exec
}

// execSelectDOS runs a newSelectDOSExec on a block (logits [C, nOut], feats [C, d]) and uniforms.
func execSelectDOS(t testing.TB, exec *Exec, cfg sampling.DOSConfig, logits, feats []float32, nOut, d int, uniforms []float32) dosRun {
	t.Helper()
	outs, err := exec.Exec(
		tensors.FromFlatDataAndDimensions(logits, cfg.Candidates, nOut),
		tensors.FromFlatDataAndDimensions(feats, cfg.Candidates, d),
		tensors.FromFlatDataAndDimensions(uniforms, len(uniforms)))
	if err != nil {
		t.Fatal(err)
	}
	return dosRun{
		indices:    tensors.MustCopyFlatData[int32](outs[0]),
		clustered:  tensors.MustCopyFlatData[int32](outs[1]),
		assign:     tensors.MustCopyFlatData[int32](outs[2]),
		inertia:    outs[3].Value().(float32),
		empty:      outs[4].Value().(int32),
		meanPicked: outs[5].Value().(float32),
		meanAll:    outs[6].Value().(float32),
	}
}

// expectedPicks is the host reference of a selection's picks from its own clustering r and the
// criterion crit of each clustered candidate: each of the first min(k, B) clusters gives its
// PerCluster members of smallest criterion (ties by row), slot cluster*PerCluster + rank.
func expectedPicks(cfg sampling.DOSConfig, r dosRun, crit []float64) map[int]int32 {
	per := cfg.PerCluster()
	want := map[int]int32{}
	for a := range min(cfg.K(), cfg.BatchSize) {
		var mem []int
		for i, as := range r.assign {
			if int(as) == a {
				mem = append(mem, i)
			}
		}
		slices.SortStableFunc(mem, func(x, y int) int { return cmp.Compare(crit[x], crit[y]) })
		for rank := range min(per, len(mem)) {
			want[a*per+rank] = r.clustered[mem[rank]]
		}
	}
	return want
}

// hostPAbs is softmax(logits)[:, nOut-1] computed on the host in float64.
func hostPAbs(logits []float32, c, nOut int) []float64 {
	p := make([]float64, c)
	for i := range c {
		row := logits[i*nOut : (i+1)*nOut]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = max(mx, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - mx)
		}
		p[i] = math.Exp(float64(row[nOut-1])-mx) / s
	}
	return p
}

// checkDOSProperties checks the selection invariants against the host-side p_abs.
func checkDOSProperties(t *testing.T, cfg sampling.DOSConfig, r dosRun, p []float64) {
	t.Helper()
	k, m := cfg.BatchSize, cfg.Clustered()
	if len(r.indices) != k || len(r.clustered) != m || len(r.assign) != m {
		t.Fatalf("lengths: indices %d (want %d), clustered %d, assign %d (want %d)", len(r.indices), k, len(r.clustered), len(r.assign), m)
	}
	seen := map[int32]bool{}
	for _, idx := range r.indices {
		if idx < 0 || int(idx) >= cfg.Candidates {
			t.Fatalf("index %d outside the block [0,%d)", idx, cfg.Candidates)
		}
		if seen[idx] {
			t.Fatalf("index %d selected twice: %v", idx, r.indices)
		}
		seen[idx] = true
	}
	isClustered := map[int32]bool{}
	for _, row := range r.clustered {
		isClustered[row] = true
	}
	// Members of each cluster.
	members := make([][]int32, k)
	for i, a := range r.assign {
		members[a] = append(members[a], r.clustered[i])
	}
	empty := 0
	var sumPicked float64
	for j := range k {
		sel := r.indices[j]
		sumPicked += p[sel]
		if !isClustered[sel] {
			t.Errorf("slot %d: pick %d was trimmed, not clustered", j, sel)
		}
		if len(members[j]) == 0 {
			empty++
			// Fill-up: must not be any cluster's pick (picks are unique, checked above) and
			// must not be a minimum of a non-empty cluster.
			continue
		}
		inCluster := false
		for _, mbr := range members[j] {
			if mbr == sel {
				inCluster = true
			}
			if p[mbr] < p[sel]-1e-7 {
				t.Errorf("cluster %d: pick %d has p_abs %g but member %d has %g", j, sel, p[sel], mbr, p[mbr])
			}
		}
		if !inCluster {
			t.Errorf("cluster %d: pick %d is not a member", j, sel)
		}
	}
	if int(r.empty) != empty {
		t.Errorf("EmptyClusters %d, counted %d", r.empty, empty)
	}
	if math.Abs(sumPicked/float64(k)-float64(r.meanPicked)) > 1e-5 {
		t.Errorf("MeanPAbsPicked %g, host %g", r.meanPicked, sumPicked/float64(k))
	}
	var sumAll float64
	for _, v := range p {
		sumAll += v
	}
	if math.Abs(sumAll/float64(len(p))-float64(r.meanAll)) > 1e-5 {
		t.Errorf("MeanPAbsAll %g, host %g", r.meanAll, sumAll/float64(len(p)))
	}
}

func randomBlock(rng *rand.Rand, c, nOut, d int) (logits, feats []float32) {
	logits = make([]float32, c*nOut)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64() * 2)
	}
	feats = make([]float32, c*d)
	for i := range feats {
		feats[i] = float32(math.Abs(rng.NormFloat64()))
	}
	return
}

func TestSelectDOSProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const c, nOut, d = 96, 11, 16
	cfg := sampling.DefaultDOSConfig(c, 16)
	logits, feats := randomBlock(rng, c, nOut, d)
	u := cfg.HostUniforms(rng)
	r := runSelectDOS(t, cfg, logits, feats, nOut, d, u)
	checkDOSProperties(t, cfg, r, hostPAbs(logits, c, nOut))
	if r.meanPicked >= r.meanAll {
		t.Errorf("picks should favour low p_abs: mean picked %g >= mean all %g", r.meanPicked, r.meanAll)
	}
	// Deterministic for the same uniforms.
	r2 := runSelectDOS(t, cfg, logits, feats, nOut, d, u)
	for i := range r.indices {
		if r.indices[i] != r2.indices[i] {
			t.Fatalf("selection differs for identical inputs: %v vs %v", r.indices, r2.indices)
		}
	}
}

// TestSelectDOSFillUp uses a block with only 3 distinct feature vectors and k=6, so that K-means
// has empty clusters and the fill-up must take distinct unpicked candidates.
func TestSelectDOSFillUp(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const c, nOut, d = 12, 3, 4
	cfg := sampling.DefaultDOSConfig(c, 6)
	logits, _ := randomBlock(rng, c, nOut, d)
	base := [][]float32{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}}
	feats := make([]float32, 0, c*d)
	for i := range c {
		feats = append(feats, base[i%3]...)
	}
	p := hostPAbs(logits, c, nOut)
	fills := map[int32]bool{}
	for trial := range 4 {
		r := runSelectDOS(t, cfg, logits, feats, nOut, d, cfg.HostUniforms(rng))
		checkDOSProperties(t, cfg, r, p)
		if r.empty != 3 {
			t.Errorf("trial %d: want 3 empty clusters (3 distinct points, k=6), got %d", trial, r.empty)
		}
		counts := make([]int, cfg.BatchSize)
		for _, a := range r.assign {
			counts[a]++
		}
		for j, n := range counts {
			if n == 0 {
				fills[r.indices[j]] = true
			}
		}
	}
	if len(fills) < 3 {
		t.Errorf("fill-up should vary with the uniforms; saw only %d distinct fill-ups", len(fills))
	}
}

// TestSelectDOSTrim: with Trim=t the t lowest-p_abs candidates are neither clustered nor picked.
func TestSelectDOSTrim(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const c, nOut, d = 40, 5, 8
	cfg := sampling.DefaultDOSConfig(c, 8)
	cfg.Trim = 6
	logits, feats := randomBlock(rng, c, nOut, d)
	p := hostPAbs(logits, c, nOut)
	r := runSelectDOS(t, cfg, logits, feats, nOut, d, cfg.HostUniforms(rng))
	checkDOSProperties(t, cfg, r, p)
	// The trimmed rows are the 6 lowest p_abs.
	trimmed := map[int32]bool{}
	for i := range int32(c) {
		trimmed[i] = true
	}
	for i, row := range r.clustered {
		delete(trimmed, row)
		if i > 0 && row <= r.clustered[i-1] {
			t.Errorf("clustered rows not in block order: %v", r.clustered)
		}
	}
	if len(trimmed) != cfg.Trim {
		t.Fatalf("%d rows trimmed, want %d", len(trimmed), cfg.Trim)
	}
	for row := range trimmed {
		for _, kept := range r.clustered {
			if p[kept] < p[row] {
				t.Errorf("trimmed row %d (p_abs %g) has a higher p_abs than kept row %d (%g)", row, p[row], kept, p[kept])
			}
		}
	}
}

func TestDOSConfigValidate(t *testing.T) {
	bad := []sampling.DOSConfig{
		sampling.DefaultDOSConfig(32, 64), // k larger than the candidate block
		{Candidates: 384, BatchSize: 64, Trim: 330, KMeans: sampling.DefaultKMeansConfig(64)},
		{Candidates: 384, BatchSize: 0, KMeans: sampling.DefaultKMeansConfig(64)},
		{Candidates: 384, BatchSize: 64, Trim: -1, KMeans: sampling.DefaultKMeansConfig(64)},
		{Candidates: 384, BatchSize: 64, KMeans: sampling.KMeansConfig{NInit: 0, Iters: 5}},
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: expected an error", c)
		}
	}
	if err := sampling.DefaultDOSConfig(384, 64).Validate(); err != nil {
		t.Errorf("official config: %v", err)
	}
}

// The dos sampler's graph is registered: Build selects BatchSize rows, with the diagnostics the
// sampler names.
func TestBuildDOSFromRegistry(t *testing.T) {
	s, err := sampling.NewDOSWithConfig(8, 200, sampling.DefaultDOSConfig(40, 8))
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(s); err != nil {
		t.Fatal(err)
	}
	u := s.StepUniforms(3, 7)
	rng := rand.New(rand.NewPCG(1, 1))
	logits, feats := randomBlock(rng, 40, 4, 6)
	exec, err := NewExec(testutil.GoBackend(t), func(l, f, u *Node) []*Node {
		sel := Build(s, l, f, u)
		return append([]*Node{sel.Indices}, sel.Diagnostics...)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(logits, 40, 4), tensors.FromFlatDataAndDimensions(feats, 40, 6),
		tensors.FromFlatDataAndDimensions(u, len(u)))
	if err != nil {
		t.Fatal(err)
	}
	if got := tensors.MustCopyFlatData[int32](outs[0]); len(got) != 8 {
		t.Errorf("Build selected %d rows, want 8", len(got))
	}
	if len(outs)-1 != len(s.Diagnostics()) {
		t.Errorf("%d diagnostics, want %d", len(outs)-1, len(s.Diagnostics()))
	}
}

// TestSelectDOSGeneralised covers the options beyond the paper's defaults, against a host
// reference computed from the selection's own clustering (Assign): fewer clusters than outliers
// (floor(B/k) best members of each), more clusters than outliers (one from each of the first B),
// keeping only the lowest-p_abs share, raw features and the nearest-centroid pick.
func TestSelectDOSGeneralised(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const c, nOut, d = 60, 5, 6
	logits, feats := randomBlock(rng, c, nOut, d)
	p := hostPAbs(logits, c, nOut)
	for _, tc := range []struct {
		name string
		cfg  func(cfg *sampling.DOSConfig)
	}{
		{"k<B", func(cfg *sampling.DOSConfig) { cfg.Clusters = 4 }},
		{"k>B", func(cfg *sampling.DOSConfig) { cfg.Clusters = 20 }},
		{"keep", func(cfg *sampling.DOSConfig) { cfg.Keep = 48; cfg.Clusters = 6 }},
		{"nearest raw", func(cfg *sampling.DOSConfig) { cfg.PickNearest, cfg.RawFeatures, cfg.Clusters = true, true, 6 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sampling.DefaultDOSConfig(c, 12)
			tc.cfg(&cfg)
			r := runSelectDOS(t, cfg, logits, feats, nOut, d, cfg.HostUniforms(rng))
			k, m := cfg.K(), cfg.Clustered()
			if len(r.indices) != cfg.BatchSize || len(r.clustered) != m {
				t.Fatalf("%d picks of %d clustered, want %d of %d", len(r.indices), len(r.clustered), cfg.BatchSize, m)
			}
			// Kept rows: the m lowest p_abs.
			for _, row := range r.clustered {
				below := 0
				for j := range c {
					if p[j] < p[row] {
						below++
					}
				}
				if below >= m {
					t.Errorf("clustered row %d has %d rows below it, keep %d", row, below, m)
				}
			}
			// Criterion of each clustered member: p_abs, or squared distance to its cluster's mean
			// (the centroid after the Lloyd iterations converged) in the clustered feature space.
			crit := make([]float64, m)
			if cfg.PickNearest {
				means := make([][]float64, k)
				counts := make([]int, k)
				for i, a := range r.assign {
					if means[a] == nil {
						means[a] = make([]float64, d)
					}
					for j := range d {
						means[a][j] += float64(feats[int(r.clustered[i])*d+j])
					}
					counts[a]++
				}
				for i, a := range r.assign {
					for j := range d {
						diff := float64(feats[int(r.clustered[i])*d+j]) - means[a][j]/float64(counts[a])
						crit[i] += diff * diff
					}
				}
			} else {
				for i, row := range r.clustered {
					crit[i] = p[row]
				}
			}
			want := expectedPicks(cfg, r, crit)
			seen := map[int32]bool{}
			picked := map[int32]bool{}
			for _, v := range want {
				picked[v] = true
			}
			for s, idx := range r.indices {
				if seen[idx] {
					t.Fatalf("row %d picked twice: %v", idx, r.indices)
				}
				seen[idx] = true
				if w, ok := want[s]; ok && w != idx {
					t.Errorf("slot %d: picked %d, want %d", s, idx, w)
				} else if !ok && picked[idx] {
					t.Errorf("slot %d: fill-up %d is another cluster's pick", s, idx)
				}
			}
		})
	}
}

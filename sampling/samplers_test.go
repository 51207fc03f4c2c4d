package sampling

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestRegistry(t *testing.T) {
	if got, want := Names(), []string{"dos", "greedy", "poem", "random"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	_, err := Lookup("kmeans")
	if err == nil {
		t.Fatal("Lookup of an unknown name must fail")
	}
	for _, n := range Names() {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not list accepted name %q", err, n)
		}
	}
	if _, err := New("nope", Env{}, nil); err == nil {
		t.Error("New of an unknown name must fail")
	}
	env := Env{Seed: 1, PoolSize: 1000, IDSize: 100, OutliersPerEpoch: 64, OODBatch: 64}
	want := map[string]Scoring{"random": ScoreNone, "greedy": ScorePool, "poem": ScorePool, "dos": ScoreInGraph}
	for _, n := range Names() {
		s, err := New(n, env, nil)
		if err != nil {
			t.Fatalf("New(%q): %v", n, err)
		}
		if s.Name() != n || s.Scoring() != want[n] {
			t.Errorf("%s: Name %q Scoring %v, want %v", n, s.Name(), s.Scoring(), want[n])
		}
		_, isGraph := s.(InGraph)
		if isGraph != (want[n] == ScoreInGraph) {
			t.Errorf("%s: implements InGraph = %v", n, isGraph)
		}
	}
}

// Every options block is a pointer to a struct of plain values with a yaml key per field, so
// that the run configuration can embed, copy and check it; its defaults pass its own check.
func TestOptionsBlocks(t *testing.T) {
	for _, spec := range Specs() {
		if (spec.Block == "") != (spec.Defaults == nil) {
			t.Errorf("%s: Block %q but Defaults set = %v", spec.Name, spec.Block, spec.Defaults != nil)
			continue
		}
		if spec.Defaults == nil {
			continue
		}
		o := spec.Defaults()
		v := reflect.ValueOf(o)
		if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
			t.Errorf("%s: Defaults() is a %T, want a pointer to a struct", spec.Name, o)
			continue
		}
		st := v.Elem().Type()
		for i := range st.NumField() {
			f := st.Field(i)
			switch f.Type.Kind() {
			case reflect.Int, reflect.Float64, reflect.String, reflect.Bool:
			default:
				t.Errorf("%s: field %s is a %s, want a plain value", spec.Name, f.Name, f.Type)
			}
			if tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); tag == "" || tag == "-" {
				t.Errorf("%s: field %s has no yaml key", spec.Name, f.Name)
			}
		}
		if ps := o.Check(RunShape{OODBatch: 64, OutliersPerEpoch: 50000}); len(ps) > 0 {
			t.Errorf("%s: the defaults fail their own check: %v", spec.Name, ps)
		}
		if spec.Defaults() == o {
			t.Errorf("%s: Defaults must return a fresh block each call", spec.Name)
		}
	}
}

func TestBadConfigs(t *testing.T) {
	base := Env{Seed: 1, PoolSize: 1000, IDSize: 100, OutliersPerEpoch: 64, OODBatch: 64}
	cases := map[string]struct {
		env  func(e *Env)
		opts Options
	}{
		"random":  {env: func(e *Env) { e.OutliersPerEpoch = 2000 }},
		"greedy":  {opts: &GreedyOptions{Quantile: 0.95}}, // 950 + 64 > 1000
		"poem":    {env: func(e *Env) { e.IDSize = 0 }},
		"dos":     {opts: &DOSOptions{Candidates: 32, NInit: 5, Iters: 3, EmptyClusters: EmptyRelocate}}, // k > block
		"dos ":    {env: func(e *Env) { e.PoolSize = 100 }},                                              // pool smaller than a block
		"greedy ": {opts: &GreedyOptions{Quantile: -0.1}},
	}
	for name, tc := range cases {
		env := base
		if tc.env != nil {
			tc.env(&env)
		}
		if _, err := New(strings.TrimSpace(name), env, tc.opts); err == nil {
			t.Errorf("%s: expected a configuration error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestRandom(t *testing.T) {
	s, err := NewRandom(Env{Seed: 42, PoolSize: 500, OutliersPerEpoch: 200})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.Select(0, Scores{})
	again, _ := s.Select(0, Scores{})
	b, _ := s.Select(1, Scores{})
	if !slices.Equal(a, again) {
		t.Error("same seed and epoch must give the same sample")
	}
	if slices.Equal(a, b) {
		t.Error("different epochs should give different samples")
	}
	counts := make([]int, 500)
	for e := range 200 {
		idx, _ := s.Select(e, Scores{})
		seen := map[int32]bool{}
		for _, i := range idx {
			if i < 0 || i >= 500 || seen[i] {
				t.Fatalf("epoch %d: invalid or repeated row %d", e, i)
			}
			seen[i] = true
			counts[i]++
		}
		if len(idx) != 200 {
			t.Fatalf("epoch %d: %d rows, want 200", e, len(idx))
		}
	}
	// Each row is drawn with probability 0.4: over 200 epochs 80 +- 6.9 (1 sd).
	for i, c := range counts {
		if c < 45 || c > 115 {
			t.Errorf("row %d drawn %d times in 200 epochs, expected about 80", i, c)
		}
	}
}

func TestGreedyQuantile(t *testing.T) {
	scores := []float32{0.5, 0.1, 0.9, 0.1, 0.3, 0.7, 0.2, 0.8}
	// Ascending stable order: 1, 3, 6, 4, 0, 5, 7, 2.
	if got := GreedyQuantile(scores, 0, 3); !slices.Equal(got, []int32{1, 3, 6}) {
		t.Errorf("q=0: %v", got)
	}
	s, err := NewGreedy(Env{PoolSize: 8, OutliersPerEpoch: 4}, &GreedyOptions{Quantile: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	req := s.Request(0)
	if len(req.Pool) != 8 || !req.PAbs {
		t.Fatalf("greedy must request p_abs of the whole pool, got %+v", req)
	}
	got, err := s.Select(0, Scores{PAbs: scores})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{6, 4, 0, 5}; !slices.Equal(got, want) { // start = floor(8*0.25) = 2
		t.Errorf("q=0.25: %v, want %v", got, want)
	}
	if _, err := s.Select(0, Scores{PAbs: scores[:5]}); err == nil {
		t.Error("wrong number of scores must be an error")
	}
}

func TestBoundarySelect(t *testing.T) {
	w := []float64{1, -1}
	feats := []float32{1, 1, 2, 0, 0, 0.5, 3, 3.1, -1, 0} // |w.z| = 0, 2, 0.5, 0.1, 1
	if got, want := BoundarySelect(feats, 2, w, 4), []int32{0, 3, 2, 4}; !slices.Equal(got, want) {
		t.Errorf("BoundarySelect = %v, want %v", got, want)
	}
}

type poemGoldens struct {
	D       int
	Sigma   float64 `json:"sigma"`
	SigmaN  float64 `json:"sigma_n"`
	Conf    float64 `json:"conf"`
	Noise   float64 `json:"noise"`
	ID, OOD []float32
	Cases   []struct {
		WID  int `json:"w_id"`
		NOOD int `json:"n_ood"`
		Mu   []float64
		Cov  []float64
	}
}

func TestPOEMPosteriorGoldens(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "poem_goldens.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g poemGoldens
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	var hp struct {
		Sigma  float64 `json:"sigma"`
		SigmaN float64 `json:"sigma_n"`
		Conf   float64 `json:"conf"`
		Noise  float64 `json:"noise"`
	}
	if err := json.Unmarshal(raw, &hp); err != nil {
		t.Fatal(err)
	}
	d := g.D
	const pool, per = 20, 5
	poolFeats := make([]float32, pool*d)
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range poolFeats {
		poolFeats[i] = float32(rng.NormFloat64())
	}
	pc := DefaultPOEMOptions()
	pc.Sigma, pc.SigmaN, pc.Conf, pc.BufferEpochs = hp.Sigma, hp.SigmaN, hp.Conf, 4
	p, err := NewPOEM(Env{Seed: 3, PoolSize: pool, IDSize: 7, OutliersPerEpoch: per}, pc)
	if err != nil {
		t.Fatal(err)
	}
	p.noise = hp.Noise // the golden uses a fixed noise offset
	idScores := Scores{Features: g.ID, Dim: d}
	for e, c := range g.Cases {
		req := p.Request(e)
		sel, err := p.Select(e, Scores{Features: poolFeats, Dim: d})
		if err != nil {
			t.Fatal(err)
		}
		// Selection = the per rows closest to the boundary of the sampled head.
		want := BoundarySelect(poolFeats, d, p.w, per)
		wantRows := make([]int32, per)
		for i, r := range want {
			wantRows[i] = req.Pool[r]
		}
		slices.Sort(wantRows)
		got := slices.Clone(sel)
		slices.Sort(got)
		if !slices.Equal(got, wantRows) {
			t.Errorf("epoch %d: selected %v, want %v", e, got, wantRows)
		}
		fr := p.FeedbackRequest(e)
		if len(fr.ID) != 7 || len(fr.Pool) != c.NOOD {
			t.Fatalf("epoch %d: feedback request %d ID and %d pool rows, want 7 and %d", e, len(fr.ID), len(fr.Pool), c.NOOD)
		}
		if err := p.Feedback(e, idScores, Scores{Features: g.OOD[:c.NOOD*d], Dim: d}); err != nil {
			t.Fatal(err)
		}
		mu := p.PosteriorMean()
		for i := range d {
			if math.Abs(mu[i]-c.Mu[i]) > 1e-5*(1+math.Abs(c.Mu[i])) {
				t.Errorf("epoch %d: posterior mean %v, numpy %v", e, mu, c.Mu)
				break
			}
		}
		// Thompson samples: empirical mean and covariance match N(mu, sigma*A^-1).
		const n = 40000
		sr := rand.New(rand.NewPCG(uint64(e), 1))
		mean := make([]float64, d)
		cov := make([]float64, d*d)
		samples := make([][]float64, n)
		for s := range n {
			samples[s] = p.thompson(sr)
			for i := range d {
				mean[i] += samples[s][i] / n
			}
		}
		for _, w := range samples {
			for i := range d {
				for j := range d {
					cov[i*d+j] += (w[i] - mean[i]) * (w[j] - mean[j]) / n
				}
			}
		}
		for i := range d {
			if se := math.Sqrt(c.Cov[i*d+i] / n); math.Abs(mean[i]-c.Mu[i]) > 5*se {
				t.Errorf("epoch %d: Thompson mean[%d] %g, want %g +- %g", e, i, mean[i], c.Mu[i], 5*se)
			}
			for j := range d {
				if math.Abs(cov[i*d+j]-c.Cov[i*d+j]) > 0.04*math.Sqrt(c.Cov[i*d+i]*c.Cov[j*d+j]) {
					t.Errorf("epoch %d: Thompson cov[%d,%d] %g, want %g", e, i, j, cov[i*d+j], c.Cov[i*d+j])
				}
			}
		}
	}
	if err := p.Feedback(5, idScores, Scores{Features: g.OOD[:5*d], Dim: d}); err == nil {
		t.Error("Feedback for an epoch never selected must fail")
	}
}

// TestPOEMWindow: the scanned window is contiguous (wrapping) and the selection is reproducible.
func TestPOEMWindow(t *testing.T) {
	p1, p2 := smallPOEM(t), smallPOEM(t)
	req := p1.Request(2)
	if len(req.Pool) != 30 || !req.Features {
		t.Fatalf("request %+v", req)
	}
	for i := 1; i < len(req.Pool); i++ {
		if req.Pool[i] != (req.Pool[i-1]+1)%100 {
			t.Fatalf("window not contiguous: %v", req.Pool)
		}
	}
	feats := make([]float32, 30*4)
	for i := range feats {
		feats[i] = float32(math.Sin(float64(i)))
	}
	a, err := p1.Select(2, Scores{Features: feats, Dim: 4})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := p2.Select(2, Scores{Features: feats, Dim: 4})
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different selections: %v vs %v", a, b)
	}
	if _, err := p1.Select(2, Scores{Features: feats[:40], Dim: 4}); err == nil {
		t.Error("wrong feature count must be an error")
	}
}

// TestDOSSampler: the epoch's candidates are a permutation of the pool and step uniforms are
// reproducible (package ondevice tests the selection graph).
func TestDOSSampler(t *testing.T) {
	s, err := NewDOSWithConfig(8, 200, DefaultDOSConfig(40, 8))
	if err != nil {
		t.Fatal(err)
	}
	perm, _ := s.Select(3, Scores{})
	sorted := slices.Clone(perm)
	slices.Sort(sorted)
	for i, v := range sorted {
		if v != int32(i) {
			t.Fatalf("candidates are not a permutation of the pool")
		}
	}
	u1, u2, u3 := s.StepUniforms(3, 7), s.StepUniforms(3, 7), s.StepUniforms(3, 8)
	if !slices.Equal(u1, u2) || slices.Equal(u1, u3) || len(u1) != s.UniformsSize() || s.BlockSize() != 40 {
		t.Error("step uniforms must be reproducible per (epoch, step) and of UniformsSize")
	}
}

// smallPOEM is a POEM over a 100-row pool scanning 30 rows and keeping 8 per epoch.
func smallPOEM(t *testing.T) *POEM {
	t.Helper()
	pc := DefaultPOEMOptions()
	pc.Candidates = 30
	s, err := NewPOEM(Env{Seed: 5, PoolSize: 100, IDSize: 10, OutliersPerEpoch: 8}, pc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

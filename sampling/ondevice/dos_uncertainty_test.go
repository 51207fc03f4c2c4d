package ondevice

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/oodlab/dos/internal/assert"
	"github.com/oodlab/dos/internal/testutil"
	"github.com/oodlab/dos/sampling"
)

// uncertaintyGoldens is testdata/uncertainty_goldens.json (gen_uncertainty_goldens.py).
type uncertaintyGoldens struct {
	Candidates int                  `json:"candidates"`
	Outputs    int                  `json:"outputs"`
	Dim        int                  `json:"dim"`
	OODBatch   int                  `json:"ood_batch"`
	Logits     []float64            `json:"logits"`
	Features   []float64            `json:"features"`
	Weights    map[string][]float64 `json:"weights"`
	Cases      []struct {
		Name         string    `json:"name"`
		Variant      string    `json:"variant"`
		Uncertainty  string    `json:"uncertainty"`
		Clusters     int       `json:"clusters"`
		Keep         int       `json:"keep"`
		Init         []float64 `json:"init"`
		Picked       []int32   `json:"picked"`
		ClusterSizes []int     `json:"cluster_sizes"`
	} `json:"cases"`
}

func loadUncertaintyGoldens(t *testing.T) uncertaintyGoldens {
	t.Helper()
	raw, err := os.ReadFile("testdata/uncertainty_goldens.json")
	if err != nil {
		t.Fatal(err)
	}
	var g uncertaintyGoldens
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) == 0 || len(g.Weights) != 3 {
		t.Fatalf("goldens hold %d cases and %d weights", len(g.Cases), len(g.Weights))
	}
	return g
}

// The uncertainties other than p_abs are the official code's weights (scores/utils.py:
// get_energy_weight, get_msp_weight; maxlogit computed by torch alike) of the same logits.
func TestUncertaintyMatchesOfficialWeights(t *testing.T) {
	g := loadUncertaintyGoldens(t)
	b := testutil.GoBackend(t)
	for kind, want := range g.Weights {
		exec, err := NewExec(b, func(l *Node) *Node { return Uncertainty(l, kind) })
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Exec(tensors.FromFlatDataAndDimensions(testutil.Floats[float32](g.Logits), g.Candidates, g.Outputs))
		exec.Finalize()
		if err != nil {
			t.Fatal(err)
		}
		got := tensors.MustCopyFlatData[float32](out[0])
		gotF := make([]float64, len(got))
		for i, v := range got {
			gotF[i] = float64(v)
		}
		// float32 on both sides; msp's official 1 - p is taken in float64 from a float32 p.
		assert.Close(t, kind, gotF, want, assert.Tol{Rel: 1e-6, Abs: 2e-7})
	}
}

// DOS's selection with each uncertainty picks what the official selection blocks pick when fed
// the official weights of that uncertainty, from the same initial centroids (see
// gen_uncertainty_goldens.py): the paper's DOS (train_diverse.py) by energy, max logit and MSP,
// and the dual-batch variant (train_dual_batch.py --weighting energy).
func TestSelectionByUncertaintyMatchesOfficial(t *testing.T) {
	g := loadUncertaintyGoldens(t)
	b := testutil.GoBackend(t)
	for _, tc := range g.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			cfg := sampling.DefaultDOSConfig(g.Candidates, g.OODBatch)
			cfg.Clusters, cfg.Uncertainty = tc.Clusters, tc.Uncertainty
			cfg.KMeans.NInit, cfg.KMeans.Iters = 1, 100
			if tc.Variant == "dual" {
				cfg.Keep, cfg.RawFeatures, cfg.PickNearest = tc.Keep, true, true
			}
			keys := make([]float32, cfg.Clustered()) // no fill-up in these cases
			exec, err := NewExec(b, func(l, f, c, k *Node) []*Node {
				sel := SelectDOSFrom(l, f, c, k, cfg)
				return []*Node{sel.Indices, sel.Assign}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer exec.Finalize()
			out, err := exec.Exec(tensors.FromFlatDataAndDimensions(testutil.Floats[float32](g.Logits), g.Candidates, g.Outputs),
				tensors.FromFlatDataAndDimensions(testutil.Floats[float32](g.Features), g.Candidates, g.Dim),
				tensors.FromFlatDataAndDimensions(testutil.Floats[float32](tc.Init), cfg.K(), g.Dim),
				tensors.FromFlatDataAndDimensions(keys, len(keys)))
			if err != nil {
				t.Fatal(err)
			}
			if got := tensors.MustCopyFlatData[int32](out[0]); !slices.Equal(got, tc.Picked) {
				t.Errorf("picks %v, official %v", got, tc.Picked)
			}
			sizes := make([]int, cfg.K())
			for _, a := range tensors.MustCopyFlatData[int32](out[1]) {
				sizes[a]++
			}
			if !slices.Equal(sizes, tc.ClusterSizes) {
				t.Errorf("cluster sizes %v, official %v", sizes, tc.ClusterSizes)
			}
		})
	}
}

// hostUncertainty computes each kind in float64 on the host, as the reference of the rankings.
func hostUncertainty(logits []float32, c, nOut int, kind string) []float64 {
	out := make([]float64, c)
	for i := range c {
		row := logits[i*nOut : (i+1)*nOut]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - mx)
		}
		switch kind {
		case sampling.UncertaintyAbsent:
			out[i] = math.Exp(float64(row[nOut-1])-mx) / s
		case sampling.UncertaintyEnergy:
			out[i] = -(mx + math.Log(s))
		case sampling.UncertaintyMaxLogit:
			out[i] = -mx
		case sampling.UncertaintyMSP:
			out[i] = 1 - 1/s
		}
	}
	return out
}

// TestSelectDOSCriteria checks the picks of every uncertainty and of the random pick rule, with
// keep, fewer and more clusters than outliers, against a host reference built from the
// selection's own clustering: the kept rows are the least uncertain ones, and each of the first
// min(k, B) clusters gives its floor(B/k) members of smallest criterion, the criterion being the
// uncertainty or, for pick random, the random keys that follow the fill-up's in the uniforms.
func TestSelectDOSCriteria(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const c, nOut, d = 60, 5, 6
	logits, feats := randomBlock(rng, c, nOut, d)
	for _, tc := range []struct {
		name string
		cfg  func(cfg *sampling.DOSConfig)
	}{
		{"energy", func(cfg *sampling.DOSConfig) { cfg.Uncertainty = sampling.UncertaintyEnergy }},
		{"maxlogit k<B", func(cfg *sampling.DOSConfig) { cfg.Uncertainty, cfg.Clusters = sampling.UncertaintyMaxLogit, 4 }},
		{"msp keep", func(cfg *sampling.DOSConfig) {
			cfg.Uncertainty, cfg.Keep, cfg.Clusters = sampling.UncertaintyMSP, 48, 6
		}},
		{"energy trim k>B", func(cfg *sampling.DOSConfig) {
			cfg.Uncertainty, cfg.Trim, cfg.Clusters = sampling.UncertaintyEnergy, 5, 20
		}},
		{"random", func(cfg *sampling.DOSConfig) { cfg.PickRandom = true }},
		{"random k<B keep", func(cfg *sampling.DOSConfig) { cfg.PickRandom, cfg.Clusters, cfg.Keep = true, 5, 40 }},
		{"random energy k>B", func(cfg *sampling.DOSConfig) {
			cfg.PickRandom, cfg.Uncertainty, cfg.Clusters, cfg.Keep = true, sampling.UncertaintyEnergy, 16, 50
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sampling.DefaultDOSConfig(c, 12)
			tc.cfg(&cfg)
			u := cfg.HostUniforms(rng)
			r := runSelectDOS(t, cfg, logits, feats, nOut, d, u)
			unc := hostUncertainty(logits, c, nOut, cfg.UncertaintyKind())
			m := cfg.Clustered()
			if len(r.indices) != cfg.BatchSize || len(r.clustered) != m {
				t.Fatalf("%d picks of %d clustered, want %d of %d", len(r.indices), len(r.clustered), cfg.BatchSize, m)
			}
			// Clustered rows: uncertainty rank in [Trim, Trim+m).
			for _, row := range r.clustered {
				below := 0
				for j := range c {
					if unc[j] < unc[row] {
						below++
					}
				}
				if below < cfg.Trim || below >= cfg.Trim+m {
					t.Errorf("clustered row %d has uncertainty rank %d, want [%d, %d)", row, below, cfg.Trim, cfg.Trim+m)
				}
			}
			crit := make([]float64, m)
			nKM := cfg.UniformsSize() - m
			if cfg.PickRandom {
				nKM -= m
			}
			for i, row := range r.clustered {
				crit[i] = unc[row]
				if cfg.PickRandom {
					crit[i] = float64(u[nKM+m+i])
				}
			}
			want := expectedPicks(cfg, r, crit)
			if len(want) == 0 {
				t.Fatal("no cluster picks to compare")
			}
			seen := map[int32]bool{}
			for s, idx := range r.indices {
				if seen[idx] {
					t.Fatalf("row %d picked twice: %v", idx, r.indices)
				}
				seen[idx] = true
				if w, ok := want[s]; ok && w != idx {
					t.Errorf("slot %d: picked %d, want %d", s, idx, w)
				}
			}
			// The mean uncertainty diagnostics are those of the picks and of the whole block.
			var all, picked float64
			for i := range c {
				all += unc[i]
			}
			for _, idx := range r.indices {
				picked += unc[idx]
			}
			assert.Close(t, "mean uncertainty of the block and of the picks",
				[]float64{float64(r.meanAll), float64(r.meanPicked)}, []float64{all / c, picked / float64(cfg.BatchSize)},
				assert.Tol{Rel: 1e-5, Abs: 1e-5})
		})
	}
}

// The random pick rule draws uniformly: over many draws of the keys with a fixed clustering
// (the same block and K-means uniforms), each member of a cluster is its pick about equally
// often, and the picks differ from the least uncertain ones.
func TestSelectDOSRandomPickIsUniform(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const c, nOut, d, batch = 24, 4, 5, 4
	logits, feats := randomBlock(rng, c, nOut, d)
	cfg := sampling.DefaultDOSConfig(c, batch)
	cfg.PickRandom = true
	cfg.KMeans.Iters = 10
	b := testutil.GoBackend(t)
	exec, err := NewExec(b, func(l, f, u *Node) []*Node {
		s := SelectDOS(l, f, u, cfg)
		return []*Node{s.Indices, s.Assign}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	base := cfg.HostUniforms(rng)
	m := cfg.Clustered()
	picks := map[int32]int{}
	var assign []int32
	const draws = 400
	for range draws {
		u := slices.Clone(base)
		for i := len(u) - m; i < len(u); i++ { // only the picks' keys change
			u[i] = rng.Float32()
		}
		out, err := exec.Exec(tensors.FromFlatDataAndDimensions(logits, c, nOut), tensors.FromFlatDataAndDimensions(feats, c, d),
			tensors.FromFlatDataAndDimensions(u, len(u)))
		if err != nil {
			t.Fatal(err)
		}
		a := tensors.MustCopyFlatData[int32](out[1])
		if assign == nil {
			assign = a
		} else if !slices.Equal(a, assign) {
			t.Fatal("the clustering changed with the picks' keys")
		}
		for _, idx := range tensors.MustCopyFlatData[int32](out[0]) {
			picks[idx]++
		}
	}
	sizes := make([]int, batch)
	for _, a := range assign {
		sizes[a]++
	}
	for row, a := range assign {
		// Each of the size members is picked draws/size times on average: allow 5 standard
		// deviations of the binomial count.
		n, p := float64(draws), 1/float64(sizes[a])
		mean, sd := n*p, math.Sqrt(n*p*(1-p))
		if got := float64(picks[int32(row)]); math.Abs(got-mean) > 5*sd+0.5 {
			t.Errorf("row %d (cluster %d of %d members) picked %v times of %d, expected %.0f ± %.0f", row, a, sizes[a], got, draws, mean, sd)
		}
	}
	// Every member of every cluster is picked at some draw (the least uncertain rule would pick
	// only one per cluster, whatever the keys).
	if len(picks) != c {
		t.Errorf("%d of %d rows were ever picked (cluster sizes %v)", len(picks), c, sizes)
	}
}

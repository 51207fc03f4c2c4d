package ondevice

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/oodlab/dos/internal/testutil"
	"github.com/oodlab/dos/sampling"
)

// TestHostSelectDOSAblationsMatchGraph extends the host-versus-graph comparison to the
// ablations' options: every uncertainty other than p_abs (on a network without the absent
// class) and the random pick, alone and with trimming, keep ratio, fewer and more clusters than
// outliers, raw features and empty clusters (repeated rows) that need the fill-up. HostSelectDOS,
// fed by DOSHostInputs, must return SelectDOS's picks and diagnostics bit for bit on the pure-Go
// backend.
func TestHostSelectDOSAblationsMatchGraph(t *testing.T) {
	b := testutil.GoBackend(t)
	const nOut = 7
	with := func(c, batch int, f func(*sampling.DOSConfig)) sampling.DOSConfig {
		cfg := sampling.DefaultDOSConfig(c, batch)
		cfg.KMeans.Iters = 10
		f(&cfg)
		return cfg
	}
	cases := []struct {
		name   string
		cfg    sampling.DOSConfig
		d, few int // few > 0: the features repeat this many distinct rows
	}{
		{"energy", with(48, 8, func(c *sampling.DOSConfig) { c.Uncertainty = sampling.UncertaintyEnergy }), 12, 0},
		{"maxlogit, trim, k<B", with(48, 8, func(c *sampling.DOSConfig) {
			c.Uncertainty, c.Trim, c.Clusters = sampling.UncertaintyMaxLogit, 5, 3
		}), 9, 0},
		{"msp, keep, raw, k>B", with(50, 8, func(c *sampling.DOSConfig) {
			c.Uncertainty, c.Keep, c.RawFeatures, c.Clusters = sampling.UncertaintyMSP, 40, true, 11
		}), 10, 0},
		{"random", with(48, 8, func(c *sampling.DOSConfig) { c.PickRandom = true }), 11, 0},
		{"random, k<B, keep", with(48, 8, func(c *sampling.DOSConfig) { c.PickRandom, c.Clusters, c.Keep = true, 3, 36 }), 9, 0},
		{"random, energy, empty clusters", with(40, 8, func(c *sampling.DOSConfig) {
			c.PickRandom, c.Uncertainty = true, sampling.UncertaintyEnergy
		}), 6, 5},
		{"energy, nearest, empty clusters", with(40, 8, func(c *sampling.DOSConfig) {
			c.PickNearest, c.Uncertainty = true, sampling.UncertaintyEnergy
		}), 6, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			check := newHostDOSCheck(t, b, cfg)
			sawFill := false
			for seed := range uint64(3) {
				rng := rand.New(rand.NewPCG(seed, 77))
				logits, feats := randomBlock(rng, cfg.Candidates, nOut, tc.d)
				if tc.few > 0 {
					for i := range cfg.Candidates {
						copy(feats[i*tc.d:(i+1)*tc.d], feats[(i%tc.few)*tc.d:(i%tc.few+1)*tc.d])
					}
				}
				u := cfg.HostUniforms(rng)
				want := check.compare(t, fmt.Sprintf("seed %d", seed), logits, nOut, feats, tc.d, u)
				sawFill = sawFill || want.empty > 0
			}
			if tc.few > 0 && !sawFill {
				t.Error("no seed left a cluster empty: the case no longer tests the fill-up")
			}
		})
	}
}

// With the random pick the uniforms grow by one key per clustered candidate, at their end: the
// other draws of a step are those of the same configuration without it.
func TestPickRandomUniformsExtendTheDefaults(t *testing.T) {
	cfg := sampling.DefaultDOSConfig(40, 8)
	r := cfg
	r.PickRandom = true
	if got, want := r.UniformsSize(), cfg.UniformsSize()+cfg.Clustered(); got != want {
		t.Fatalf("UniformsSize with PickRandom %d, want %d", got, want)
	}
	a := cfg.HostUniforms(rand.New(rand.NewPCG(5, 6)))
	bb := r.HostUniforms(rand.New(rand.NewPCG(5, 6)))
	if !slices.Equal(a, bb[:len(a)]) {
		t.Error("the random pick changed the K-means and fill-up uniforms of the step")
	}
}

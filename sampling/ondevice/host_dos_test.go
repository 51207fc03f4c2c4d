package ondevice

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"

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
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			sel, err := NewExec(b, func(l, f, u *Node) []*Node {
				s := SelectDOS(l, f, u, cfg)
				return []*Node{s.Indices, s.Clustered, s.Assign, s.Inertia, s.EmptyClusters, s.MeanPAbsPicked, s.MeanPAbsAll}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer sel.Finalize()
			inputs, err := NewExec(b, func(l, f *Node) []*Node {
				u, x := DOSHostInputs(l, f, cfg)
				return []*Node{u, x}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer inputs.Finalize()
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
				lt := tensors.FromFlatDataAndDimensions(logits, cfg.Candidates, nOut)
				ft := tensors.FromFlatDataAndDimensions(feats, cfg.Candidates, tc.d)
				outs, err := sel.Exec(lt, ft, tensors.FromFlatDataAndDimensions(u, len(u)))
				if err != nil {
					t.Fatal(err)
				}
				want := dosRun{indices: tensors.MustCopyFlatData[int32](outs[0]), clustered: tensors.MustCopyFlatData[int32](outs[1]),
					assign: tensors.MustCopyFlatData[int32](outs[2]), inertia: outs[3].Value().(float32), empty: outs[4].Value().(int32),
					meanPicked: outs[5].Value().(float32), meanAll: outs[6].Value().(float32)}
				in, err := inputs.Exec(lt, ft)
				if err != nil {
					t.Fatal(err)
				}
				got, err := HostSelectDOS(tensors.MustCopyFlatData[float32](in[0]), tensors.MustCopyFlatData[float32](in[1]), tc.d, u, cfg)
				if err != nil {
					t.Fatal(err)
				}
				what := fmt.Sprintf("seed %d", seed)
				if !slices.Equal(got.Indices, want.indices) {
					t.Errorf("%s: picks differ:\nhost  %v\ngraph %v", what, got.Indices, want.indices)
				}
				if !slices.Equal(got.Clustered, want.clustered) || !slices.Equal(got.Assign, want.assign) {
					t.Errorf("%s: clustered rows or clusters differ:\nhost  %v %v\ngraph %v %v", what, got.Clustered, got.Assign, want.clustered, want.assign)
				}
				gotD := []float32{got.Inertia, got.MeanPAbsPicked, got.MeanPAbsAll}
				wantD := []float32{want.inertia, want.meanPicked, want.meanAll}
				if !slices.EqualFunc(gotD, wantD, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) }) ||
					got.EmptyClusters != want.empty {
					t.Errorf("%s: diagnostics host %v %d, graph %v %d", what, gotD, got.EmptyClusters, wantD, want.empty)
				}
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

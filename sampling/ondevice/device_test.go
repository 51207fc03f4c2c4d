package ondevice

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/oodlab/dos/internal/testutil"
	"github.com/oodlab/dos/models/backend"
	"github.com/oodlab/dos/sampling"
)

// TestDeviceMatchesGo is a device check (benchmarks/gpu/device_checks.sh runs it on the GPU):
// with GOMLX_BACKEND naming an XLA backend, it runs the K-means and the DOS selection at the
// official shape (k = 64, 384 x 342 post-ReLU unit features, 5 restarts) on that backend and on
// the pure-Go one, with the same inputs and uniforms, and reports how far they agree: the inertia,
// the initial centres, the assignments and the picked candidates. XLA on NVIDIA GPUs may run
// float32 matrix products in TF32 (10-bit mantissa), which the pure-Go backend and scikit-learn
// never do; this measures what that changes. It asserts the inertia within 1% (the tolerance of
// the scikit-learn comparison) and logs the rest. Without an XLA backend it has nothing to
// compare with and skips.
func TestDeviceMatchesGo(t *testing.T) {
	dev, info, named, err := backend.EnvXLA()
	if !named {
		t.Skipf("%s does not name an XLA backend: nothing to compare the pure-Go backend with", backend.EnvVar)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Finalize()
	t.Logf("device: %s", info)
	goBe := testutil.GoBackend(t)

	const n, d, k, outputs = 384, 342, 64, 101
	x := readF32(t, "relu_384x342", n, d)
	cfg := sampling.DefaultKMeansConfig(k)
	km := [2]*Exec{newKMeansExec(t, goBe, cfg), newKMeansExec(t, dev, cfg)}
	dcfg := sampling.DefaultDOSConfig(n, k)
	var sel [2]*Exec
	for i, be := range []backends.Backend{goBe, dev} {
		if sel[i], err = NewExec(be, func(l, f, u *Node) *Node { return SelectDOS(l, f, u, dcfg).Indices }); err != nil {
			t.Fatal(err)
		}
		defer sel[i].Finalize()
	}
	defer km[0].Finalize()
	defer km[1].Finalize()
	rng := rand.New(rand.NewPCG(3, 4))
	logits := make([]float32, n*outputs)
	for i := range logits {
		logits[i] = float32(rng.NormFloat64())
	}
	var worst float64
	for seed := range uint64(5) {
		r := [2]kmeansRun{runKMeans(t, km[0], cfg, x, n, d, seed), runKMeans(t, km[1], cfg, x, n, d, seed)}
		rel := math.Abs(float64(r[1].inertia)-float64(r[0].inertia)) / float64(r[0].inertia)
		worst = max(worst, rel)
		sameLabel := 0
		for i := range r[0].assign {
			if r[0].assign[i] == r[1].assign[i] {
				sameLabel++
			}
		}
		u := dcfg.HostUniforms(rand.New(rand.NewPCG(seed, 8)))
		var picks [2]map[int32]bool
		for i := range 2 {
			out, err := sel[i].Exec(tensors.FromFlatDataAndDimensions(logits, n, outputs), tensors.FromFlatDataAndDimensions(x, n, d),
				tensors.FromFlatDataAndDimensions(u, len(u)))
			if err != nil {
				t.Fatal(err)
			}
			picks[i] = map[int32]bool{}
			for _, p := range tensors.MustCopyFlatData[int32](out[0]) {
				picks[i][p] = true
			}
		}
		common := 0
		for p := range picks[0] {
			if picks[1][p] {
				common++
			}
		}
		t.Logf("seed %d: inertia go %.6f, device %.6f (relative difference %.2e); same cluster for %d/%d points; "+
			"changed iterations %d / %d; DOS picks in common %d/%d",
			seed, r[0].inertia, r[1].inertia, rel, sameLabel, n, r[0].changedIters, r[1].changedIters, common, len(picks[0]))
	}
	if worst > 0.01 {
		t.Errorf("device inertia differs from the pure-Go backend's by up to %.2f%%, want <= 1%%", 100*worst)
	}
}

package train

import (
	stdctx "context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/sampling"
)

// TestProbeRecordsEveryOutlierMethod: every method that trains on outliers records the
// diversity and its own uncertainty of them in each epoch's record (p_abs with the absent class,
// else after its test score), and a method without outliers records neither.
func TestProbeRecordsEveryOutlierMethod(t *testing.T) {
	for _, method := range config.MethodNames() {
		t.Run(method, func(t *testing.T) {
			run := tinyRun(t, method)
			run.Epochs = 2
			run.Optim.Milestones = nil
			tr := newTinyTrainer(t, run, t.TempDir())
			if _, err := tr.Run(stdctx.Background()); err != nil {
				t.Fatal(err)
			}
			var want string
			switch {
			case run.Method.Sampler == config.SamplerNone:
			case run.Method.Outputs == config.OutputsAbsent:
				want = store.UncertaintyPAbs
			case run.Method.Score == config.ScoreEnergy:
				want = store.UncertaintyEnergy
			case run.Method.Score == config.ScoreMSP:
				want = store.UncertaintyMSP
			default:
				t.Fatalf("no expected uncertainty for score %q", run.Method.Score)
			}
			for _, rec := range readRecords(t, tr.Settings.Dir.Path) {
				var probeKeys []string
				for k := range rec.Diagnostics {
					if strings.HasPrefix(k, "outliers/") {
						probeKeys = append(probeKeys, k)
					}
				}
				if want == "" {
					if len(probeKeys) > 0 {
						t.Fatalf("epoch %d: a method without outliers records %v", rec.Epoch, probeKeys)
					}
					continue
				}
				div, ok := rec.Diagnostics[store.DiagDiversity]
				if !ok || !(div > 0) {
					t.Errorf("epoch %d: diversity %v (recorded %v), want > 0", rec.Epoch, div, ok)
				}
				unc, ok1 := rec.Diagnostics[store.DiagUncertaintyPrefix+want]
				ref, ok2 := rec.Diagnostics[store.DiagReferenceUncertaintyPrefix+want]
				if !ok1 || !ok2 || len(probeKeys) != 3 {
					t.Fatalf("epoch %d: probe diagnostics %v, want diversity and %s of the outliers and of the sample", rec.Epoch, probeKeys, want)
				}
				if want != store.UncertaintyEnergy && !(unc >= 0 && unc <= 1 && ref >= 0 && ref <= 1) {
					t.Errorf("epoch %d: %s %v and %v, want probabilities", rec.Epoch, want, unc, ref)
				}
			}
		})
	}
}

// TestProbeSeesDOSPicks: probed at every iteration of a run without augmentation (so the test
// transform the probe scores with is the training one), the probe's mean p_abs of the outliers
// equals the step's own mean p_abs of its picks (sampling.DiagPAbsPicks, averaged over the same
// iterations): the probe measures exactly the outliers DOS picked.
func TestProbeSeesDOSPicks(t *testing.T) {
	for _, method := range []string{"dos", "dos-dual"} {
		t.Run(method, func(t *testing.T) {
			run := tinyRun(t, method)
			run.Epochs = 2
			run.Optim.Milestones = nil
			run.Benchmark.Augment = config.AugmentNone
			tr := newTinyTrainer(t, run, t.TempDir())
			tr.Settings.Measures.Probes = 1 << 20
			if _, err := tr.Run(stdctx.Background()); err != nil {
				t.Fatal(err)
			}
			for _, rec := range readRecords(t, tr.Settings.Dir.Path) {
				probe := rec.Diagnostics[store.DiagUncertaintyPrefix+store.UncertaintyPAbs]
				step := rec.Diagnostics[sampling.DiagPAbsPicks]
				if math.Abs(probe-step) > 1e-6 || step == 0 {
					t.Errorf("epoch %d: the probe's mean p_abs of the outliers is %.9f, the step's of its picks %.9f", rec.Epoch, probe, step)
				}
			}
		})
	}
}

// TestProbeSeesGreedyPicks: probed once per epoch, at its first iteration, before any step
// changed the model that scored the pool, NTOM's outliers are the least uncertain of the pool, so
// their mean p_abs is below that of the probe's uniform sample.
func TestProbeSeesGreedyPicks(t *testing.T) {
	run := tinyRun(t, "ntom")
	run.Epochs = 2
	run.Optim.Milestones = nil
	tr := newTinyTrainer(t, run, t.TempDir())
	tr.Settings.Measures.Probes = 1
	if _, err := tr.Run(stdctx.Background()); err != nil {
		t.Fatal(err)
	}
	for _, rec := range readRecords(t, tr.Settings.Dir.Path) {
		picks := rec.Diagnostics[store.DiagUncertaintyPrefix+store.UncertaintyPAbs]
		pool := rec.Diagnostics[store.DiagReferenceUncertaintyPrefix+store.UncertaintyPAbs]
		if !(picks < pool) {
			t.Errorf("epoch %d: NTOM's outliers have mean p_abs %.6f, the uniform sample %.6f: want lower", rec.Epoch, picks, pool)
		}
	}
}

// TestProbeOff: a negative Probes records nothing, and training is the same as with the probe.
func TestProbeOff(t *testing.T) {
	run := tinyRun(t, "share")
	run.Epochs = 2
	run.Optim.Milestones = nil
	on := newTinyTrainer(t, run, t.TempDir())
	off := newTinyTrainer(t, run, t.TempDir())
	off.Settings.Measures.Probes = -1
	for _, tr := range []*Trainer{on, off} {
		if _, err := tr.Run(stdctx.Background()); err != nil {
			t.Fatal(err)
		}
	}
	a, b := readRecords(t, on.Settings.Dir.Path), readRecords(t, off.Settings.Dir.Path)
	for i := range a {
		if a[i].Loss != b[i].Loss {
			t.Errorf("epoch %d: loss %v with the probe, %v without", a[i].Epoch, a[i].Loss, b[i].Loss)
		}
		if _, ok := b[i].Diagnostics[store.DiagDiversity]; ok {
			t.Errorf("epoch %d: diversity recorded with the probe off", b[i].Epoch)
		}
	}
}

func TestProbeDue(t *testing.T) {
	tr := &Trainer{Sampler: &sampling.Random{}}
	for _, c := range []struct {
		probes, iters int
		want          []int
	}{
		{0, 94, []int{0, 23, 47, 70}},
		{4, 94, []int{0, 23, 47, 70}},
		{3, 10, []int{0, 3, 6}},
		{5, 3, []int{0, 1, 2}},
		{-1, 10, nil},
	} {
		tr.Settings.Measures.Probes = c.probes
		var got []int
		for i := range c.iters {
			if tr.probeDue(i, c.iters) {
				got = append(got, i)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Probes %d over %d iterations: %v, want %v", c.probes, c.iters, got, c.want)
		}
	}
}

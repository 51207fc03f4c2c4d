package sampling

import (
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Every option of the DOS block that the ablations sweep is checked against its valid range,
// and each rejection names the field and says what was expected and what was found.
func TestDOSOptionsRanges(t *testing.T) {
	withK := RunShape{OODBatch: 64}                         // the paper's network: K+1 outputs
	withoutK := RunShape{OODBatch: 64, NoAbsentClass: true} // K outputs (dos-energy)
	for _, tc := range []struct {
		name   string
		set    func(o *DOSOptions)
		shape  RunShape
		field  string
		inText []string
	}{
		{"candidates below the OOD batch", func(o *DOSOptions) { o.Candidates = 63 }, withK, "candidates", []string{">= batch.ood 64", "63"}},
		{"candidates above the capped pool", func(o *DOSOptions) { o.Candidates = 512 }, RunShape{OODBatch: 64, MaxPool: 500},
			"candidates", []string{"<= caps.max_pool 500", "512"}},
		{"negative clusters", func(o *DOSOptions) { o.Clusters = -1 }, withK, "clusters", []string{">= 0", "-1"}},
		{"more clusters than candidates", func(o *DOSOptions) { o.Clusters = 385 }, withK, "clusters", []string{"<= the 384 candidates", "385"}},
		{"more clusters than kept candidates", func(o *DOSOptions) { o.Clusters, o.KeepRatio = 320, 0.8 }, withK,
			"clusters", []string{"<= the 307 candidates", "320"}},
		{"unknown pick rule", func(o *DOSOptions) { o.Pick = "first" }, withK, "pick", []string{"min-pabs, nearest, random", `"first"`}},
		{"unknown uncertainty", func(o *DOSOptions) { o.Uncertainty = "entropy" }, withK, "uncertainty",
			[]string{"absent, energy, maxlogit, msp", `"entropy"`}},
		{"p_absent without the absent class", func(o *DOSOptions) {}, withoutK, "uncertainty", []string{"absent class", "K+1"}},
		{"energy with the absent class", func(o *DOSOptions) { o.Uncertainty = UncertaintyEnergy }, withK, "uncertainty",
			[]string{"want absent", `"energy"`}},
		{"keep ratio zero", func(o *DOSOptions) { o.KeepRatio = 0 }, withK, "keep_ratio", []string{"(0, 1]", "0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultDOSOptions()
			tc.set(o)
			ps := o.Check(tc.shape)
			i := slices.IndexFunc(ps, func(p Problem) bool { return p.Field == tc.field })
			if i < 0 {
				t.Fatalf("no problem reported for %s: %v", tc.field, ps)
			}
			for _, s := range tc.inText {
				if !strings.Contains(ps[i].Message, s) {
					t.Errorf("%s: message %q does not say %q", tc.field, ps[i].Message, s)
				}
			}
		})
	}
	// The values the ablations grid uses pass, with and without the absent class.
	for _, set := range []func(o *DOSOptions){
		func(o *DOSOptions) { o.Normalize = false },
		func(o *DOSOptions) { o.Clusters = 16 },
		func(o *DOSOptions) { o.Clusters = 128 },
		func(o *DOSOptions) { o.Candidates = 128 },
		func(o *DOSOptions) { o.Candidates = 256 },
		func(o *DOSOptions) { o.Pick = PickNearest },
		func(o *DOSOptions) { o.Pick = PickRandom },
	} {
		for _, shape := range []RunShape{withK, withoutK} {
			o := DefaultDOSOptions()
			set(o)
			if shape.NoAbsentClass {
				o.Uncertainty = UncertaintyEnergy
			}
			if ps := o.Check(shape); len(ps) > 0 {
				t.Errorf("%+v: %v", *o, ps)
			}
		}
	}
	for _, u := range []string{UncertaintyEnergy, UncertaintyMaxLogit, UncertaintyMSP} {
		o := DefaultDOSOptions()
		o.Uncertainty = u
		if ps := o.Check(withoutK); len(ps) > 0 {
			t.Errorf("uncertainty %s on K outputs: %v", u, ps)
		}
	}
}

// The options reach the selection's configuration, and DOSConfig.Validate refuses what the
// graph cannot do.
func TestDOSOptionsConfig(t *testing.T) {
	o := DefaultDOSOptions()
	o.Pick, o.Uncertainty, o.Normalize, o.Clusters = PickRandom, UncertaintyMaxLogit, false, 16
	c := o.Config(64)
	if !c.PickRandom || c.PickNearest || c.Uncertainty != UncertaintyMaxLogit || !c.RawFeatures || c.K() != 16 || c.PerCluster() != 4 {
		t.Errorf("config %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	if d := DefaultDOSConfig(384, 64); d.UncertaintyKind() != UncertaintyAbsent || d.Validate() != nil {
		t.Errorf("the zero Uncertainty must mean p_abs: %q", d.UncertaintyKind())
	}
	bad := DefaultDOSConfig(384, 64)
	bad.PickNearest, bad.PickRandom = true, true
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "PickRandom") {
		t.Errorf("both pick rules: %v", err)
	}
	bad = DefaultDOSConfig(384, 64)
	bad.Uncertainty = "entropy"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "Uncertainty") {
		t.Errorf("unknown uncertainty: %v", err)
	}
}

// config.yaml leaves uncertainty out at its default (so runs that keep p_absent keep their ID)
// and writes it otherwise; either reads back as the same block.
func TestDOSOptionsYAML(t *testing.T) {
	for _, u := range Uncertainties() {
		o := DefaultDOSOptions()
		o.Uncertainty = u
		out, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		if has := strings.Contains(string(out), "uncertainty:"); has != (u != UncertaintyAbsent) {
			t.Errorf("uncertainty %s: written %v:\n%s", u, has, out)
		}
		back := DefaultDOSOptions()
		if err := yaml.Unmarshal(out, back); err != nil {
			t.Fatal(err)
		}
		if *back != *o {
			t.Errorf("round trip of %+v gave %+v", *o, *back)
		}
	}
}

// The selection's diagnostics name the uncertainty they average: p_abs keeps its names, the
// others get their own, so that no plot mixes them.
func TestDOSDiagnosticNames(t *testing.T) {
	for u, want := range map[string][]string{
		UncertaintyAbsent: {DiagInertia, DiagEmptyClusters, DiagPAbsPicks, DiagPAbsAll},
		UncertaintyEnergy: {DiagInertia, DiagEmptyClusters, "energy_picks", "energy_all"},
		UncertaintyMSP:    {DiagInertia, DiagEmptyClusters, "msp_picks", "msp_all"},
	} {
		o := DefaultDOSOptions()
		o.Uncertainty = u
		d, err := NewDOS(Env{Seed: 1, PoolSize: 1000, OODBatch: 64}, o)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Diagnostics(); !slices.Equal(got, want) {
			t.Errorf("%s: diagnostics %v, want %v", u, got, want)
		}
	}
}

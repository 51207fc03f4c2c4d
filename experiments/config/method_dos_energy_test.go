package config

import (
	"strings"
	"testing"

	"github.com/oodlab/dos/sampling"
)

// The ablation options of method.dos, outside their valid range, are errors naming the file and
// the field; the values the ablations grid sweeps are valid for dos and dos-energy.
func TestDOSAblationOptionErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, field, says string }{
		{"method: {name: dos, dos: {normalize: 2}}", "method.dos.normalize", "want true or false"},
		{"method: {name: dos, dos: {normalize: maybe}}", "method.dos.normalize", "want true or false"},
		{"method: {name: dos, dos: {clusters: -4}}", "method.dos.clusters", "want >= 0"},
		{"method: {name: dos, dos: {clusters: 400}}", "method.dos.clusters", "384 candidates"},
		{"method: {name: dos, dos: {clusters: 2.5}}", "clusters", "2.5"},
		{"method: {name: dos, dos: {candidates: 48}}", "method.dos.candidates", ">= batch.ood 64"},
		{"method: {name: dos, dos: {candidates: 2000}}\ncaps: {max_pool: 1000}", "method.dos.candidates", "caps.max_pool 1000"},
		{"method: {name: dos, dos: {pick: first}}", "method.dos.pick", "random"},
		{"method: {name: dos, dos: {uncertainty: entropy}}", "method.dos.uncertainty", "maxlogit"},
		{"method: {name: dos, dos: {uncertainty: energy}}", "method.dos.uncertainty", "K+1"},
		{"method: {name: dos-energy, dos: {uncertainty: absent}}", "method.dos.uncertainty", "absent class"},
		{"method: {name: dos, outputs: K, loss: energy, score: energy}", "method.dos.uncertainty", "absent class"},
	} {
		_, err := Parse("x.yaml", []byte(tc.yaml))
		if err == nil {
			t.Errorf("no error for %q", tc.yaml)
			continue
		}
		for _, s := range []string{"x.yaml", tc.field, tc.says} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%q: error %q does not say %q", tc.yaml, err, s)
			}
		}
	}
	for _, m := range []string{"dos", "dos-energy"} {
		for _, block := range []string{"{}", "{normalize: false}", "{clusters: 16}", "{clusters: 32}", "{clusters: 128}",
			"{candidates: 128}", "{candidates: 256}", "{pick: nearest}", "{pick: random}"} {
			if _, err := Parse("x.yaml", []byte("method: {name: "+m+", dos: "+block+"}")); err != nil {
				t.Errorf("%s with %s: %v", m, block, err)
			}
		}
	}
}

// uncertainty is left out of config.yaml at its default: writing it explicitly gives the run
// it was before the option existed (the pinned default DOS ID), and dos-energy's block reads
// back with its energy uncertainty.
func TestDOSUncertaintyKeepsIDs(t *testing.T) {
	r, err := Parse("x.yaml", []byte("method: {name: dos, dos: {uncertainty: absent}}"))
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := r.ID(); id != goldenDOSID {
		t.Errorf("dos with uncertainty: absent has ID %s, the default DOS run %s", id, goldenDOSID)
	}
	c, _ := r.Canonical()
	if strings.Contains(string(c), "uncertainty") {
		t.Errorf("config.yaml writes the default uncertainty:\n%s", c)
	}
	e, err := Defaults("dos-energy")
	if err != nil {
		t.Fatal(err)
	}
	c, _ = e.Canonical()
	if !strings.Contains(string(c), "uncertainty: energy") {
		t.Errorf("dos-energy's config.yaml does not say uncertainty: energy:\n%s", c)
	}
	back, err := Parse("config.yaml", c)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Method.Samplers["dos"].(*sampling.DOSOptions).Uncertainty; got != sampling.UncertaintyEnergy {
		t.Errorf("dos-energy reads back with uncertainty %q", got)
	}
	if back.Method.Energy == nil || back.Method.Energy.MIn != DefaultMIn || back.Method.Energy.MOut != DefaultMOut {
		t.Errorf("dos-energy margins %+v, want %v/%v", back.Method.Energy, DefaultMIn, DefaultMOut)
	}
}

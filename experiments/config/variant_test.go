package config

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestSweepRunNames: a grid that sweeps values other than method and seed gives runs whose
// names show the swept values (not only a different ID), in a filesystem-safe form.
func TestSweepRunNames(t *testing.T) {
	text := `name: sweep
base: {network: mlp, epochs: 4, optim: {milestones: [2]}}
axes:
  method: [msp, dos]
  seed: [3]
  optim.lr: [0.02, 0.1]
  method.dos.n_init: [3, 5]
`
	runs := expandText(t, "sweep.yaml", text)
	var got []string
	idRE := regexp.MustCompile(`-[0-9a-f]{12}$`)
	for _, r := range runs {
		name, err := r.Name()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := r.ID()
		if !strings.HasSuffix(name, "-"+id) {
			t.Errorf("name %s does not end with the ID %s", name, id)
		}
		got = append(got, idRE.ReplaceAllString(name, ""))
	}
	// msp has no DOS block: its n_init values are one run, and its name does not show n_init.
	want := []string{"msp-s3-lr0.02", "msp-s3-lr0.1", "dos-s3-lr0.02-n_init3", "dos-s3-lr0.02-n_init5", "dos-s3-lr0.1-n_init3", "dos-s3-lr0.1-n_init5"}
	if !slices.Equal(got, want) {
		t.Errorf("run names without ID %v, want %v", got, want)
	}
	if l := runs[2].VariantLabel(); l != "lr=0.02, n_init=3" {
		t.Errorf("VariantLabel = %q, want %q", l, "lr=0.02, n_init=3")
	}
	if l := runs[0].VariantLabel(); l != "lr=0.02" {
		t.Errorf("msp VariantLabel = %q, want lr=0.02", l)
	}
	// The variant names the run; it is not part of its configuration.
	c, _ := runs[2].Canonical()
	back, err := Parse("config.yaml", c)
	if err != nil {
		t.Fatal(err)
	}
	if id1, _ := runs[2].ID(); func() string { id2, _ := back.ID(); return id2 }() != id1 {
		t.Error("the variant changed the ID")
	}
	if cl := runs[2].Clone(); cl.VariantLabel() != runs[2].VariantLabel() {
		t.Error("Clone lost the variant")
	}
}

// TestSweepNamesSafe: values that are lists, strings with characters a file name should not
// hold, and keys that share their last component still give distinct, safe names.
func TestSweepNamesSafe(t *testing.T) {
	text := `name: sweep
base: {network: mlp, epochs: 4, optim: {milestones: [2]}, method: {name: oe}}
axes:
  benchmark.tests: [[svhn, lsun-c], ["mnist@8"]]
  init: ["", "/w/a b.pth"]
  batch.id: [32]
  benchmark.id: [cifar10]
  optim.schedule: [multistep, cosine]
`
	runs := expandText(t, "sweep.yaml", text)
	if len(runs) != 8 {
		t.Fatalf("%d runs, want 8", len(runs))
	}
	safe := regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	seen := map[string]bool{}
	for _, r := range runs {
		name, _ := r.Name()
		if !safe.MatchString(name) || len(name) > 200 {
			t.Errorf("run name %q is not filesystem-safe", name)
		}
		stem := regexp.MustCompile(`-[0-9a-f]{12}$`).ReplaceAllString(name, "")
		if seen[stem] {
			t.Errorf("two runs named %s", stem)
		}
		seen[stem] = true
	}
	name, _ := runs[0].Name()
	for _, part := range []string{"oe-s3-", "tests_svhn_lsun-c", "init_empty", "batch.id32", "benchmark.id_cifar10", "schedule_multistep"} {
		if !strings.Contains(name, part) {
			t.Errorf("run name %s lacks %q", name, part)
		}
	}
	if l := runs[0].VariantLabel(); !strings.Contains(l, "tests=svhn,lsun-c") || !strings.Contains(l, "batch.id=32") || !strings.Contains(l, `init=""`) {
		t.Errorf("VariantLabel = %q", l)
	}
	// A cosine schedule drops the milestones: an axis over them does not show in cosine runs.
	runs = expandText(t, "s.yaml", "name: s\nbase: {network: mlp, epochs: 4, method: {name: msp}}\naxes:\n  optim.schedule: [cosine]\n  optim.milestones: [[2], [3]]\n")
	if len(runs) != 1 || runs[0].VariantLabel() != "schedule=cosine" {
		t.Errorf("cosine runs %d, variant %q", len(runs), runs[0].VariantLabel())
	}
	// The backend is not part of a run's identity: it never shows in its name.
	runs = expandText(t, "s.yaml", "name: s\nbase: {network: mlp, epochs: 4, optim: {milestones: [2]}, method: {name: msp}}\naxes:\n  backend: [go, xla]\n")
	if len(runs) != 1 || len(runs[0].Variant) != 0 {
		t.Errorf("backend axis: %d runs, variant %v", len(runs), runs[0].Variant)
	}
}

// expandText parses the grid text (named file in messages) and expands all its runs.
func expandText(t *testing.T, file, text string) []*Run {
	t.Helper()
	g, err := ParseGrid(file, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := g.Expand(nil)
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

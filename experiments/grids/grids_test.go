package grids

import (
	"testing"

	"github.com/oodlab/dos/experiments/config"
)

// TestEmbeddedGrids expands every embedded grid and checks run counts.
func TestEmbeddedGrids(t *testing.T) {
	want := map[string]int{"cifar100-ti300k": 21, "cifar10-ti300k": 21, "imagenet1k": 7, "quick": 7}
	names := Names()
	if len(names) != len(want) {
		t.Errorf("Names() = %v, want the %d grids %v", names, len(want), want)
	}
	for _, name := range names {
		g, err := Load(name)
		if err != nil {
			t.Fatalf("Load(%q): %v", name, err)
		}
		if g.Name != name {
			t.Errorf("grid file %s.yaml has name %q", name, g.Name)
		}
		runs, err := g.Expand(nil)
		if err != nil {
			t.Fatalf("%s: Expand: %v", name, err)
		}
		if len(runs) != want[name] {
			t.Errorf("%s: %d runs, want %d", name, len(runs), want[name])
		}
		ids := map[string]bool{}
		for _, r := range runs {
			id, err := r.ID()
			if err != nil {
				t.Fatal(err)
			}
			if ids[id] {
				t.Errorf("%s: duplicate run ID %s", name, id)
			}
			ids[id] = true
		}
	}
}

// TestOnlyFilter selects runs of the paper grid with --only.
func TestOnlyFilter(t *testing.T) {
	g, err := Load("cifar100-ti300k")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		only string
		want int
	}{
		{"", 21},
		{"method=dos", 3},
		{"method=dos,seed=3", 1},
		{"method=dos,method=oe,seed=42", 2},
		{"seed=14", 7},
		{"method.sampler=random", 9}, // oe, energy, share
		{"method.dos.n_init=5", 3},
		{"optim.weight_decay=0.0001", 21},
		{"seed=7", 0},
	} {
		f, err := config.ParseFilter(tc.only)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", tc.only, err)
		}
		runs, err := g.Expand(f)
		if err != nil {
			t.Fatalf("Expand(%q): %v", tc.only, err)
		}
		if len(runs) != tc.want {
			t.Errorf("--only %q: %d runs, want %d", tc.only, len(runs), tc.want)
		}
	}
	if _, err := config.ParseFilter("metod=dos"); err == nil {
		t.Error("ParseFilter accepted unknown key metod")
	}
	if _, err := config.ParseFilter("method"); err == nil {
		t.Error("ParseFilter accepted a key without value")
	}
}

package grids

import (
	"fmt"
	"maps"
	"regexp"
	"strings"
	"testing"

	"github.com/oodlab/dos/experiments/config"
)

// TestEmbeddedGrids expands every embedded grid and checks run counts.
func TestEmbeddedGrids(t *testing.T) {
	want := map[string]int{"cifar100-ti300k": 21, "cifar100-ti300k-ablations": 54, "cifar10-ti300k": 21, "imagenet1k": 7, "imagenet10": 21, "quick": 21}
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

// TestConfigRoundTrip checks that every run of every embedded grid survives its config.yaml:
// Parse(Canonical(r)) has the same canonical form, byte for byte, and the same ID (a resumed
// run and the report read config.yaml back).
func TestConfigRoundTrip(t *testing.T) {
	for _, name := range Names() {
		for _, r := range gridRuns(t, name, "") {
			c, err := r.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			back, err := config.Parse("config.yaml", c)
			if err != nil {
				t.Errorf("%s: %s seed %d: config.yaml does not read back: %v", name, r.Method.Name, r.Seed, err)
				continue
			}
			if c2, _ := back.Canonical(); string(c2) != string(c) {
				t.Errorf("%s: %s seed %d: the round trip changed config.yaml:\n%s\nvs\n%s", name, r.Method.Name, r.Seed, c, c2)
			}
			id, _ := r.ID()
			if id2, _ := back.ID(); id2 != id {
				t.Errorf("%s: %s seed %d: the round trip changed the ID %s to %s", name, r.Method.Name, r.Seed, id, id2)
			}
		}
	}
}

// sweeps lists the embedded grids that sweep more than method and seed (their run names show
// the swept values); the others keep <method>-s<seed>-<id>.
var sweeps = map[string]bool{"cifar100-ti300k-ablations": true}

// TestRunNames: the paper's grids sweep only method and seed, so their run names stay
// <method>-s<seed>-<id> (existing run stores keep their directories).
func TestRunNames(t *testing.T) {
	re := regexp.MustCompile(`^[a-z-]+-s[0-9]+-[0-9a-f]{12}$`)
	for _, name := range Names() {
		if sweeps[name] {
			continue // TestAblationsGrid
		}
		for _, r := range gridRuns(t, name, "") {
			n, err := r.Name()
			if err != nil {
				t.Fatal(err)
			}
			if !re.MatchString(n) || len(r.Variant) != 0 {
				t.Errorf("%s: run name %s (variant %v), want <method>-s<seed>-<id>", name, n, r.Variant)
			}
		}
	}
}

// TestQuickGridSeeds: the quick grid runs every method with seeds 3, 14 and 42, and its seed-3
// runs are those of the same grid with seed 3 alone (same IDs, so the single-seed grid's runs in
// a store count as done): adding seeds only adds runs.
func TestQuickGridSeeds(t *testing.T) {
	file, data, err := Read("quick")
	if err != nil {
		t.Fatal(err)
	}
	g, err := config.ParseGrid(file, data)
	if err != nil {
		t.Fatal(err)
	}
	one := strings.Replace(string(data), "seed: [3, 14, 42]", "seed: [3]", 1)
	if one == string(data) {
		t.Fatalf("%s: no axis `seed: [3, 14, 42]`", file)
	}
	g1, err := config.ParseGrid(file, []byte(one))
	if err != nil {
		t.Fatal(err)
	}
	ids := func(g *config.Grid, seed uint64) map[string]string {
		runs, err := g.Expand(nil)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, r := range runs {
			if r.Seed == seed {
				id, err := r.ID()
				if err != nil {
					t.Fatal(err)
				}
				out[r.Method.Name] = id
			}
		}
		return out
	}
	for _, seed := range []uint64{3, 14, 42} {
		if n := len(ids(g, seed)); n != 7 {
			t.Errorf("seed %d: %d methods, want 7", seed, n)
		}
	}
	if three, single := ids(g, 3), ids(g1, 3); !maps.Equal(three, single) {
		t.Errorf("seed-3 run IDs %v, the single-seed grid's %v", three, single)
	}
}

// TestAblationsGrid: each run of cifar100-ti300k-ablations changes at most one part of DOS, its
// name shows that part and its value, and the row without a setting is the paper's: the dos
// runs are those of cifar100-ti300k (same IDs), the dos-energy runs differ from them only in
// the objective and the uncertainty that picks.
func TestAblationsGrid(t *testing.T) {
	runs := gridRuns(t, "cifar100-ti300k-ablations", "")
	paper := gridRuns(t, "cifar100-ti300k", "method=dos")
	paperIDs := map[string]bool{}
	for _, r := range paper {
		id, _ := r.ID()
		paperIDs[id] = true
	}
	settings := map[string]int{}
	defaults := map[string]int{}
	for _, r := range runs {
		n, err := r.Name()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := r.ID()
		if len(r.Variant) > 1 {
			t.Errorf("%s changes %d parts of DOS: %v", n, len(r.Variant), r.Variant)
		}
		if len(r.Variant) == 0 {
			defaults[r.Method.Name]++
			if want := regexp.MustCompile(`^(dos|dos-energy)-s[0-9]+-[0-9a-f]{12}$`); !want.MatchString(n) {
				t.Errorf("default run named %s", n)
			}
			if r.Method.Name == "dos" && !paperIDs[id] {
				t.Errorf("%s: not a run of cifar100-ti300k", n)
			}
			continue
		}
		s := r.Variant[0]
		settings[s.Key+"="+s.Value]++
		tag := s.Key[strings.LastIndex(s.Key, ".")+1:] + s.Value // clusters16
		if s.Value[0] < '0' || s.Value[0] > '9' {
			tag = s.Key[strings.LastIndex(s.Key, ".")+1:] + "_" + s.Value // pick_random
		}
		if !strings.Contains(n, "-s"+fmt.Sprint(r.Seed)+"-"+tag+"-") {
			t.Errorf("run name %s does not show %s=%s as %s", n, s.Key, s.Value, tag)
		}
		if r.Method.Name == "dos" && paperIDs[id] {
			t.Errorf("%s: an ablation with the paper's ID", n)
		}
	}
	if defaults["dos"] != 3 || defaults["dos-energy"] != 3 {
		t.Errorf("runs without a setting: %v, want 3 of dos and of dos-energy", defaults)
	}
	want := []string{"method.dos.normalize=false", "method.dos.clusters=16", "method.dos.clusters=32", "method.dos.clusters=128",
		"method.dos.candidates=128", "method.dos.candidates=256", "method.dos.pick=nearest", "method.dos.pick=random"}
	for _, w := range want {
		if settings[w] != 6 {
			t.Errorf("%s: %d runs, want 6 (2 methods x 3 seeds)", w, settings[w])
		}
	}
	if len(settings) != len(want) {
		t.Errorf("settings %v, want %v", settings, want)
	}
}

// gridRuns returns the runs of the embedded grid name that match filter ("" for all).
func gridRuns(t *testing.T, name, filter string) []*config.Run {
	t.Helper()
	g, err := Load(name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := config.ParseFilter(filter)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := g.Expand(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return runs
}

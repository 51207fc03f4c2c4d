package config

import (
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// checkRoundTrip checks that config.yaml of r reads back as the same run: the same canonical
// form, byte for byte, and the same ID.
func checkRoundTrip(t *testing.T, what string, r *Run) {
	t.Helper()
	c, err := r.Canonical()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	back, err := Parse("config.yaml", c)
	if err != nil {
		t.Errorf("%s: config.yaml does not read back: %v\n%s", what, err, c)
		return
	}
	c2, err := back.Canonical()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if string(c2) != string(c) {
		t.Errorf("%s: the round trip changed config.yaml:\n%s\nread back as\n%s", what, c, c2)
	}
	id, _ := r.ID()
	if id2, _ := back.ID(); id2 != id {
		t.Errorf("%s: the round trip changed the ID from %s to %s", what, id, id2)
	}
}

// zeroNode is the YAML of the zero value of type t: [], "", 0 or false.
func zeroNode(t reflect.Type) *yaml.Node {
	switch t.Kind() {
	case reflect.Slice:
		return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
	case reflect.String:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "", Style: yaml.DoubleQuotedStyle}
	case reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false"}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "0"}
}

// TestRoundTripZeroValues sets each field of each method's run, one at a time, to its zero value
// (an empty list, "", 0, false; the samplers' options blocks included) and checks that every
// such run that is valid survives config.yaml: Parse(Canonical(r)) has the same canonical form
// and ID.
func TestRoundTripZeroValues(t *testing.T) {
	tested := map[string]bool{}
	for _, m := range MethodNames() {
		d, err := Defaults(m)
		if err != nil {
			t.Fatal(err)
		}
		// A short run, so that milestones and caps may take their zero values too.
		d.Epochs = 4
		d.Optim.Milestones = []int{2, 3}
		checkRoundTrip(t, m, d)
		flat, err := d.Flat()
		if err != nil {
			t.Fatal(err)
		}
		keys := make([]string, 0, len(flat))
		for k := range flat {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, key := range keys {
			if key == "method.name" {
				continue
			}
			ft, err := fieldPath(key)
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			r := d.Clone()
			if err := decodeOnto("zero", nest(key, zeroNode(ft)), r); err != nil {
				t.Fatalf("%s: %s: %v", m, key, err)
			}
			r.Normalize()
			if r.Validate("zero") != nil {
				continue // not a valid run: nothing to write
			}
			tested[key] = true
			checkRoundTrip(t, m+" with "+key+" zero", r)
		}
	}
	// The zero values that make valid runs, of the run, the optimiser and each options block.
	for _, key := range []string{"optim.milestones", "optim.nesterov", "optim.weight_decay", "seed", "init",
		"eval_every", "caps.max_train", "batch.drop_last", "method.dos.trim", "method.dos.clusters", "method.dos.normalize",
		"method.ntom.quantile", "method.ntom.scan", "method.ntom.shuffle"} {
		if !tested[key] {
			t.Errorf("no valid run with %s zero was checked", key)
		}
	}
}

// TestRoundTripZeroGrid reads testdata/zero.yaml, a grid whose base sets every field that may be
// zero to its zero value, for every method, and checks each run's round trip.
func TestRoundTripZeroGrid(t *testing.T) {
	g := loadGrid(t, "testdata/zero.yaml")
	runs, err := g.Expand(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != len(MethodNames()) {
		t.Fatalf("%d runs, want one per method", len(runs))
	}
	for _, r := range runs {
		if r.Optim.Schedule != ScheduleMultistep || len(r.Optim.Milestones) != 0 {
			t.Fatalf("%s: schedule %s milestones %v, want multistep without milestones", r.Method.Name, r.Optim.Schedule, r.Optim.Milestones)
		}
		checkRoundTrip(t, r.Method.Name, r)
		c, _ := r.Canonical()
		if !strings.Contains(string(c), "milestones: []") {
			t.Errorf("%s: config.yaml does not say that there are no milestones:\n%s", r.Method.Name, c)
		}
	}
	// A cosine schedule drops milestones and gamma: config.yaml leaves them out, as before.
	r, err := Parse("x.yaml", []byte("method: {name: dos}\nepochs: 10\noptim: {schedule: cosine, milestones: []}\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := r.Canonical()
	if strings.Contains(string(c), "milestones") || strings.Contains(string(c), "gamma") {
		t.Errorf("cosine run writes milestones or gamma:\n%s", c)
	}
	checkRoundTrip(t, "cosine", r)
	if !slices.Equal(r.Optim.Milestones, nil) {
		t.Errorf("cosine milestones %v", r.Optim.Milestones)
	}
}

// loadGrid parses the grid file at path.
func loadGrid(t *testing.T, path string) *Grid {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := ParseGrid(path, b)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestKNNK: knn_k is absent from config.yaml at its default (0), so runs that keep it keep
// their IDs; another k round-trips and gives another ID; a negative or decimal k is refused
// with the key named.
func TestKNNK(t *testing.T) {
	d, err := Defaults("dos")
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(c), "knn_k") {
		t.Errorf("default run writes knn_k:\n%s", c)
	}
	id0, _ := d.ID()
	r := d.Clone()
	r.KNNK = 10
	checkRoundTrip(t, "knn_k 10", r)
	if id, _ := r.ID(); id == id0 {
		t.Error("knn_k 10 has the default run's ID")
	}
	base := strings.TrimSpace(string(c))
	for _, tc := range []struct{ value, want string }{
		{"-1", "knn_k: want >= 0, found -1"},
		{"1.5", "knn_k: want an integer, found 1.5"},
	} {
		_, err := Parse("run.yaml", []byte(base+"\nknn_k: "+tc.value+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("knn_k %s: %v, want an error with %q", tc.value, err, tc.want)
		}
	}
}

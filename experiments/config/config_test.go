package config

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/oodlab/dos/sampling"
)

// TestMethodDefaults pins each method's defaults to docs/method.md
// sections 2 to 4 (the official code).
func TestMethodDefaults(t *testing.T) {
	type row struct {
		sampler, loss string
		weight        float64
		outputs       string
		score         string
		perEpoch      int
	}
	want := map[string]row{
		"msp":    {"none", "none", 0, "K", "msp", 0},
		"oe":     {"random", "oe", 0.5, "K", "msp", 50000},
		"energy": {"random", "energy", 0.1, "K", "energy", 50000},
		"ntom":   {"greedy", "absent", 1, "K+1", "absent", 50000},
		"share":  {"random", "absent", 1, "K+1", "absent", 50000},
		"poem":   {"poem", "energy", 0.1, "K", "energy", 50000},
		"dos":    {"dos", "absent", 1, "K+1", "absent", 0},
		// The variants beside the paper's table.
		"dos-dual":      {"dos", "absent", 1, "K+1", "absent", 0},
		"dos-energy":    {"dos", "energy", 0.1, "K", "energy", 0},
		"ntom-original": {"greedy", "absent", 1, "K+1", "absent", 100000},
	}
	if got := MethodNames(); !slices.Equal(got, []string{"msp", "oe", "energy", "ntom", "share", "poem", "dos", "dos-dual", "dos-energy", "ntom-original"}) {
		t.Errorf("MethodNames() = %v", got)
	}
	for name, w := range want {
		r, err := Defaults(name)
		if err != nil {
			t.Fatalf("Defaults(%q): %v", name, err)
		}
		m := r.Method
		got := row{m.Sampler, m.Loss, m.Weight, m.Outputs, m.Score, m.OutliersPerEpoch}
		if got != w {
			t.Errorf("%s: got %+v, want %+v", name, got, w)
		}
		if err := r.Validate(name); err != nil {
			t.Errorf("%s: defaults do not validate: %v", name, err)
		}
		// Blocks present exactly where they apply.
		var blocks []string
		for k := range m.Samplers {
			blocks = append(blocks, k)
		}
		wantBlocks := map[string][]string{"dos": {"dos"}, "dos-dual": {"dos"}, "dos-energy": {"dos"}, "ntom": {"ntom"}, "ntom-original": {"ntom"}, "poem": {"poem"}}[name]
		if (m.Energy != nil) != (m.Loss == "energy") || !slices.Equal(blocks, wantBlocks) {
			t.Errorf("%s: wrong hyperparameter blocks: energy %v, sampler blocks %v want %v", name, m.Energy, blocks, wantBlocks)
		}
		if m.Energy != nil && (m.Energy.MIn != -25 || m.Energy.MOut != -7) {
			t.Errorf("%s: energy margins %+v, want -25/-7", name, *m.Energy)
		}
		if name == "msp" && r.Benchmark.Pool != "" {
			t.Errorf("msp keeps a pool %q; it uses none", r.Benchmark.Pool)
		}
		if name != "msp" && r.Benchmark.Pool != "ti300k" {
			t.Errorf("%s: pool %q, want ti300k", name, r.Benchmark.Pool)
		}
		if w.sampler == "" || strings.Contains(name, "-") {
			continue // the variants change the protocol on purpose: checked below
		}
		// Shared protocol.
		o := r.Optim
		if o.LR != 0.1 || o.Momentum != 0.9 || !o.Nesterov || o.WeightDecay != 1e-4 || o.Schedule != "multistep" ||
			!slices.Equal(o.Milestones, []int{50, 75, 90}) || o.Gamma != 0.1 || r.Epochs != 100 ||
			r.Batch != (Batch{ID: 64, OOD: 64, DropLast: name == "dos"}) || r.Network != "densenet-bc-100" || r.Benchmark.ImageSize != 32 ||
			r.WeightInit != WeightInitOfficial || r.Benchmark.Normalize != NormalizeOfficial {
			t.Errorf("%s: protocol differs from the paper's: %+v epochs %d batch %+v network %s", name, o, r.Epochs, r.Batch, r.Network)
		}
	}
	d, _ := Defaults("dos")
	if got := *d.Method.Samplers["dos"].(*sampling.DOSOptions); got != (sampling.DOSOptions{Candidates: 384, NInit: 5, Iters: 30, Trim: 0,
		EmptyClusters: sampling.EmptyRelocate, Normalize: true, Pick: sampling.PickMinPAbs, KeepRatio: 1, Variant: sampling.VariantDiverse, Uncertainty: sampling.UncertaintyAbsent}) {
		t.Errorf("dos block %+v", got)
	}
	de, _ := Defaults("dos-energy")
	wantDE := *d.Method.Samplers["dos"].(*sampling.DOSOptions)
	wantDE.Uncertainty = sampling.UncertaintyEnergy
	if got := *de.Method.Samplers["dos"].(*sampling.DOSOptions); got != wantDE || !de.Batch.DropLast {
		t.Errorf("dos-energy block %+v, drop_last %v; want dos's block with uncertainty energy", got, de.Batch.DropLast)
	}
	dd, _ := Defaults("dos-dual")
	if got := *dd.Method.Samplers["dos"].(*sampling.DOSOptions); got != (sampling.DOSOptions{Candidates: 384, NInit: 1, Iters: 30, Trim: 0,
		EmptyClusters: sampling.EmptyRelocate, Normalize: false, Pick: sampling.PickNearest, KeepRatio: 0.8, Variant: sampling.VariantDualBatch,
		Uncertainty: sampling.UncertaintyAbsent}) || dd.Batch.DropLast {
		t.Errorf("dos-dual block %+v, drop_last %v", got, dd.Batch.DropLast)
	}
	no, _ := Defaults("ntom-original")
	if g := *no.Method.Samplers["ntom"].(*sampling.GreedyOptions); g != (sampling.GreedyOptions{Quantile: 0.125, Scan: 400000, ScanAugment: true, Shuffle: true}) ||
		no.Batch.OOD != 128 || no.Batch.DropLast {
		t.Errorf("ntom-original block %+v, batch %+v", g, no.Batch)
	}
	if d.Method.NumOutputs(100) != 101 {
		t.Errorf("dos NumOutputs(100) = %d, want 101", d.Method.NumOutputs(100))
	}
	n, _ := Defaults("ntom")
	if q := n.Method.Samplers["ntom"].(*sampling.GreedyOptions).Quantile; q != 0 {
		t.Errorf("ntom quantile %v, want 0 (DOS runs)", q)
	}
	p, _ := Defaults("poem")
	if po := p.Method.Samplers["poem"].(*sampling.POEMOptions); po.Candidates != 400000 || po.Sigma != 20 || po.SigmaN != 0.5 || po.Conf != 3 {
		t.Errorf("poem block %+v", *po)
	}
	if _, err := Defaults("doss"); err == nil || !strings.Contains(err.Error(), `"doss"`) {
		t.Errorf("Defaults(doss): %v, want an unknown-method error naming it", err)
	}
}

// TestStrictYAML checks that unknown keys are errors naming key, file and
// line, in run files, grid bases and grid axes.
func TestStrictYAML(t *testing.T) {
	for _, tc := range []struct {
		name, file, text string
		grid             bool
		want             []string
	}{
		{"run top", "run.yaml", "method: {name: dos}\nepochs: 3\nepoch: 4\n", false,
			[]string{"run.yaml:3:", `"epoch"`, "epochs"}},
		{"run nested", "a/b.yaml", "method:\n  name: dos\n  dos:\n    n_inits: 3\n", false,
			[]string{"a/b.yaml:4:", `"n_inits"`, "method.dos", "n_init"}},
		{"run type", "t.yaml", "method: {name: dos}\nepochs: many\n", false,
			[]string{"t.yaml:2:", "many"}},
		{"grid top", "g.yaml", "name: g\nbase: {network: mlp}\naxis:\n  seed: [1]\n", true,
			[]string{"g.yaml:3:", `"axis"`}},
		{"grid base", "g.yaml", "name: g\nbase:\n  benchmark:\n    pools: x\naxes:\n  method: [dos]\n", true,
			[]string{"g.yaml:4:", `"pools"`, "base.benchmark"}},
		{"grid axis", "g.yaml", "name: g\nbase: {network: mlp}\naxes:\n  method: [dos]\n  method.dos.ninit: [3, 5]\n", true,
			[]string{"g.yaml:5:", `"ninit"`}},
		{"grid method", "g.yaml", "name: g\naxes:\n  method: [dos, foo]\n", true,
			[]string{"g.yaml:3:", `"foo"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.grid {
				var g *Grid
				g, err = ParseGrid(tc.file, []byte(tc.text))
				if err == nil {
					_, err = g.Expand(nil)
				}
			} else {
				_, err = Parse(tc.file, []byte(tc.text))
			}
			if err == nil {
				t.Fatalf("no error for\n%s", tc.text)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestValidate checks that invalid values are reported with field and file.
func TestValidate(t *testing.T) {
	for _, tc := range []struct{ yaml, field string }{
		{"method: {name: dos}\nepochs: 0", "epochs"},
		{"method: {name: dos}\nbatch: {id: 0}", "batch.id"},
		{"method: {name: dos, dos: {candidates: 32}}", "method.dos.candidates"},
		{"method: {name: dos, dos: {trim: 330}}", "method.dos.trim"},
		{"method: {name: dos, dos: {empty_clusters: drop}}", "method.dos.empty_clusters"},
		{"method: {name: dos}\nnetwork: ''", "network"},
		{"method: {name: msp, score: maxlogit}", "method.score"},
		{"method: {name: ntom, ntom: {quantile: 1.5}}", "method.ntom.quantile"},
		{"method: {name: energy, energy: {m_in: -5, m_out: -7}}", "method.energy"},
		{"method: {name: share, outputs: K}", "method.outputs"},
		{"method: {name: oe}\nbenchmark: {pool: ''}", "benchmark.pool"},
		{"method: {name: oe}\ncaps: {max_pool: 1000}", "method.outliers_per_epoch"},
		{"method: {name: oe}\nepochs: 60", "optim.milestones[2]"},
		{"method: {name: oe}\noptim: {milestones: [75, 50]}", "optim.milestones[1]"},
		{"method: {name: oe}\nbenchmark: {tests: [svhn, svhn]}", "benchmark.tests[1]"},
		{"method: {name: oe}\noptim: {schedule: step}", "optim.schedule"},
		{"method: {name: dos}\noptim: {nesterov: true, momentum: 0}", "optim.nesterov"},
		{"epochs: 3", "method.name"},
		{"method: {name: foo}", "method.name"},
	} {
		_, err := Parse("x.yaml", []byte(tc.yaml))
		if err == nil {
			t.Errorf("no error for %q", tc.yaml)
			continue
		}
		if !strings.Contains(err.Error(), "x.yaml") || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%q: error %q does not name x.yaml and %s", tc.yaml, err, tc.field)
		}
	}
	// Cosine drops the milestones, so a short cosine run is valid.
	r, err := Parse("x.yaml", []byte("method: {name: dos}\nepochs: 10\noptim: {schedule: cosine}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Optim.Milestones != nil || r.Optim.Gamma != 0 {
		t.Errorf("cosine run keeps milestones %v gamma %v", r.Optim.Milestones, r.Optim.Gamma)
	}
}

// goldenDOSID pins the ID of the default DOS run: it changes only when the
// canonical form does (a field added to Run, a default changed). Update it
// deliberately, knowing that existing run directories will no longer match.
const goldenDOSID = "97c0a210dcf2"

// TestRunID checks that the ID depends on every field except Backend, and
// nothing else.
func TestRunID(t *testing.T) {
	a, _ := Defaults("dos")
	b, _ := Defaults("dos")
	ida, err := a.ID()
	if err != nil {
		t.Fatal(err)
	}
	if idb, _ := b.ID(); idb != ida {
		t.Fatalf("same config, different IDs %s %s", ida, idb)
	}
	if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(ida) {
		t.Errorf("ID %q is not 12 hex digits", ida)
	}
	if ida != goldenDOSID {
		t.Errorf("default DOS run ID = %s, pinned %s (did the canonical form change?)", ida, goldenDOSID)
	}
	b.Backend = "xla:cuda"
	if idb, _ := b.ID(); idb != ida {
		t.Errorf("backend changed the ID: %s vs %s", idb, ida)
	}
	// Round trip through the canonical YAML.
	c, err := a.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("config.yaml", c)
	if err != nil {
		t.Fatalf("Parse(Canonical): %v\n%s", err, c)
	}
	if idc, _ := back.ID(); idc != ida {
		t.Errorf("round trip changed the ID: %s vs %s\n%s", idc, ida, c)
	}
	if c2, _ := back.Canonical(); string(c2) != string(c) {
		t.Errorf("round trip changed the canonical form:\n%s\nvs\n%s", c2, c)
	}
	// Canonical keys are sorted at the top level.
	var keys []string
	for _, line := range strings.Split(string(c), "\n") {
		if k, _, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "-") {
			keys = append(keys, k)
		}
	}
	if !slices.IsSorted(keys) || len(keys) != 12 {
		t.Errorf("canonical top-level keys %v: want 12, sorted", keys)
	}
	// Every field except backend changes the ID.
	flat, err := a.Flat()
	if err != nil {
		t.Fatal(err)
	}
	if len(flat) < 25 {
		t.Fatalf("Flat has only %d keys: %v", len(flat), flat)
	}
	for key, val := range flat {
		if key == "backend" || key == "method.name" {
			continue
		}
		r := a.Clone()
		if err := decodeOnto("test", nest(key, perturb(val)), r); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		id, _ := r.ID()
		if id == ida {
			t.Errorf("changing %s from %q did not change the ID", key, val)
		}
	}
}

// perturb returns a YAML value different from the flattened value v.
func perturb(v string) *yaml.Node {
	var n yaml.Node
	switch {
	case v == "true" || v == "false":
		n = yaml.Node{Kind: yaml.ScalarNode, Value: strconv.FormatBool(v != "true")}
	case strings.Contains(v, ","):
		n = yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: "1"}}}
	default:
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			n = yaml.Node{Kind: yaml.ScalarNode, Value: fmt.Sprint(f + 1)}
		} else {
			n = yaml.Node{Kind: yaml.ScalarNode, Value: v + "x"}
		}
	}
	return &n
}

// TestGridExpand checks axes other than method and seed, base inheritance
// and duplicate merging.
func TestGridExpand(t *testing.T) {
	text := `name: t
base:
  network: mlp
  epochs: 4
  optim: {milestones: [2]}
axes:
  method: [msp, dos]
  seed: [1, 2]
  method.dos.trim: [0, 16]
`
	g, err := ParseGrid("t.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if g.Size() != 8 {
		t.Errorf("Size = %d, want 8", g.Size())
	}
	runs, err := g.Expand(nil)
	if err != nil {
		t.Fatal(err)
	}
	// msp has no DOS block: its two trim values are the same run.
	if len(runs) != 6 {
		t.Fatalf("%d runs, want 6 (2 msp + 4 dos)", len(runs))
	}
	var got []string
	for _, r := range runs {
		s := fmt.Sprintf("%s/%d/%s/%d", r.Method.Name, r.Seed, r.Network, r.Epochs)
		if d, ok := r.Method.Samplers["dos"].(*sampling.DOSOptions); ok {
			s += fmt.Sprintf("/trim%d", d.Trim)
		}
		got = append(got, s)
	}
	want := []string{"msp/1/mlp/4", "msp/2/mlp/4", "dos/1/mlp/4/trim0", "dos/1/mlp/4/trim16", "dos/2/mlp/4/trim0", "dos/2/mlp/4/trim16"}
	if !slices.Equal(got, want) {
		t.Errorf("runs %v, want %v", got, want)
	}
	// An invalid combination names the grid file and the combination.
	bad := strings.Replace(text, "[0, 16]", "[0, 400]", 1)
	g, err = ParseGrid("t.yaml", []byte(bad))
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Expand(nil)
	if err == nil || !strings.Contains(err.Error(), "t.yaml") || !strings.Contains(err.Error(), "method.dos.trim") {
		t.Errorf("invalid trim: %v", err)
	}
}

package config

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Grid is a set of runs: a base configuration and axes whose cartesian
// product gives the runs. Its YAML form is
//
//	name: quick
//	description: one line for --list
//	base:            # any Run fields; method defaults apply underneath
//	  network: mlp
//	  epochs: 4
//	axes:            # key path -> list of values; product in file order
//	  method: [msp, oe, dos]
//	  seed: [3, 14, 42]
//	  method.dos.n_init: [3, 5]
//
// Axis keys are dotted key paths of a Run; the axis "method" is the method
// name (it chooses the method's defaults). Each run is resolved as method
// defaults, then base, then the axis values, then normalised and validated.
type Grid struct {
	// Name is the grid's name (used as the run store's sub-directory).
	Name string
	// Description is one line for --list.
	Description string
	// File is where the grid was read from, for messages.
	File string
	// Axes are the grid's axes in file order.
	Axes []Axis

	data []byte
	base *yaml.Node
}

// Axis is one axis of a grid.
type Axis struct {
	// Key is the dotted key path ("method", "seed", "optim.schedule").
	Key string
	// Values are the axis values as YAML nodes.
	Values []*yaml.Node
	// Line is the axis key's line in the grid file.
	Line int
}

// gridDoc is the YAML shape of a grid file.
type gridDoc struct {
	Name        string    `yaml:"name"`
	Description string    `yaml:"description"`
	Base        *Run      `yaml:"base"`
	Axes        yaml.Node `yaml:"axes"`
}

// ParseGrid reads a grid from YAML. Keys are checked strictly (unknown keys
// are errors naming file and line); the runs are resolved and validated by
// Expand. file names the source in messages.
func ParseGrid(file string, data []byte) (*Grid, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fileErr(file, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: want a mapping with keys name, description, base, axes", file)
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		switch k.Value {
		case "name", "description", "base", "axes":
		default:
			return nil, fmt.Errorf("%s:%d: unknown key %q in the top level; known keys: axes, base, description, name", file, k.Line, k.Value)
		}
	}
	g := &Grid{File: file, data: data, base: mapValue(root, "base")}
	if g.base != nil {
		if err := checkKeys(file, g.base, runType, "base"); err != nil {
			return nil, err
		}
	}
	var probe gridDoc
	probe.Base = baseDefaults()
	if err := strictDecode(file, data, &probe); err != nil {
		return nil, err
	}
	g.Name, g.Description = probe.Name, probe.Description
	if g.Name == "" {
		return nil, fmt.Errorf("%s: name: want the grid's name, found none", file)
	}
	axes := mapValue(root, "axes")
	if axes != nil && axes.ShortTag() != "!!null" {
		if axes.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s:%d: axes: want a mapping of key path to list of values, found %s", file, axes.Line, describe(axes))
		}
		for i := 0; i+1 < len(axes.Content); i += 2 {
			k, v := axes.Content[i], axes.Content[i+1]
			if slices.ContainsFunc(g.Axes, func(a Axis) bool { return a.Key == k.Value }) {
				return nil, fmt.Errorf("%s:%d: axes: axis %q given twice", file, k.Line, k.Value)
			}
			if _, err := fieldPath(k.Value); err != nil && k.Value != "method" {
				return nil, fmt.Errorf("%s:%d: axes: %w", file, k.Line, err)
			}
			if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
				return nil, fmt.Errorf("%s:%d: axes.%s: want a non-empty list of values, found %s", file, v.Line, k.Value, describe(v))
			}
			if k.Value == "method" {
				for _, m := range v.Content {
					if _, err := LookupMethod(m.Value); err != nil {
						return nil, fmt.Errorf("%s:%d: axes.method: %w", file, m.Line, err)
					}
				}
			}
			g.Axes = append(g.Axes, Axis{Key: k.Value, Values: v.Content, Line: k.Line})
		}
	}
	return g, nil
}

// Size is the number of axis combinations (before duplicates are merged).
func (g *Grid) Size() int {
	n := 1
	for _, a := range g.Axes {
		n *= len(a.Values)
	}
	return n
}

// Expand resolves every combination of the axes into a run, in file order
// (the first axis varies slowest), validates each, drops combinations that
// resolve to the same run ID as an earlier one (e.g. an axis over a DOS
// parameter for a method without DOS), and keeps those that match filter
// (a nil filter keeps all). Each run's Variant holds its values on the axes
// other than method and seed, which its Name and the report's tables show.
func (g *Grid) Expand(filter Filter) ([]*Run, error) {
	if err := filter.check(); err != nil {
		return nil, err
	}
	var runs []*Run
	seen := map[string]bool{}
	idx := make([]int, len(g.Axes))
	for {
		r, err := g.resolve(idx)
		if err != nil {
			return nil, err
		}
		id, err := r.ID()
		if err != nil {
			return nil, err
		}
		if !seen[id] {
			seen[id] = true
			ok, err := filter.Match(r)
			if err != nil {
				return nil, err
			}
			if ok {
				runs = append(runs, r)
			}
		}
		// Odometer increment, last axis fastest.
		i := len(idx) - 1
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < len(g.Axes[i].Values) {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return runs, nil
		}
	}
}

// resolve builds the run of one axis combination.
func (g *Grid) resolve(idx []int) (*Run, error) {
	name := ""
	if n := mapValue(g.base, "method"); n != nil {
		if v := mapValue(n, "name"); v != nil {
			name = v.Value
		}
	}
	var label []string
	for i, a := range g.Axes {
		v := a.Values[idx[i]]
		label = append(label, a.Key+"="+v.Value)
		if a.Key == "method" {
			name = v.Value
		}
	}
	where := g.File
	if len(label) > 0 {
		where = fmt.Sprintf("%s (%s)", g.File, strings.Join(label, ","))
	}
	if name == "" {
		return nil, fmt.Errorf("%s: method.name: no method given (neither an axis \"method\" nor base.method.name); want one of %s", where, strings.Join(MethodNames(), ", "))
	}
	r, err := layered(name)
	if err != nil {
		return nil, fmt.Errorf("%s: method.name: %w", where, err)
	}
	doc := gridDoc{Base: r}
	if err := strictDecode(g.File, g.data, &doc); err != nil {
		return nil, err
	}
	for i, a := range g.Axes {
		v := a.Values[idx[i]]
		key := a.Key
		if key == "method" {
			key = "method.name"
		}
		if err := decodeOnto(g.File, nest(key, v), r); err != nil {
			return nil, fmt.Errorf("axes.%s: %w", a.Key, err)
		}
	}
	r.Normalize()
	if err := r.Validate(where); err != nil {
		return nil, err
	}
	if r.Variant, err = g.variantOf(r, idx); err != nil {
		return nil, err
	}
	return r, nil
}

// Filter selects runs by field values, as parsed from "method=dos,seed=3":
// a run matches when, for every key, its value equals one of the key's
// values (repeat a key for alternatives: "method=dos,method=oe"). Keys are
// dotted key paths of a Run; "method" means method.name. Numbers compare
// numerically (1e-4 matches 0.0001).
type Filter map[string][]string

// ParseFilter parses "key=value,key=value". An empty string gives a nil
// filter, which matches every run.
func ParseFilter(s string) (Filter, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	f := Filter{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("--only: want key=value[,key=value...], found %q in %q", part, s)
		}
		if k == "method" {
			k = "method.name"
		}
		f[k] = append(f[k], v)
	}
	return f, f.check()
}

// check verifies that every key names a field of Run.
func (f Filter) check() error {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, err := fieldPath(k); err != nil {
			return fmt.Errorf("--only: %s: %w", k, err)
		}
	}
	return nil
}

// Match reports whether r matches the filter.
func (f Filter) Match(r *Run) (bool, error) {
	if len(f) == 0 {
		return true, nil
	}
	flat, err := r.Flat()
	if err != nil {
		return false, err
	}
	for k, want := range f {
		got, ok := flat[k]
		if !ok {
			return false, nil // a block absent from this run: no match
		}
		if !slices.ContainsFunc(want, func(w string) bool { return sameValue(w, got) }) {
			return false, nil
		}
	}
	return true, nil
}

// sameValue compares two scalar texts, numerically when both are numbers.
func sameValue(a, b string) bool {
	if a == b {
		return true
	}
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	return err1 == nil && err2 == nil && x == y
}

// Flat maps every dotted key path of the run's canonical form to its value
// as text (lists as comma-separated values).
func (r *Run) Flat() (map[string]string, error) {
	c, err := r.Canonical()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(c, &m); err != nil {
		return nil, err
	}
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(joinPath(prefix, k), e)
			}
		case []any:
			parts := make([]string, len(x))
			for i, e := range x {
				parts[i] = fmt.Sprint(e)
			}
			out[prefix] = strings.Join(parts, ",")
		default:
			out[prefix] = fmt.Sprint(x)
		}
	}
	walk("", m)
	return out, nil
}

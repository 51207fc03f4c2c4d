package config

import (
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Setting is the value a run takes on one axis of its grid.
type Setting struct {
	// Key is the axis's dotted key path (optim.lr, method.dos.n_init); an axis over a whole
	// block (method.dos: [{n_init: 3}, ...]) gives one Setting per key its values set.
	Key string
	// Value is the run's value there as Flat gives it (lists comma-separated).
	Value string
}

// variantNameMax bounds the length of the variant part of a run name, so that a name stays
// far below the 255 bytes a file name may have (the ID keeps truncated names apart).
const variantNameMax = 96

// VariantLabel describes the run's Variant for tables and headings, "lr=0.02, n_init=3": each
// key shortened to its last component (see Name), an empty string shown as "". It is "" for a
// run without a variant (the runs of a grid whose only axes are method and seed).
func (r *Run) VariantLabel() string {
	keys := shortKeys(r.Variant)
	parts := make([]string, len(r.Variant))
	for i, s := range r.Variant {
		v := s.Value
		if v == "" {
			v = `""`
		}
		parts[i] = keys[i] + "=" + v
	}
	return strings.Join(parts, ", ")
}

// variantName is the variant part of the run's name, "lr0.02-n_init3": per setting the short
// key, then the value (after "_" when the value starts with a letter: schedule_cosine), with
// every character other than letters, digits, '.', '_' and '-' replaced by '_', list elements
// joined by '_', an empty value written "empty"; settings joined by '-'.
func (r *Run) variantName() string {
	keys := shortKeys(r.Variant)
	parts := make([]string, len(r.Variant))
	for i, s := range r.Variant {
		v := fileSafe(strings.ReplaceAll(s.Value, ",", "_"))
		switch {
		case v == "":
			v = "_empty"
		case !(v[0] >= '0' && v[0] <= '9' || v[0] == '-' || v[0] == '.'):
			v = "_" + v
		}
		parts[i] = fileSafe(keys[i]) + v
	}
	name := strings.Join(parts, "-")
	if len(name) > variantNameMax {
		name = name[:variantNameMax]
	}
	return name
}

// shortKeys gives each setting's key its last component (lr for optim.lr), or the whole key
// path where two settings share the last component (batch.id and benchmark.id).
func shortKeys(settings []Setting) []string {
	last := func(k string) string { return k[strings.LastIndex(k, ".")+1:] }
	count := map[string]int{}
	for _, s := range settings {
		count[last(s.Key)]++
	}
	out := make([]string, len(settings))
	for i, s := range settings {
		if out[i] = last(s.Key); count[out[i]] > 1 {
			out[i] = s.Key
		}
	}
	return out
}

// fileSafe replaces every character other than ASCII letters, digits, '.', '_' and '-' by '_'.
func fileSafe(s string) string {
	return strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			return c
		}
		return '_'
	}, s)
}

// variantOf lists the run's settings on the axes of g other than method, seed and backend (which
// says where a run executes, not what it computes: it is not part of the ID, and a run's
// directory must not depend on it), in the grid's axis order: for each axis, the leaf keys its
// value sets that apply to the run (those present in its canonical form: an axis over
// method.dos.n_init does not apply to msp, one over the milestones not to a cosine schedule).
func (g *Grid) variantOf(r *Run, idx []int) ([]Setting, error) {
	var flat map[string]string
	var out []Setting
	for i, a := range g.Axes {
		if a.Key == "method" || a.Key == "method.name" || a.Key == "seed" || a.Key == "backend" {
			continue
		}
		if flat == nil {
			var err error
			if flat, err = r.Flat(); err != nil {
				return nil, err
			}
		}
		for _, key := range leafKeys(a.Key, a.Values[idx[i]]) {
			if v, ok := flat[key]; ok && !slices.ContainsFunc(out, func(s Setting) bool { return s.Key == key }) {
				out = append(out, Setting{Key: key, Value: v})
			}
		}
	}
	return out, nil
}

// leafKeys lists the dotted key paths of the values that node n sets under key: key itself for
// a scalar or a list, the keys of its leaves for a mapping (sorted, as in the canonical form).
func leafKeys(key string, n *yaml.Node) []string {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return []string{key}
	}
	var out []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, leafKeys(joinPath(key, n.Content[i].Value), n.Content[i+1])...)
	}
	slices.Sort(out)
	return out
}

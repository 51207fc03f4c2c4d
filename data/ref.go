package data

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Ref is a data-set reference as written in a benchmark: a registered data-set name,
// optionally restricted to some of its classes: "mnist@0-4" (classes 0 to 4), "mnist@8,9".
type Ref struct {
	Name    string
	Classes []int32 // nil: all
}

// ParseRef parses "name" or "name@classes" where classes is a comma-separated list of
// class indices and ranges a-b.
func ParseRef(s string) (Ref, error) {
	name, spec, found := strings.Cut(s, "@")
	ref := Ref{Name: name}
	if name == "" {
		return ref, fmt.Errorf("data set %q: empty name", s)
	}
	if !found {
		return ref, nil
	}
	seen := map[int32]bool{}
	for _, part := range strings.Split(spec, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err != nil || a < 0 || b < a {
			return ref, fmt.Errorf("data set %q: class list %q: want comma-separated classes or ranges like 0-4", s, spec)
		}
		for c := a; c <= b; c++ {
			if !seen[int32(c)] {
				seen[int32(c)] = true
				ref.Classes = append(ref.Classes, int32(c))
			}
		}
	}
	sort.Slice(ref.Classes, func(i, j int) bool { return ref.Classes[i] < ref.Classes[j] })
	return ref, nil
}

// Select keeps the images of m whose label is in ref.Classes (all when nil), at most max
// images (0: no cap), in their original order. With remap, labels become the position of the
// class in ref.Classes (so "mnist@5-9" is a 5-class problem with labels 0..4).
func (ref Ref) Select(m *Images, max int, remap bool) (*Images, error) {
	if ref.Classes == nil && (max <= 0 || max >= m.N) {
		return m, nil
	}
	if ref.Classes != nil && m.Labels == nil {
		return nil, fmt.Errorf("data set %s: has no labels, so classes %v cannot be selected", ref.Name, ref.Classes)
	}
	pos := map[int32]int32{}
	for i, c := range ref.Classes {
		pos[c] = int32(i)
	}
	size := m.H * m.W * m.C
	out := &Images{H: m.H, W: m.W, C: m.C}
	for i := 0; i < m.N && (max <= 0 || out.N < max); i++ {
		label := int32(-1)
		if m.Labels != nil {
			label = m.Labels[i]
		}
		if ref.Classes != nil {
			p, ok := pos[label]
			if !ok {
				continue
			}
			if remap {
				label = p
			}
		}
		out.Pix = append(out.Pix, m.Pix[i*size:(i+1)*size]...)
		if m.Labels != nil {
			out.Labels = append(out.Labels, label)
		}
		out.N++
	}
	if out.N == 0 {
		return nil, fmt.Errorf("data set %s: no image of classes %v", ref.Name, ref.Classes)
	}
	return out, nil
}

package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/oodlab/dos/internal/registry"
)

// MethodSpec is a registered OOD method: its name, how tables show it, a one-line description,
// and the defaults it sets on top of the project defaults. Each method lives in its own file
// (method_<name>.go) that registers its MethodSpec from an init function; adding a method
// touches neither the runner nor the other methods.
type MethodSpec struct {
	// Name is the method's name in configurations (method.name).
	Name string
	// Display is the method's name in tables and plots (the paper's spelling: "DOS", "Energy").
	Display string
	// Description is one line for --list.
	Description string
	// Order sorts methods in listings and tables (the paper's Table 1 order: msp 0 ... dos 6);
	// methods with equal Order sort by name.
	Order int
	// Defaults sets the method's fields (sampler, loss, weight, outputs, score, outliers per
	// epoch, and any hyperparameter it changes) on a run that holds the project defaults; r.Method
	// is the method's block. A method may also change other parts of the run that its official
	// code fixes (the batch sizes, dropping the last partial batch).
	Defaults func(r *Run)
}

// methods is the method registry (see package registry for why it is filled from init).
var methods = registry.New[MethodSpec]("method")

// RegisterMethod adds a method; call it from an init function.
func RegisterMethod(s MethodSpec) { methods.Register(s.Name, s) }

// LookupMethod returns the registered method called name.
func LookupMethod(name string) (MethodSpec, error) {
	if !methods.Has(name) {
		// The registry's own error lists names alphabetically; list them in table order.
		return MethodSpec{}, fmt.Errorf("unknown method %q; want one of %s", name, strings.Join(MethodNames(), ", "))
	}
	return methods.Lookup(name)
}

// Methods lists the registered methods in table order.
func Methods() []MethodSpec {
	out := methods.All()
	slices.SortStableFunc(out, func(a, b MethodSpec) int {
		if c := cmp.Compare(a.Order, b.Order); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return out
}

// MethodNames lists the registered method names in table order.
func MethodNames() []string {
	specs := Methods()
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	return names
}

// DisplayName returns how tables show a method: its registered Display name, else the name
// itself.
func DisplayName(name string) string {
	if s, err := methods.Lookup(name); err == nil && s.Display != "" {
		return s.Display
	}
	return name
}

// SortMethodNames orders method names as Methods does (registered methods in table order, any
// others after them, alphabetically).
func SortMethodNames(names []string) {
	rank := map[string]int{}
	for i, s := range Methods() {
		rank[s.Name] = i
	}
	pos := func(n string) int {
		if r, ok := rank[n]; ok {
			return r
		}
		return len(rank)
	}
	slices.SortStableFunc(names, func(a, b string) int {
		if c := cmp.Compare(pos(a), pos(b)); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
}

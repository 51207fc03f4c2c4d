package config

import (
	"fmt"
	"sort"
	"strings"
)

// MethodSpec is a registered OOD method: its name, a one-line description,
// and the defaults it sets on top of the project defaults. Each method lives
// in its own file (method_<name>.go) that registers its MethodSpec; adding a
// method touches neither the runner nor the other methods.
type MethodSpec struct {
	// Name is the method's name in configurations (method.name).
	Name string
	// Description is one line for --list.
	Description string
	// Order sorts methods for listings (the paper's table order).
	Order int
	// Defaults sets the method's fields (sampler, loss, weight, outputs,
	// score, outliers per epoch, and any hyperparameter it changes) on a
	// Method that holds the project defaults.
	Defaults func(m *Method)
}

// registry holds the registered methods. It is written only by register,
// which only the init functions of the method_*.go files call, and is
// read-only once the package is initialised.
var registry = map[string]MethodSpec{}

// register adds a method at package initialisation. A duplicate name is a
// programming error.
func register(s MethodSpec) {
	if _, dup := registry[s.Name]; dup {
		panic("config: method " + s.Name + " registered twice")
	}
	registry[s.Name] = s
}

// LookupMethod returns the registered method called name.
func LookupMethod(name string) (MethodSpec, error) {
	s, ok := registry[name]
	if !ok {
		return MethodSpec{}, fmt.Errorf("unknown method %q; want one of %s", name, strings.Join(MethodNames(), ", "))
	}
	return s, nil
}

// Methods lists the registered methods in table order.
func Methods() []MethodSpec {
	out := make([]MethodSpec, 0, len(registry))
	for _, s := range registry {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Order != out[j].Order {
			return out[i].Order < out[j].Order
		}
		return out[i].Name < out[j].Name
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

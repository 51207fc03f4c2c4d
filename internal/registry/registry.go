// Package registry is the one shape of every registry of the project (methods, samplers,
// networks, data sets): a table of named entries that the files defining them fill from their
// init functions, and that is read-only from the first lookup on.
//
// Why registration from init, when the project otherwise has no global mutable state: a method,
// sampler, network or data set is then added in its own file, without editing a central list
// (Go's own plug-in idiom: image.RegisterFormat, database/sql.Register), and a test file can add
// a test-only entry the same way. The table is written only while packages initialise: the first
// read seals it, and a later Register panics, so that no code can observe it changing.
package registry

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Registry is a table of entries of type T by name.
type Registry[T any] struct {
	kind    string // what an entry is, for messages ("method", "sampler")
	mu      sync.Mutex
	order   []string // registration order
	entries map[string]T
	sealed  bool
}

// New returns an empty registry whose entries are called kind in messages.
func New[T any](kind string) *Registry[T] {
	return &Registry[T]{kind: kind, entries: map[string]T{}}
}

// Register adds an entry. It is meant for init functions: a duplicate name, an empty name, or a
// call after the first read is a programming error and panics.
func (r *Registry[T]) Register(name string, v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case name == "":
		panic(fmt.Sprintf("registry: %s with an empty name", r.kind))
	case r.sealed:
		panic(fmt.Sprintf("registry: %s %q registered after the %s registry was first read: register from an init function", r.kind, name, r.kind))
	}
	if _, dup := r.entries[name]; dup {
		panic(fmt.Sprintf("registry: %s %q registered twice", r.kind, name))
	}
	r.entries[name] = v
	r.order = append(r.order, name)
}

func (r *Registry[T]) seal() {
	r.mu.Lock()
	r.sealed = true
	r.mu.Unlock()
}

// Lookup returns the entry called name, or an error that lists the names known.
func (r *Registry[T]) Lookup(name string) (T, error) {
	r.seal()
	v, ok := r.entries[name]
	if !ok {
		var zero T
		return zero, fmt.Errorf("unknown %s %q; want one of %s", r.kind, name, strings.Join(r.Names(), ", "))
	}
	return v, nil
}

// Has reports whether an entry called name exists.
func (r *Registry[T]) Has(name string) bool {
	r.seal()
	_, ok := r.entries[name]
	return ok
}

// Names returns the names of the entries, sorted.
func (r *Registry[T]) Names() []string {
	r.seal()
	names := slices.Clone(r.order)
	slices.Sort(names)
	return names
}

// All returns the entries in name order.
func (r *Registry[T]) All() []T {
	names := r.Names()
	out := make([]T, len(names))
	for i, n := range names {
		out[i] = r.entries[n]
	}
	return out
}

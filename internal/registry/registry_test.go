package registry

import (
	"strings"
	"testing"
)

func TestRegistry(t *testing.T) {
	r := New[int]("widget")
	r.Register("b", 2)
	r.Register("a", 1)
	mustPanic(t, "twice", func() { r.Register("a", 3) })
	mustPanic(t, "empty name", func() { r.Register("", 3) })
	if v, err := r.Lookup("b"); err != nil || v != 2 {
		t.Fatalf("Lookup(b) = %v, %v", v, err)
	}
	_, err := r.Lookup("c")
	if err == nil || !strings.Contains(err.Error(), `unknown widget "c"; want one of a, b`) {
		t.Fatalf("Lookup(c) error %v", err)
	}
	if got := r.All(); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("All = %v", got)
	}
	if !r.Has("a") || r.Has("c") {
		t.Fatal("Has")
	}
	mustPanic(t, "after a read", func() { r.Register("c", 3) })
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", what)
		}
	}()
	f()
}

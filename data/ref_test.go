package data

import (
	"slices"
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	for _, tc := range []struct {
		in      string
		name    string
		classes []int32
		err     string
	}{
		{in: "mnist", name: "mnist"},
		{in: "mnist@0-4", name: "mnist", classes: []int32{0, 1, 2, 3, 4}},
		{in: "mnist@9,2,3-4,2", name: "mnist", classes: []int32{2, 3, 4, 9}},
		{in: "mnist@4-2", err: "class list"},
		{in: "mnist@x", err: "class list"},
		{in: "@3", err: "empty name"},
	} {
		ref, err := ParseRef(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseRef(%q) error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || ref.Name != tc.name || !slices.Equal(ref.Classes, tc.classes) {
			t.Errorf("ParseRef(%q) = %+v, %v; want %s %v", tc.in, ref, err, tc.name, tc.classes)
		}
	}
}

func TestRefSelect(t *testing.T) {
	m := NewImages(6, 1, 1, 1, true)
	for i := range 6 {
		m.Pix[i] = uint8(10 * i)
		m.Labels[i] = int32(i % 3) // labels 0 1 2 0 1 2
	}
	ref, _ := ParseRef("x@1-2")
	got, err := ref.Select(m, 3, true)
	if err != nil {
		t.Fatal(err)
	}
	// Images 1 (label 1), 2 (label 2), 4 (label 1): capped at 3, labels remapped to 0, 1, 0.
	if got.N != 3 || !slices.Equal(got.Pix, []uint8{10, 20, 40}) || !slices.Equal(got.Labels, []int32{0, 1, 0}) {
		t.Fatalf("Select = %d images %v labels %v", got.N, got.Pix, got.Labels)
	}
	kept, _ := ref.Select(m, 0, false)
	if !slices.Equal(kept.Labels, []int32{1, 2, 1, 2}) {
		t.Fatalf("without remap labels = %v, want the original 1 2 1 2", kept.Labels)
	}
	none, _ := ParseRef("x@7")
	if _, err := none.Select(m, 0, true); err == nil || !strings.Contains(err.Error(), "no image of classes [7]") {
		t.Fatalf("empty selection error = %v", err)
	}
	if m := Missing("nosuch@1-2", t.TempDir()); len(m) != 1 || !strings.Contains(m[0], `unknown data set "nosuch"`) {
		t.Fatalf("Missing of a class selection of an unknown set = %v, want the set named", m)
	}
}

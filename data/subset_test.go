package data

import (
	"math"
	"slices"
	"testing"
)

// TestSelectSource: selecting classes of a lazily decoded set gives the images and labels that
// selecting them from the materialised set gives, and the subset still gives images as stored.
func TestSelectSource(t *testing.T) {
	dir := writeTree(t, false)
	src, err := Open("imagenet10", dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Materialize(src)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := ParseRef("imagenet10@2,5,7")
	for _, max := range []int{0, 4} {
		want, err := ref.Select(m, max, true)
		if err != nil {
			t.Fatal(err)
		}
		got, labels, err := ref.SelectSource(src, max, true)
		if err != nil {
			t.Fatal(err)
		}
		if got.Len() != want.N || !slices.Equal(labels, want.Labels) {
			t.Fatalf("max %d: %d images labels %v, want %d %v", max, got.Len(), labels, want.N, want.Labels)
		}
		gm, err := Materialize(got)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(gm.Pix, want.Pix) {
			t.Fatalf("max %d: pixels differ", max)
		}
		if _, ok := got.(RawSource); !ok {
			t.Fatalf("the subset of an image folder lost Raw")
		}
	}
	whole, _ := ParseRef("imagenet10")
	head, labels, _ := whole.SelectSource(src, 5, true)
	if head.Len() != 5 || !slices.Equal(labels, SourceLabels(src)[:5]) {
		t.Fatalf("cap 5: %d images, labels %v", head.Len(), labels)
	}
	if _, ok := head.(RawSource); !ok {
		t.Fatal("Head lost Raw")
	}
	a, err := ComputeNormalizeSource(src)
	if err != nil {
		t.Fatal(err)
	}
	b := ComputeNormalize(m)
	for c := range 3 {
		if math.Abs(float64(a.Mean[c]-b.Mean[c])) > 1e-6 || math.Abs(float64(a.Std[c]-b.Std[c])) > 1e-6 {
			t.Fatalf("channel %d: %v %v, materialised %v %v", c, a.Mean[c], a.Std[c], b.Mean[c], b.Std[c])
		}
	}
}

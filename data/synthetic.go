package data

import (
	"fmt"
	"hash/fnv"
)

// Synthetic data sets have the shapes of the real ones but are generated
// from seeds, so tests and smoke runs need no download. Their names all
// start with "synthetic-". Labelled sets are learnable: each class has its
// own colour and stripe pattern, plus per-pixel noise; pools draw colour and
// stripes per image, unrelated to any class.

// SyntheticConfig describes a synthetic set.
type SyntheticConfig struct {
	N, H, W, C int
	// Classes is the number of classes; 0 makes an unlabelled pool.
	Classes int
	// Look seeds the appearance of each class (share it between the train
	// and test splits of one set).
	Look uint64
	// Draw seeds the per-image class draws and noise.
	Draw uint64
}

// Synthetic generates a synthetic set; equal configurations give equal bytes.
func Synthetic(cfg SyntheticConfig) *Images {
	m := NewImages(cfg.N, cfg.H, cfg.W, cfg.C, cfg.Classes > 0)
	for i := range cfg.N {
		key := mix64(cfg.Draw, uint64(i))
		look := mix64(cfg.Look, key) // pools: a look per image
		if cfg.Classes > 0 {
			c := int(key % uint64(cfg.Classes))
			m.Labels[i] = int32(c)
			look = mix64(cfg.Look, uint64(c))
		}
		renderSynthetic(m.At(i), cfg.H, cfg.W, cfg.C, look, key)
	}
	return m
}

func renderSynthetic(img []uint8, h, w, c int, look, key uint64) {
	base := mix64(look, 1)
	fx := int(mix64(look, 2)%4) + 1
	fy := int(mix64(look, 3)%4) + 1
	for y := range h {
		for x := range w {
			stripe := ((x*fx+y*fy)/4)%2 == 0
			for ch := range c {
				v := int((base >> (8 * uint(ch%8))) & 0xff)
				if stripe {
					v = 255 - v
				}
				noise := int(mix64(key, uint64((y*w+x)*c+ch))%61) - 30
				img[(y*w+x)*c+ch] = uint8(min(255, max(0, v+noise)))
			}
		}
	}
}

// syntheticSet gives the configuration of a registered synthetic set.
type syntheticSet struct {
	name        string
	h, w, c     int
	classes     int
	train, test int
	like        string
}

func syntheticSets() []syntheticSet {
	return []syntheticSet{
		{"synthetic-cifar10", 32, 32, 3, 10, 2000, 500, "cifar10"},
		{"synthetic-cifar100", 32, 32, 3, 100, 2000, 500, "cifar100"},
		{"synthetic-ti300k", 32, 32, 3, 0, 12000, 0, "ti300k (6 x the synthetic ID train size, as 300K / 50K)"},
		{"synthetic-svhn", 32, 32, 3, 10, 0, 500, "svhn"},
		{"synthetic-mnist", 28, 28, 1, 10, 2000, 500, "mnist"},
	}
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

func init() {
	for _, s := range syntheticSpecs() {
		Register(s)
	}
}

// syntheticSpecs are the generated data sets (no files).
func syntheticSpecs() []Spec {
	var out []Spec
	for _, s := range syntheticSets() {
		var splits []string
		if s.train > 0 {
			splits = append(splits, "train")
		}
		if s.test > 0 {
			splits = append(splits, "test")
		}
		out = append(out, Spec{
			Name: s.name, Role: "synthetic", Classes: s.classes, H: s.h, W: s.w, C: s.c, Splits: splits,
			Note: fmt.Sprintf("generated, shaped like %s: %d train / %d test images; no files", s.like, s.train, s.test),
			open: func(dir, split string) (Source, error) {
				n := s.train
				if split == "test" {
					n = s.test
				}
				return Synthetic(SyntheticConfig{N: n, H: s.h, W: s.w, C: s.c, Classes: s.classes,
					Look: hashString(s.name), Draw: hashString(s.name + "/" + split)}), nil
			},
		})
	}
	return out
}

// mix64 hashes two words into one (SplitMix64 finaliser over a combination),
// the counter-based randomness used for synthetic data and augmentation.
func mix64(a, b uint64) uint64 {
	z := a ^ (b+0x9e3779b97f4a7c15)*0xbf58476d1ce4e5b9
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

package data

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ImageNetTree describes a small synthetic copy of ImageNet-1K in its published layouts, for
// tests and smoke runs of the ImageNet grids: JPEG files of varied sizes whose colours depend on
// the synset, so that a network can learn them.
type ImageNetTree struct {
	// Synsets are the synset folders to create (e.g. ImageNet10Classes plus others).
	Synsets []string
	// Train and Val are the images per synset in each split.
	Train, Val int
	// MinSide and MaxSide bound the image sides (MaxSide >= MinSide > 0).
	MinSide, MaxSide int
	// FlatVal writes val/ as published (ILSVRC2012_val_NNNNNNNN.JPEG) with the devkit's ground
	// truth and DevkitMeta as meta.mat; otherwise val/<wnid>/.
	FlatVal bool
	// DevkitMeta is the meta.mat to write with FlatVal (the caller's: this package reads
	// MAT-files but does not write them).
	DevkitMeta []byte
	// ValIDs maps each synset to its ILSVRC2012_ID in DevkitMeta (FlatVal only).
	ValIDs map[string]int
	// Seed varies the pixels.
	Seed uint64
}

// WriteImageNetTree writes the tree under dir/imagenet and returns the number of files
// written per split.
func WriteImageNetTree(dir string, tr ImageNetTree) (train, val int, err error) {
	if tr.MinSide <= 0 || tr.MaxSide < tr.MinSide {
		return 0, 0, fmt.Errorf("imagenet tree: sides [%d, %d]", tr.MinSide, tr.MaxSide)
	}
	root := filepath.Join(dir, imagenetDir)
	write := func(path string, key uint64, look uint64) error {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		span := uint64(tr.MaxSide - tr.MinSide + 1)
		w := tr.MinSide + int(mix64(key, 1)%span)
		h := tr.MinSide + int(mix64(key, 2)%span)
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		base := mix64(look, 3)
		for y := range h {
			for x := range w {
				stripe := ((x+y)/3)%2 == 0
				var c [3]uint8
				for ch := range 3 {
					v := int((base >> (8 * ch)) & 0xff)
					if stripe {
						v = 255 - v
					}
					c[ch] = uint8(min(255, max(0, v+int(mix64(key, uint64(y*w+x)*3+uint64(ch))%41)-20)))
				}
				img.Set(x, y, color.RGBA{c[0], c[1], c[2], 255})
			}
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
			return err
		}
		return os.WriteFile(path, buf.Bytes(), 0o644)
	}
	for si, s := range tr.Synsets {
		look := mix64(tr.Seed, hashString(s))
		for k := range tr.Train {
			p := filepath.Join(root, "train", s, fmt.Sprintf("%s_%d.JPEG", s, k+1))
			if err := write(p, mix64(look, uint64(k)), look); err != nil {
				return 0, 0, err
			}
			train++
		}
		if !tr.FlatVal {
			for k := range tr.Val {
				p := filepath.Join(root, "val", s, fmt.Sprintf("ILSVRC2012_val_%08d.JPEG", si*tr.Val+k+1))
				if err := write(p, mix64(look, uint64(1000+k)), look); err != nil {
					return 0, 0, err
				}
				val++
			}
		}
	}
	if !tr.FlatVal {
		return train, val, nil
	}
	// Flat: image numbers interleave the synsets, as the published validation set does.
	var truth []string
	for k := range tr.Val {
		for _, s := range tr.Synsets {
			id, ok := tr.ValIDs[s]
			if !ok {
				return 0, 0, fmt.Errorf("imagenet tree: no ILSVRC2012_ID for %s", s)
			}
			look := mix64(tr.Seed, hashString(s))
			truth = append(truth, strconv.Itoa(id))
			p := filepath.Join(root, "val", fmt.Sprintf("ILSVRC2012_val_%08d.JPEG", len(truth)))
			if err := write(p, mix64(look, uint64(1000+k)), look); err != nil {
				return 0, 0, err
			}
			val++
		}
	}
	dk := filepath.Join(root, devkitDir)
	if err := os.MkdirAll(dk, 0o755); err != nil {
		return 0, 0, err
	}
	if err := os.WriteFile(filepath.Join(dk, devkitMeta), tr.DevkitMeta, 0o644); err != nil {
		return 0, 0, err
	}
	return train, val, os.WriteFile(filepath.Join(dk, devkitTruth), []byte(strings.Join(truth, "\n")+"\n"), 0o644)
}

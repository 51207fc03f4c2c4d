package data

import (
	"fmt"
	"runtime"
)

// ImageNet-scale sets (ImageNet-1K and its subsets, their pools, the MOS test sets, Textures at
// 224) are evaluated with torchvision's Resize(256) + CenterCrop(224). A run at another
// resolution (benchmark.image_size) scales that transform as torchvision's reference scripts
// do: centre crop of side s from the image resized to floor(s / 0.875) on its shorter side
// (256 for 224). Sets of a fixed size (CIFAR, TI-300K, SVHN, MNIST, ...) are not resized.

// TestTransformFor returns the ImageNet evaluation transform at side size.
func TestTransformFor(size int) Transform {
	return Transform{Resize: size * 256 / 224, CropH: size, CropW: size}
}

// Resizable reports whether a registered set takes its test transform's size from the run
// (OpenSized).
func Resizable(name string) bool {
	s, err := Lookup(name)
	return err == nil && s.scalable
}

// OpenSized is Open with the images of a resizable set transformed to size x size by
// TestTransformFor(size) (size 0, or a set of fixed size, leaves the registered transform).
func OpenSized(name, dir, split string, size int) (Source, error) {
	src, err := Open(name, dir, split)
	if err != nil || size <= 0 || !Resizable(name) {
		return src, err
	}
	if h, w, _ := src.Dims(); h == size && w == size {
		return src, nil
	}
	t := TestTransformFor(size)
	switch s := src.(type) {
	case *FolderImages:
		out := *s
		out.Transform, out.h, out.w = t, size, size
		return &out, nil
	case *ShardImages:
		out := *s
		idx := *s.Index
		idx.Transform = t
		out.Index, out.h, out.w = &idx, size, size
		return &out, nil
	}
	CloseSource(src)
	return nil, fmt.Errorf("%s: a %T cannot be resized to %d", name, src, size)
}

// LoadSized is Load through OpenSized.
func LoadSized(name, dir, split string, size int) (*Images, error) {
	src, err := OpenSized(name, dir, split, size)
	if err != nil {
		return nil, err
	}
	defer CloseSource(src)
	return MaterializeParallel(src, runtime.GOMAXPROCS(0))
}

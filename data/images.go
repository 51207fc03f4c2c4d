package data

import (
	"fmt"
	"math"
)

// Source is a random-access collection of equally sized uint8 images in HWC
// layout. Images satisfies it, and so do file-backed pools (NPYImages) and
// lazily decoded image folders, so the pipeline never needs the whole pool in
// memory.
type Source interface {
	// Len returns the number of images.
	Len() int
	// Dims returns the height, width and channel count of every image.
	Dims() (h, w, c int)
	// Image copies image i (HWC, h*w*c bytes) into dst.
	Image(i int, dst []uint8) error
}

// Images is a data set held in memory: N images of H x W x C uint8 pixels in
// NHWC order, with one label per image (Labels is nil for unlabelled pools).
type Images struct {
	N, H, W, C int
	// Pix holds N*H*W*C bytes, image after image, row after row, channels
	// interleaved (NHWC).
	Pix []uint8
	// Labels holds N class indices (0-based), or nil for unlabelled pools.
	Labels []int32
}

// NewImages allocates a zeroed labelled set of n images of h x w x c.
func NewImages(n, h, w, c int, labelled bool) *Images {
	im := &Images{N: n, H: h, W: w, C: c, Pix: make([]uint8, n*h*w*c)}
	if labelled {
		im.Labels = make([]int32, n)
	}
	return im
}

// Len returns N.
func (m *Images) Len() int { return m.N }

// Dims returns H, W, C.
func (m *Images) Dims() (h, w, c int) { return m.H, m.W, m.C }

// ImageSize returns the number of bytes of one image (H*W*C).
func (m *Images) ImageSize() int { return m.H * m.W * m.C }

// At returns image i as a sub-slice of Pix (no copy).
func (m *Images) At(i int) []uint8 {
	s := m.ImageSize()
	return m.Pix[i*s : (i+1)*s]
}

// Image copies image i into dst.
func (m *Images) Image(i int, dst []uint8) error {
	if i < 0 || i >= m.N {
		return fmt.Errorf("image %d out of range [0, %d)", i, m.N)
	}
	if len(dst) < m.ImageSize() {
		return fmt.Errorf("image buffer of %d bytes, want %d", len(dst), m.ImageSize())
	}
	copy(dst, m.At(i))
	return nil
}

// Check verifies that Pix and Labels have the sizes the shape requires.
func (m *Images) Check() error {
	if m.N < 0 || m.H <= 0 || m.W <= 0 || m.C <= 0 {
		return fmt.Errorf("images: shape %dx%dx%dx%d: want positive H, W, C", m.N, m.H, m.W, m.C)
	}
	if want := m.N * m.ImageSize(); len(m.Pix) != want {
		return fmt.Errorf("images: shape %dx%dx%dx%d needs %d pixel bytes, have %d", m.N, m.H, m.W, m.C, want, len(m.Pix))
	}
	if m.Labels != nil && len(m.Labels) != m.N {
		return fmt.Errorf("images: %d images but %d labels", m.N, len(m.Labels))
	}
	return nil
}

// Subset returns a new set holding the images at idx, in that order.
func (m *Images) Subset(idx []int) *Images {
	out := NewImages(len(idx), m.H, m.W, m.C, m.Labels != nil)
	for k, i := range idx {
		copy(out.At(k), m.At(i))
		if m.Labels != nil {
			out.Labels[k] = m.Labels[i]
		}
	}
	return out
}

// Materialize reads every image of src into memory, in one goroutine.
func Materialize(src Source) (*Images, error) { return MaterializeParallel(src, 1) }

// planarToHWC converts one image stored as C planes of H x W (CHW, as in the
// CIFAR binary and ImageNet 64x64 files) into HWC order.
func planarToHWC(dst, src []uint8, h, w, c int) {
	plane := h * w
	for p := range plane {
		for ch := range c {
			dst[p*c+ch] = src[ch*plane+p]
		}
	}
}

// hwcToPlanar is the inverse of planarToHWC.
func hwcToPlanar(dst, src []uint8, h, w, c int) {
	plane := h * w
	for p := range plane {
		for ch := range c {
			dst[ch*plane+p] = src[p*c+ch]
		}
	}
}

func sqrt(x float64) float64 { return math.Sqrt(x) }

// RawSource is a Source that also gives each image as stored, at its own size, before the
// fixed-size transform that Image applies (image folders: decoded, not resized; packed shards;
// in-memory sets: the image itself). A random resized crop (Augment.Resized) reads images this
// way, as torchvision's RandomResizedCrop reads the decoded file.
type RawSource interface {
	Source
	// Raw returns image i as HWC bytes of w x h pixels with the Source's channel count. The
	// slice may be shared with the source (in-memory sets): callers must not modify it.
	Raw(i int) (pix []uint8, w, h int, err error)
}

// Raw returns image i itself (no copy).
func (m *Images) Raw(i int) ([]uint8, int, int, error) {
	if i < 0 || i >= m.N {
		return nil, 0, 0, fmt.Errorf("image %d out of range [0, %d)", i, m.N)
	}
	return m.At(i), m.W, m.H, nil
}

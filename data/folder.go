package data

import (
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // JPEG decoder for image folders
	_ "image/png"  // PNG decoder for image folders
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Transform is a deterministic test-time transform applied to decoded
// images: an optional torchvision-style Resize(int) (shorter side to Resize,
// bilinear) followed by an optional CenterCrop(CropH, CropW). Images that
// differ in size after resizing must be cropped, so that all outputs share
// one shape.
//
// Differences from torchvision + PIL, pixel for pixel: the resize reproduces
// PIL's fixed-point, two-pass (horizontal, then vertical) antialiased
// bilinear filter; JPEG decoding uses Go's image/jpeg, whose IDCT and YCbCr
// to RGB conversion differ from libjpeg-turbo's by up to a few levels on
// some pixels, so decoded JPEG pixels are not bit-identical to PIL's.
type Transform struct {
	Resize       int
	CropH, CropW int
}

// OutSize returns the output size for an input of w x h.
func (t Transform) OutSize(w, h int) (ow, oh int) {
	ow, oh = w, h
	if t.Resize > 0 {
		ow, oh = resizeShorter(w, h, t.Resize)
	}
	if t.CropH > 0 {
		ow, oh = t.CropW, t.CropH
	}
	return ow, oh
}

// resizeShorter gives torchvision's Resize(size) output: the shorter side
// becomes size, the longer int(size * long / short) (truncated).
func resizeShorter(w, h, size int) (int, int) {
	if w <= h {
		return size, int(float64(size) * float64(h) / float64(w))
	}
	return int(float64(size) * float64(w) / float64(h)), size
}

// Apply transforms an RGB HWC image of w x h.
func (t Transform) Apply(pix []uint8, w, h, c int) ([]uint8, int, int) {
	if t.Resize > 0 {
		nw, nh := resizeShorter(w, h, t.Resize)
		if nw != w || nh != h {
			pix = ResizeBilinear(pix, w, h, c, nw, nh)
			w, h = nw, nh
		}
	}
	if t.CropH > 0 {
		pix = CenterCrop(pix, w, h, c, t.CropW, t.CropH)
		w, h = t.CropW, t.CropH
	}
	return pix, w, h
}

// CenterCrop crops the centre ow x oh of an HWC image, with torchvision's
// offsets int(round((h - oh) / 2)) (Python's round: halves to even); an image
// smaller than the crop is first zero-padded, as torchvision does.
func CenterCrop(pix []uint8, w, h, c, ow, oh int) []uint8 {
	if ow > w || oh > h {
		pw, ph := max(w, ow), max(h, oh)
		left, top := (pw-w)/2, (ph-h)/2
		padded := make([]uint8, pw*ph*c)
		for y := range h {
			copy(padded[((y+top)*pw+left)*c:], pix[y*w*c:(y+1)*w*c])
		}
		pix, w, h = padded, pw, ph
	}
	top := int(math.RoundToEven(float64(h-oh) / 2))
	left := int(math.RoundToEven(float64(w-ow) / 2))
	out := make([]uint8, ow*oh*c)
	for y := range oh {
		copy(out[y*ow*c:(y+1)*ow*c], pix[((y+top)*w+left)*c:])
	}
	return out
}

// pilPrecisionBits is the fixed-point precision of PIL's 8-bit resampling
// (libImaging/Resample.c: PRECISION_BITS = 32 - 8 - 2).
const pilPrecisionBits = 22

// pilCoeffs computes, for each output position along one axis, the first
// input index and the fixed-point bilinear (triangle) weights, as PIL does:
// support scaled by the downscale factor (antialiasing), weights normalised
// to sum 1, then rounded to pilPrecisionBits.
func pilCoeffs(in, out int) (starts []int, weights [][]int32) {
	scale := float64(in) / float64(out)
	fscale := max(scale, 1)
	support := 1.0 * fscale
	starts = make([]int, out)
	weights = make([][]int32, out)
	for o := range out {
		center := (float64(o) + 0.5) * scale
		xmin := max(int(center-support+0.5), 0) // C truncation, as PIL
		xmax := min(int(center+support+0.5), in) - xmin
		ws := make([]float64, xmax)
		sum := 0.0
		for x := range xmax {
			v := (float64(x+xmin) - center + 0.5) / fscale
			v = math.Abs(v)
			if v < 1 {
				ws[x] = 1 - v
			}
			sum += ws[x]
		}
		iw := make([]int32, xmax)
		for x := range xmax {
			k := ws[x]
			if sum != 0 {
				k /= sum
			}
			if k < 0 {
				iw[x] = int32(math.Trunc(-0.5 + k*(1<<pilPrecisionBits)))
			} else {
				iw[x] = int32(math.Trunc(0.5 + k*(1<<pilPrecisionBits)))
			}
		}
		starts[o], weights[o] = xmin, iw
	}
	return starts, weights
}

func clip8(v int64) uint8 {
	v >>= pilPrecisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// ResizeBilinear resizes an HWC uint8 image from w x h to ow x oh with PIL's
// Image.resize(BILINEAR) algorithm (what torchvision's Resize uses on PIL
// images): a horizontal pass, rounding to uint8, then a vertical pass. A pass
// whose size does not change is skipped, as in PIL.
func ResizeBilinear(pix []uint8, w, h, c, ow, oh int) []uint8 {
	if ow != w {
		starts, ws := pilCoeffs(w, ow)
		tmp := make([]uint8, ow*h*c)
		for y := range h {
			row := pix[y*w*c:]
			for x := range ow {
				for ch := range c {
					ss := int64(1) << (pilPrecisionBits - 1)
					for k, wt := range ws[x] {
						ss += int64(row[(starts[x]+k)*c+ch]) * int64(wt)
					}
					tmp[(y*ow+x)*c+ch] = clip8(ss)
				}
			}
		}
		pix, w = tmp, ow
	}
	if oh != h {
		starts, ws := pilCoeffs(h, oh)
		tmp := make([]uint8, w*oh*c)
		for y := range oh {
			for x := range w {
				for ch := range c {
					ss := int64(1) << (pilPrecisionBits - 1)
					for k, wt := range ws[y] {
						ss += int64(pix[((starts[y]+k)*w+x)*c+ch]) * int64(wt)
					}
					tmp[(y*w+x)*c+ch] = clip8(ss)
				}
			}
		}
		pix = tmp
	}
	return pix
}

// DecodeRGB decodes a JPEG or PNG file into RGB HWC bytes (grey and other
// colour models converted as PIL's convert("RGB") would, up to decoder
// rounding).
func DecodeRGB(path string) (pix []uint8, w, h int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("image: %s: %w", path, err)
	}
	b := img.Bounds()
	w, h = b.Dx(), b.Dy()
	pix = make([]uint8, w*h*3)
	switch m := img.(type) {
	case *image.Gray:
		for y := range h {
			for x := range w {
				v := m.Pix[y*m.Stride+x]
				i := (y*w + x) * 3
				pix[i], pix[i+1], pix[i+2] = v, v, v
			}
		}
	case *image.NRGBA:
		for y := range h {
			for x := range w {
				s := m.Pix[y*m.Stride+x*4:]
				i := (y*w + x) * 3
				pix[i], pix[i+1], pix[i+2] = s[0], s[1], s[2]
			}
		}
	default:
		for y := range h {
			for x := range w {
				r, g, bb, _ := color.RGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).RGBA()
				i := (y*w + x) * 3
				pix[i], pix[i+1], pix[i+2] = uint8(r>>8), uint8(g>>8), uint8(bb>>8)
			}
		}
	}
	return pix, w, h, nil
}

// isImageFile reports whether name has an image extension torchvision's
// ImageFolder accepts and Go can decode.
func isImageFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg", ".png":
		return true
	}
	return false
}

// FolderImages is an image-folder data set decoded lazily: torchvision
// ImageFolder semantics (classes are the sorted sub-folders of the root,
// images found recursively below each, sorted by path), each image passed
// through a Transform that yields a fixed size.
type FolderImages struct {
	Root      string
	Files     []string // absolute or root-relative paths, one per image
	labels    []int32
	Classes   []string
	Transform Transform
	h, w      int
}

// OpenImageFolder lists an ImageFolder-style tree. t must produce a fixed
// size (set CropH/CropW).
func OpenImageFolder(root string, t Transform) (*FolderImages, error) {
	if t.CropH <= 0 || t.CropW <= 0 {
		return nil, fmt.Errorf("image folder %s: the transform must end in a centre crop (CropH, CropW > 0) so all images share one size", root)
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("image folder: %w", err)
	}
	fi := &FolderImages{Root: root, Transform: t, h: t.CropH, w: t.CropW}
	for _, e := range ents {
		if e.IsDir() {
			fi.Classes = append(fi.Classes, e.Name())
		}
	}
	sort.Strings(fi.Classes)
	for ci, cl := range fi.Classes {
		var files []string
		err := filepath.WalkDir(filepath.Join(root, cl), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && isImageFile(p) {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("image folder: %w", err)
		}
		sort.Strings(files)
		for _, f := range files {
			fi.Files = append(fi.Files, f)
			fi.labels = append(fi.labels, int32(ci))
		}
	}
	if len(fi.Files) == 0 {
		return nil, fmt.Errorf("image folder %s: no .jpg/.jpeg/.png files in class sub-folders (found %d sub-folders)", root, len(fi.Classes))
	}
	return fi, nil
}

// NewFileImages builds a lazily decoded set from an explicit file list
// (unlabelled, all label 0).
func NewFileImages(files []string, t Transform) *FolderImages {
	return &FolderImages{Files: files, labels: make([]int32, len(files)), Transform: t, h: t.CropH, w: t.CropW}
}

// Len returns the number of images.
func (f *FolderImages) Len() int { return len(f.Files) }

// Dims returns the transformed image size (3 channels).
func (f *FolderImages) Dims() (h, w, c int) { return f.h, f.w, 3 }

// Labels returns the class index of every image.
func (f *FolderImages) Labels() []int32 { return f.labels }

// Image decodes and transforms image i into dst.
func (f *FolderImages) Image(i int, dst []uint8) error {
	if i < 0 || i >= len(f.Files) {
		return fmt.Errorf("image folder %s: image %d out of range [0, %d)", f.Root, i, len(f.Files))
	}
	pix, w, h, err := DecodeRGB(f.Files[i])
	if err != nil {
		return err
	}
	pix, w, h = f.Transform.Apply(pix, w, h, 3)
	if w != f.w || h != f.h {
		return fmt.Errorf("image %s: %dx%d after the transform, want %dx%d", f.Files[i], w, h, f.w, f.h)
	}
	copy(dst, pix)
	return nil
}

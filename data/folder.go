package data

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // JPEG decoder for image folders
	_ "image/png"  // PNG decoder for image folders
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
// to sum 1, then rounded to pilPrecisionBits. The weights of output o are
// weights[o*taps : o*taps+counts[o]].
func pilCoeffs(in, out int) (starts, counts []int, weights []int32, taps int) {
	scale := float64(in) / float64(out)
	fscale := max(scale, 1)
	support := 1.0 * fscale
	taps = int(math.Ceil(support))*2 + 1
	starts, counts = make([]int, out), make([]int, out)
	weights = make([]int32, out*taps)
	ws := make([]float64, taps)
	for o := range out {
		center := (float64(o) + 0.5) * scale
		xmin := max(int(center-support+0.5), 0) // C truncation, as PIL
		xmax := min(int(center+support+0.5), in) - xmin
		sum := 0.0
		for x := range xmax {
			v := math.Abs((float64(x+xmin) - center + 0.5) / fscale)
			ws[x] = 0
			if v < 1 {
				ws[x] = 1 - v
			}
			sum += ws[x]
		}
		iw := weights[o*taps : o*taps+xmax]
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
		starts[o], counts[o] = xmin, xmax
	}
	return starts, counts, weights, taps
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

// horizontalRGB is the horizontal pass of resizeRegion for one row of 3-channel pixels.
func horizontalRGB(row, out []uint8, starts, counts []int, ws []int32, taps int) {
	const half = 1 << (pilPrecisionBits - 1)
	for x := range len(out) / 3 {
		r, g, b := int64(half), int64(half), int64(half)
		p := row[starts[x]*3:]
		for k, wt := range ws[x*taps : x*taps+counts[x]] {
			w := int64(wt)
			q := p[k*3 : k*3+3]
			r += int64(q[0]) * w
			g += int64(q[1]) * w
			b += int64(q[2]) * w
		}
		o := out[x*3 : x*3+3]
		o[0], o[1], o[2] = clip8(r), clip8(g), clip8(b)
	}
}

// ResizeBilinear resizes an HWC uint8 image from w x h to ow x oh with PIL's
// Image.resize(BILINEAR) algorithm (what torchvision's Resize uses on PIL
// images): a horizontal pass, rounding to uint8, then a vertical pass. A pass
// whose size does not change is skipped, as in PIL.
func ResizeBilinear(pix []uint8, w, h, c, ow, oh int) []uint8 {
	return resizeRegion(pix, w, c, 0, 0, w, h, ow, oh)
}

// resizeRegion is ResizeBilinear of the rw x rh region at (x0, y0) of an HWC image of width
// stride: PIL's crop followed by resize, without copying the crop first. The result is always a
// new slice.
func resizeRegion(pix []uint8, stride, c, x0, y0, rw, rh, ow, oh int) []uint8 {
	src, srcStride, sx0, sy0 := pix, stride, x0, y0
	if ow != rw {
		starts, counts, ws, taps := pilCoeffs(rw, ow)
		tmp := make([]uint8, ow*rh*c)
		acc := make([]int64, c)
		for y := range rh {
			row := src[((sy0+y)*srcStride+sx0)*c:]
			out := tmp[y*ow*c : (y+1)*ow*c]
			if c == 3 {
				horizontalRGB(row, out, starts, counts, ws, taps)
				continue
			}
			for x := range ow {
				for ch := range acc {
					acc[ch] = 1 << (pilPrecisionBits - 1)
				}
				base := starts[x] * c
				for k, wt := range ws[x*taps : x*taps+counts[x]] {
					p := row[base+k*c : base+k*c+c]
					for ch, v := range p {
						acc[ch] += int64(v) * int64(wt)
					}
				}
				for ch, v := range acc {
					out[x*c+ch] = clip8(v)
				}
			}
		}
		src, srcStride, sx0, sy0 = tmp, ow, 0, 0
	}
	w := ow
	if oh != rh {
		starts, counts, ws, taps := pilCoeffs(rh, oh)
		tmp := make([]uint8, w*oh*c)
		acc := make([]int64, w*c)
		for y := range oh {
			for i := range acc {
				acc[i] = 1 << (pilPrecisionBits - 1)
			}
			for k, wt := range ws[y*taps : y*taps+counts[y]] {
				row := src[((sy0+starts[y]+k)*srcStride+sx0)*c:]
				row = row[:w*c]
				for i, v := range row {
					acc[i] += int64(v) * int64(wt)
				}
			}
			out := tmp[y*w*c : (y+1)*w*c]
			for i, v := range acc {
				out[i] = clip8(v)
			}
		}
		return tmp
	}
	if ow != rw {
		return src
	}
	// Neither size changes: a copy of the region.
	out := make([]uint8, rw*rh*c)
	for y := range rh {
		copy(out[y*rw*c:(y+1)*rw*c], pix[((y0+y)*stride+x0)*c:])
	}
	return out
}

// DecodeRGB decodes a JPEG or PNG file into RGB HWC bytes (grey and other
// colour models converted as PIL's convert("RGB") would, up to decoder
// rounding).
//
// JPEGs are converted to RGB as libjpeg-turbo converts them for Pillow (jpegcolor.go), so that
// only the inverse DCT differs from torchvision's default loader (a few levels at most).
//
// Built with the libjpeg tag (cgo), JPEGs are decoded by libjpeg-turbo instead (FastJPEG),
// byte for byte as Pillow decodes them.
func DecodeRGB(path string) (pix []uint8, w, h int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, 0, err
	}
	return decodeRGB(b, path)
}

// decodeRGB decodes an image file's bytes; name is used in errors.
func decodeRGB(data []byte, name string) (pix []uint8, w, h int, err error) {
	if pix, w, h, ok, err := turboDecode(data); ok {
		if err != nil {
			return nil, 0, 0, fmt.Errorf("image: %s: %w", name, err)
		}
		return pix, w, h, nil
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("image: %s: %w", name, err)
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
	case *image.YCbCr:
		if !ycbcrLibjpeg(pix, m, w, h) {
			ycbcrToRGB(pix, m, w, h)
		}
	case *image.RGBA:
		dropAlpha(pix, m.Pix, m.Stride, w, h)
	case *image.NRGBA:
		dropAlpha(pix, m.Pix, m.Stride, w, h)
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

// dropAlpha copies the R, G and B bytes of 4-byte pixels (rows stride bytes apart) into dst.
func dropAlpha(dst, src []uint8, stride, w, h int) {
	for y := range h {
		for x := range w {
			s := src[y*stride+x*4:]
			i := (y*w + x) * 3
			dst[i], dst[i+1], dst[i+2] = s[0], s[1], s[2]
		}
	}
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
		files, err := imageFiles(filepath.Join(root, cl))
		if err != nil {
			return nil, fmt.Errorf("image folder: %w", err)
		}
		fi.add(files, int32(ci))
	}
	if len(fi.Files) == 0 {
		return nil, fmt.Errorf("image folder %s: no .jpg/.jpeg/.png files in class sub-folders (found %d sub-folders)", root, len(fi.Classes))
	}
	return fi, nil
}

// add appends files, all of class label.
func (f *FolderImages) add(files []string, label int32) {
	f.Files = append(f.Files, files...)
	for range files {
		f.labels = append(f.labels, label)
	}
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

// Raw decodes image i without the transform (RawSource).
func (f *FolderImages) Raw(i int) ([]uint8, int, int, error) {
	if i < 0 || i >= len(f.Files) {
		return nil, 0, 0, fmt.Errorf("image folder %s: image %d out of range [0, %d)", f.Root, i, len(f.Files))
	}
	return DecodeRGB(f.Files[i])
}

// ycbcrToRGB converts a decoded JPEG's YCbCr planes to RGB with Go's own conversion
// (color.YCbCrToRGB, which is also what color.RGBAModel gives), reading the planes directly
// instead of through the image.Image interface, pixel by pixel.
func ycbcrToRGB(dst []uint8, m *image.YCbCr, w, h int) {
	b := m.Rect
	for y := range h {
		yi := m.YOffset(b.Min.X, b.Min.Y+y)
		ci := m.COffset(b.Min.X, b.Min.Y+y)
		out := dst[y*w*3 : (y+1)*w*3]
		switch m.SubsampleRatio {
		case image.YCbCrSubsampleRatio444:
			for x := range w {
				r, g, bb := color.YCbCrToRGB(m.Y[yi+x], m.Cb[ci+x], m.Cr[ci+x])
				out[x*3], out[x*3+1], out[x*3+2] = r, g, bb
			}
		case image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio422:
			for x := range w {
				c := ci + (b.Min.X+x)/2 - b.Min.X/2
				r, g, bb := color.YCbCrToRGB(m.Y[yi+x], m.Cb[c], m.Cr[c])
				out[x*3], out[x*3+1], out[x*3+2] = r, g, bb
			}
		default:
			for x := range w {
				c := m.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bb := color.YCbCrToRGB(m.Y[yi+x], m.Cb[c], m.Cr[c])
				out[x*3], out[x*3+1], out[x*3+2] = r, g, bb
			}
		}
	}
}

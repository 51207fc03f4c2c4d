package data

import (
	"encoding/json"
	"image"
	"image/color"
	"math"
	"os"
	"slices"
	"sort"
	"testing"
)

// The goldens of these tests come from torchvision 0.14 and Pillow 9.4:
// testdata/gen_transform_goldens.py.

const transformDir = "testdata/transforms/"

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(transformDir + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func readU8NPY(t *testing.T, name string) ([]uint8, []int) {
	t.Helper()
	a, err := ReadNPY(transformDir + name)
	if err != nil {
		t.Fatal(err)
	}
	return a.Values.([]uint8), a.Shape
}

type rrcCase struct {
	Top, Left, H, W int
	Flip            bool
}

// TestResizedCropMatchesTorchvision pins the geometry of RandomResizedCrop + flip: for given
// boxes, F.resized_crop + F.hflip on a PIL image, byte for byte from a PNG.
func TestResizedCropMatchesTorchvision(t *testing.T) {
	var spec struct {
		Size  int
		Cases []rrcCase
	}
	readJSON(t, "rrc_cases.json", &spec)
	pix, w, _, err := DecodeRGB(transformDir + "photo.png")
	if err != nil {
		t.Fatal(err)
	}
	want, shape := readU8NPY(t, "rrc_png.npy")
	if shape[0] != len(spec.Cases) || shape[1] != spec.Size {
		t.Fatalf("golden shape %v for %d cases of size %d", shape, len(spec.Cases), spec.Size)
	}
	n := spec.Size * spec.Size * 3
	for k, c := range spec.Cases {
		got := ResizedCropImage(pix, w, 3, Box{Top: c.Top, Left: c.Left, H: c.H, W: c.W}, spec.Size, c.Flip)
		if i := firstDiff(got, want[k*n:(k+1)*n]); i >= 0 {
			t.Errorf("case %d %+v: byte %d = %d, torchvision %d", k, c, i, got[i], want[k*n+i])
		}
	}
}

func firstDiff(a, b []uint8) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

func maxAbsDiff(a, b []uint8) int {
	m := 0
	for i := range a {
		d := int(a[i]) - int(b[i])
		m = max(m, d, -d)
	}
	return m
}

// jpegDecodeTolerance is the largest difference, in levels of 0-255, allowed between Go's
// decoding of a JPEG and Pillow's (libjpeg-turbo's), and so on any transform of it. With
// libjpeg's chroma upsampling and colour tables (jpegcolor.go) only the inverse DCTs differ:
// 3 levels at most on these files, 0.05 on average. With Go's own colour model (chroma samples
// repeated) the same test image differed by up to 121 levels, 6.9 on average.
//
// Built with the libjpeg tag, decoding is libjpeg-turbo's own and must be exact.
var jpegDecodeTolerance = map[bool]int{false: 3, true: 0}[FastJPEG]

// TestResizedCropFromJPEG states how far the whole path from a JPEG file is from torchvision's:
// the same boxes on Go's and Pillow's decoding of the same file.
func TestResizedCropFromJPEG(t *testing.T) {
	var spec struct {
		Size  int
		Cases []rrcCase
	}
	readJSON(t, "rrc_cases.json", &spec)
	pix, w, h, err := DecodeRGB(transformDir + "photo.jpg")
	if err != nil {
		t.Fatal(err)
	}
	pil, _ := readU8NPY(t, "jpeg_decoded.npy")
	decodeDiff := maxAbsDiff(pix, pil)
	mean := 0.0
	for i := range pix {
		mean += math.Abs(float64(pix[i]) - float64(pil[i]))
	}
	mean /= float64(len(pix))
	t.Logf("%dx%d JPEG: decoded pixels differ from Pillow's by at most %d levels, %.2f on average", w, h, decodeDiff, mean)
	if decodeDiff > jpegDecodeTolerance || mean > 0.1 || FastJPEG && mean != 0 {
		t.Errorf("decoded JPEG: max difference %d (tolerance %d), mean %.2f (tolerance 0.1)", decodeDiff, jpegDecodeTolerance, mean)
	}
	want, _ := readU8NPY(t, "rrc_jpg.npy")
	n := spec.Size * spec.Size * 3
	worst := 0
	for k, c := range spec.Cases {
		got := ResizedCropImage(pix, w, 3, Box{Top: c.Top, Left: c.Left, H: c.H, W: c.W}, spec.Size, c.Flip)
		worst = max(worst, maxAbsDiff(got, want[k*n:(k+1)*n]))
	}
	t.Logf("resized crops of the JPEG: at most %d levels from torchvision's", worst)
	if worst > jpegDecodeTolerance {
		t.Errorf("resized crops of the JPEG differ by %d levels, tolerance %d", worst, jpegDecodeTolerance)
	}
}

// TestImageNetTestTransform pins Resize(s) + CenterCrop(c) against transforms.Compose.
func TestImageNetTestTransform(t *testing.T) {
	for _, tc := range []struct {
		in, golden   string
		resize, crop int
	}{{"photo.png", "test_png.npy", 40, 32}, {"big.png", "test_big.npy", 256, 224}} {
		pix, w, h, err := DecodeRGB(transformDir + tc.in)
		if err != nil {
			t.Fatal(err)
		}
		tr := Transform{Resize: tc.resize, CropH: tc.crop, CropW: tc.crop}
		got, gw, gh := tr.Apply(pix, w, h, 3)
		want, shape := readU8NPY(t, tc.golden)
		if gw != shape[1] || gh != shape[0] {
			t.Fatalf("%s: %dx%d, torchvision %dx%d", tc.in, gw, gh, shape[1], shape[0])
		}
		if i := firstDiff(got, want); i >= 0 {
			t.Errorf("%s Resize(%d)+CenterCrop(%d): byte %d = %d, torchvision %d", tc.in, tc.resize, tc.crop, i, got[i], want[i])
		}
	}
}

// TestResizedCropFallback checks the centre-crop fallback against get_params on images where
// no attempt can fit.
func TestResizedCropFallback(t *testing.T) {
	var cases []struct{ W, H, Top, Left, BH, BW int }
	readJSON(t, "rrc_fallback.json", &cases)
	rc := ImageNetAugment(224).Resized
	for _, c := range cases {
		for seed := range uint64(3) {
			box, _ := ResizedCropParams(Augment{Resized: rc}, seed, 1, 0, 0, c.W, c.H)
			want := Box{Top: c.Top, Left: c.Left, H: c.BH, W: c.BW}
			if box != want {
				t.Errorf("%dx%d seed %d: %+v, torchvision %+v", c.W, c.H, seed, box, want)
			}
		}
	}
	// Attempts are made in order and the first that fits is taken: a source that draws the
	// whole area at aspect 1 on a square image gives the whole image without any fallback.
	calls := 0
	box := rc.Params(10, 10, func(a, b float64) float64 {
		calls++
		if calls == 1 {
			return b // the whole area ...
		}
		return (a + b) / 2 // ... at aspect ratio exp(0) = 1
	}, func(n int) int { return n - 1 })
	if box != (Box{0, 0, 10, 10}) || calls != 2 {
		t.Errorf("whole-area draw: %+v after %d uniforms, want the whole image after 2", box, calls)
	}
	// Ten misses, then the fallback: 20 uniforms drawn, none placed.
	calls = 0
	box = rc.Params(10, 10, func(a, b float64) float64 {
		calls++
		if calls%2 == 1 {
			return 1 // whole area ...
		}
		return b // ... at aspect 4/3: 12 x 9 does not fit
	}, func(int) int { t.Fatal("a box was placed"); return 0 })
	if box != (Box{0, 0, 10, 10}) || calls != 20 {
		t.Errorf("ten misses: %+v after %d uniforms, want the whole image after 20", box, calls)
	}
}

// TestResizedCropDistribution compares 20,000 boxes per image size with torchvision's
// (summary statistics of get_params in the golden file; tolerances about five standard errors).
func TestResizedCropDistribution(t *testing.T) {
	b, err := os.ReadFile(transformDir + "rrc_stats.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw []map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	aug := ImageNetAugment(224)
	for _, s := range raw {
		w, h, n := int(s["w"].(float64)), int(s["h"].(float64)), int(s["n"].(float64))
		var area, logr, top, left []float64
		full := 0
		for i := range n {
			box, _ := ResizedCropParams(aug, 7, 1, i/1000, i, w, h)
			area = append(area, float64(box.H*box.W)/float64(w*h))
			logr = append(logr, math.Log(float64(box.W)/float64(box.H)))
			if h > box.H {
				top = append(top, float64(box.Top)/float64(h-box.H))
			}
			if w > box.W {
				left = append(left, float64(box.Left)/float64(w-box.W))
			}
			if box.H == h && box.W == w {
				full++
			}
		}
		se := func(std float64) float64 { return 5 * std * math.Sqrt(2/float64(n)) }
		check := func(what string, got, want, tol float64) {
			if math.Abs(got-want) > tol {
				t.Errorf("%dx%d: %s %.4f, torchvision %.4f (tolerance %.4f)", w, h, what, got, want, tol)
			}
		}
		areaStd := s["area_std"].(float64)
		check("mean area share", meanOf(area), s["area_mean"].(float64), se(areaStd))
		check("std of area share", stdOf(area), areaStd, 0.01)
		for k, q := range []float64{0.1, 0.5, 0.9} {
			check("area quantile", quantileOf(area, q), s["area_q"].([]any)[k].(float64), 0.02)
		}
		check("mean log aspect", meanOf(logr), s["logr_mean"].(float64), se(s["logr_std"].(float64)))
		check("std of log aspect", stdOf(logr), s["logr_std"].(float64), 0.01)
		check("mean relative top", meanOf(top), s["top_mean"].(float64), 0.015)
		check("mean relative left", meanOf(left), s["left_mean"].(float64), 0.015)
		check("share of whole-image boxes", float64(full)/float64(n), s["full_share"].(float64), 0.01)
	}
}

func meanOf(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func stdOf(v []float64) float64 {
	m := meanOf(v)
	s := 0.0
	for _, x := range v {
		s += (x - m) * (x - m)
	}
	return math.Sqrt(s / float64(len(v)))
}

// quantileOf is NumPy's default (linear) quantile.
func quantileOf(v []float64, q float64) float64 {
	s := slices.Clone(v)
	sort.Float64s(s)
	pos := q * float64(len(s)-1)
	lo := int(pos)
	if lo+1 >= len(s) {
		return s[lo]
	}
	return s[lo] + (pos-float64(lo))*(s[lo+1]-s[lo])
}

// TestResizedCropParamsDeterministic: the box of an image depends on (seed, stream, epoch,
// index) only, and each of them changes it.
func TestResizedCropParamsDeterministic(t *testing.T) {
	aug := ImageNetAugment(224)
	b0, f0 := ResizedCropParams(aug, 1, 2, 3, 4, 500, 375)
	b1, f1 := ResizedCropParams(aug, 1, 2, 3, 4, 500, 375)
	if b0 != b1 || f0 != f1 {
		t.Fatal("same inputs, different boxes")
	}
	same := 0
	for _, args := range [][4]int{{9, 2, 3, 4}, {1, 9, 3, 4}, {1, 2, 9, 4}, {1, 2, 3, 9}} {
		b, _ := ResizedCropParams(aug, uint64(args[0]), uint64(args[1]), args[2], args[3], 500, 375)
		if b == b0 {
			same++
		}
	}
	if same > 0 {
		t.Errorf("%d of 4 changed inputs kept the box", same)
	}
	flips := 0
	for i := range 2000 {
		if _, f := ResizedCropParams(aug, 1, 2, 0, i, 500, 375); f {
			flips++
		}
	}
	if flips < 900 || flips > 1100 {
		t.Errorf("%d flips in 2000, want about 1000", flips)
	}
}

// TestDecodeJPEGLikePillow: decoded JPEGs against Pillow's decoding (libjpeg-turbo), for every
// chroma subsampling Pillow writes, greyscale and an odd size. With libjpeg's chroma
// upsampling and colour tables only the inverse DCTs differ.
func TestDecodeJPEGLikePillow(t *testing.T) {
	for _, name := range []string{"sub_444", "sub_422", "sub_420", "sub_grey", "sub_odd"} {
		got, w, h, err := DecodeRGB(transformDir + name + ".jpg")
		if err != nil {
			t.Fatal(err)
		}
		want, shape := readU8NPY(t, name+".npy")
		if shape[0] != h || shape[1] != w {
			t.Fatalf("%s: %dx%d, Pillow %dx%d", name, w, h, shape[1], shape[0])
		}
		d, mean := maxAbsDiff(got, want), meanAbsDiff(got, want)
		t.Logf("%s: at most %d levels from Pillow, %.3f on average", name, d, mean)
		if d > jpegDecodeTolerance || mean > 0.1 {
			t.Errorf("%s: max difference %d (tolerance %d), mean %.3f (tolerance 0.1)", name, d, jpegDecodeTolerance, mean)
		}
	}
}

func meanAbsDiff(a, b []uint8) float64 {
	s := 0.0
	for i := range a {
		s += math.Abs(float64(a[i]) - float64(b[i]))
	}
	return s / float64(len(a))
}

// TestDecodeOtherSubsamplings: subsamplings libjpeg's fancy filter is not used for here
// (4:4:0, and chroma two samples wide) are converted as Go's colour model converts them.
func TestDecodeOtherSubsamplings(t *testing.T) {
	for _, tc := range []struct {
		w, h int
		sub  image.YCbCrSubsampleRatio
	}{{7, 6, image.YCbCrSubsampleRatio440}, {4, 5, image.YCbCrSubsampleRatio420}, {3, 2, image.YCbCrSubsampleRatio422}, {9, 5, image.YCbCrSubsampleRatio411}} {
		m := image.NewYCbCr(image.Rect(0, 0, tc.w, tc.h), tc.sub)
		for i := range m.Y {
			m.Y[i] = uint8(i * 37)
		}
		for i := range m.Cb {
			m.Cb[i], m.Cr[i] = uint8(i*91+7), uint8(255-i*53)
		}
		got := make([]uint8, tc.w*tc.h*3)
		if ycbcrLibjpeg(got, m, tc.w, tc.h) {
			t.Fatalf("%v %dx%d: converted with the fancy filter", tc.sub, tc.w, tc.h)
		}
		ycbcrToRGB(got, m, tc.w, tc.h)
		if i := firstDiff(got, slowRGB(m)); i >= 0 {
			t.Errorf("%v: byte %d differs from Go's colour model", tc.sub, i)
		}
	}
}

func slowRGB(img image.Image) []uint8 {
	b := img.Bounds()
	out := make([]uint8, 0, b.Dx()*b.Dy()*3)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bb, _ := color.RGBAModel.Convert(img.At(x, y)).RGBA()
			out = append(out, uint8(r>>8), uint8(g>>8), uint8(bb>>8))
		}
	}
	return out
}

// TestLoaderResizedCrop: a loader with the ImageNet augmentation gives, per image, the
// resized crop of the drawn box, normalised, whatever the worker count, and refuses a source
// that cannot give images as stored.
func TestLoaderResizedCrop(t *testing.T) {
	m := Synthetic(SyntheticConfig{N: 12, H: 30, W: 20, C: 3, Classes: 3, Look: 1, Draw: 2})
	aug := ImageNetAugment(16)
	norm := Normalize{Mean: []float32{0.5, 0.4, 0.3}, Std: []float32{0.2, 0.25, 0.3}}
	var first []float32
	for _, workers := range []int{1, 3} {
		l := TrainLoader(m, 5, 11, aug, norm)
		l.Workers = workers
		if h, w, _ := l.OutDims(); h != 16 || w != 16 {
			t.Fatalf("OutDims %dx%d, want 16x16", h, w)
		}
		b, err := l.Batch(1, 1)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = b.X
		} else if !slices.Equal(first, b.X) {
			t.Fatal("batch depends on the worker count")
		}
		for k, i := range b.Index {
			box, flip := ResizedCropParams(aug, 11, l.Stream, 1, i, 20, 30)
			want := ResizedCropImage(m.At(i), 20, 3, box, 16, flip)
			for p, v := range want {
				ch := p % 3
				ref := (float64(v)/255 - float64(norm.Mean[ch])) / float64(norm.Std[ch])
				if got := float64(b.X[k*16*16*3+p]); math.Abs(got-ref) > 1e-5 {
					t.Fatalf("image %d value %d: %v, want %v", i, p, got, ref)
				}
			}
		}
	}
	l := &Loader{Src: fixedOnly{m}, BatchSize: 2, Order: Sequential{N: 12}, Aug: &aug}
	if _, err := l.Batch(0, 0); err == nil {
		t.Fatal("a source without Raw was accepted for a resized crop")
	}
}

// fixedOnly hides the Raw method of a source.
type fixedOnly struct{ src Source }

func (f fixedOnly) Len() int                       { return f.src.Len() }
func (f fixedOnly) Dims() (int, int, int)          { return f.src.Dims() }
func (f fixedOnly) Image(i int, dst []uint8) error { return f.src.Image(i, dst) }

package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// ResizedCrop is torchvision's RandomResizedCrop(Size, scale=Scale, ratio=Ratio) with bilinear
// resampling on PIL images, the training transform of every ImageNet recipe: a box of random
// area (a share of the image drawn uniformly from Scale) and random aspect ratio (log-uniform in
// Ratio) is cut from the image as stored and resized to Size x Size. A zero Size means no
// resized crop.
type ResizedCrop struct {
	Size  int
	Scale [2]float64
	Ratio [2]float64
}

// ImageNetAugment returns the standard ImageNet training augmentation at size x size:
// RandomResizedCrop(size, scale=(0.08, 1), ratio=(3/4, 4/3)) then RandomHorizontalFlip(), as
// torchvision's reference training script and every ImageNet OOD recipe apply it.
func ImageNetAugment(size int) Augment {
	return Augment{Flip: true, Resized: ResizedCrop{Size: size, Scale: [2]float64{0.08, 1}, Ratio: [2]float64{3.0 / 4, 4.0 / 3}}}
}

// rrcAttempts is how many boxes torchvision draws before it falls back to a centre crop
// (RandomResizedCrop.get_params).
const rrcAttempts = 10

// Box is a crop rectangle of an image: rows [Top, Top+H), columns [Left, Left+W).
type Box struct {
	Top, Left, H, W int
}

// Params draws the crop box for a w x h image the way torchvision's
// RandomResizedCrop.get_params does, with uniform(a, b) and intn(n) (a uniform integer in
// [0, n)) as its random source: up to 10 attempts of area share uniform in Scale and log aspect
// ratio uniform in log Ratio, sides rounded half to even (Python's round), the first box that
// fits placed uniformly; if none fits, the largest centred box whose aspect ratio is within
// Ratio (the whole image when its own ratio is).
func (rc ResizedCrop) Params(w, h int, uniform func(a, b float64) float64, intn func(n int) int) Box {
	area := float64(w * h)
	logLo, logHi := math.Log(rc.Ratio[0]), math.Log(rc.Ratio[1])
	for range rrcAttempts {
		target := area * uniform(rc.Scale[0], rc.Scale[1])
		aspect := math.Exp(uniform(logLo, logHi))
		cw := int(math.RoundToEven(math.Sqrt(target * aspect)))
		ch := int(math.RoundToEven(math.Sqrt(target / aspect)))
		if cw > 0 && cw <= w && ch > 0 && ch <= h {
			top := intn(h - ch + 1)
			left := intn(w - cw + 1)
			return Box{Top: top, Left: left, H: ch, W: cw}
		}
	}
	return rc.fallback(w, h)
}

// fallback is get_params' centre crop after ten failed attempts.
func (rc ResizedCrop) fallback(w, h int) Box {
	inRatio := float64(w) / float64(h)
	lo, hi := min(rc.Ratio[0], rc.Ratio[1]), max(rc.Ratio[0], rc.Ratio[1])
	cw, ch := w, h
	switch {
	case inRatio < lo:
		ch = int(math.RoundToEven(float64(cw) / lo))
	case inRatio > hi:
		cw = int(math.RoundToEven(float64(ch) * hi))
	}
	return Box{Top: (h - ch) / 2, Left: (w - cw) / 2, H: ch, W: cw}
}

// Check reports whether the parameters are usable.
func (rc ResizedCrop) Check() error {
	switch {
	case rc.Size <= 0:
		return fmt.Errorf("resized crop: size %d, want > 0", rc.Size)
	case !(rc.Scale[0] > 0 && rc.Scale[0] <= rc.Scale[1]):
		return fmt.Errorf("resized crop: scale %v, want 0 < lo <= hi", rc.Scale)
	case !(rc.Ratio[0] > 0 && rc.Ratio[0] <= rc.Ratio[1]):
		return fmt.Errorf("resized crop: ratio %v, want 0 < lo <= hi", rc.Ratio)
	}
	return nil
}

// ResizedCropParams returns the crop box and flip of source image i in epoch e for an image
// of w x h pixels: a pure function of (seed, stream, epoch, i, w, h), so any worker count and a
// resumed run give the same boxes. The draws come from a PCG generator seeded with those
// values; torchvision draws from PyTorch's generator, so individual boxes differ from a
// PyTorch run while their distribution is the same (tested).
func ResizedCropParams(aug Augment, seed, stream uint64, epoch, i, w, h int) (Box, bool) {
	rng := rand.New(rand.NewPCG(mix64(seed, stream), mix64(mix64(uint64(epoch), uint64(i)), 0x7272632d)))
	box := aug.Resized.Params(w, h,
		func(a, b float64) float64 { return a + (b-a)*rng.Float64() },
		func(n int) int { return rng.IntN(n) })
	flip := aug.Flip && rng.Uint64()>>63 == 1
	return box, flip
}

// ResizedCropImage cuts box out of an HWC image of width w and resizes it to size x size with
// PIL's bilinear filter, then mirrors it left to right when flip is set: torchvision's
// F.resized_crop on a PIL image followed by F.hflip, byte for byte.
func ResizedCropImage(pix []uint8, w, c int, box Box, size int, flip bool) []uint8 {
	out := resizeRegion(pix, w, c, box.Left, box.Top, box.W, box.H, size, size)
	if flip {
		flipHorizontal(out, size, size, c)
	}
	return out
}

// flipHorizontal mirrors an HWC image left to right in place.
func flipHorizontal(pix []uint8, w, h, c int) {
	for y := range h {
		row := pix[y*w*c : (y+1)*w*c]
		for x := range w / 2 {
			a, b := x*c, (w-1-x)*c
			for ch := range c {
				row[a+ch], row[b+ch] = row[b+ch], row[a+ch]
			}
		}
	}
}

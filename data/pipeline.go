package data

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
)

// Augment is the training augmentation of the paper: a random crop of
// CropH x CropW from the image zero-padded by Pad pixels on each side, then
// a horizontal flip with probability 1/2 (torchvision RandomCrop(32,
// padding=4) + RandomHorizontalFlip()). CropH/CropW 0 mean the input size,
// so the same value works for 32x32 CIFAR and 28x28 MNIST; ImageNet-RC uses
// Pad 0 and a 32x32 crop of its 64x64 images.
//
// With Resized set (Resized.Size > 0), Pad, CropH and CropW are unused: the augmentation is
// torchvision's RandomResizedCrop on the image as stored (RawSource), then the flip
// (ImageNetAugment).
type Augment struct {
	Pad          int
	CropH, CropW int
	Flip         bool
	Resized      ResizedCrop
}

// PaperAugment returns the DOS training augmentation: 4-pixel zero
// padding, random crop to the input size, random horizontal flip.
func PaperAugment() Augment { return Augment{Pad: 4, Flip: true} }

// Normalize holds per-channel mean and standard deviation on the 0..1 scale:
// a pixel p becomes (p/255 - Mean[c]) / Std[c], as ToTensor + Normalize.
// Padding pixels are raw zeros before normalisation, as in torchvision where
// padding happens on the PIL image. Empty Mean/Std give p/255.
type Normalize struct {
	Mean, Std []float32
}

// OfficialNormalize returns the normalisation the official code applies when name is the ID
// set: the DOS code's per-set values for CIFAR-10 and CIFAR-100 (datasets/__init__.py at
// 47ba80f), torchvision's for ImageNet; false for sets without one.
func OfficialNormalize(name string) (Normalize, bool) {
	switch name {
	case "cifar10", "synthetic-cifar10":
		return Normalize{Mean: []float32{0.4914, 0.4822, 0.4465}, Std: []float32{0.2470, 0.2435, 0.2616}}, true
	case "cifar100", "synthetic-cifar100":
		return Normalize{Mean: []float32{0.5071, 0.4865, 0.4409}, Std: []float32{0.2673, 0.2564, 0.2762}}, true
	case "imagenet1k", "imagenet10":
		return Normalize{Mean: []float32{0.485, 0.456, 0.406}, Std: []float32{0.229, 0.224, 0.225}}, true
	}
	return Normalize{}, false
}

// OENormalize returns, for CIFAR-10 and CIFAR-100, the normalisation of the Outlier Exposure
// and Energy code (mean [125.3, 123.0, 113.9]/255, std [63.0, 62.1, 66.7]/255, the same for
// both sets; also the ATOM/NTOM and POEM code's); false for other sets.
func OENormalize(name string) (Normalize, bool) {
	if name == "cifar10" || name == "cifar100" || name == "synthetic-cifar10" || name == "synthetic-cifar100" {
		return Normalize{
			Mean: []float32{125.3 / 255, 123.0 / 255, 113.9 / 255},
			Std:  []float32{63.0 / 255, 62.1 / 255, 66.7 / 255},
		}, true
	}
	return Normalize{}, false
}

// ComputeNormalize returns the per-channel mean and (population) standard
// deviation of m's pixels on the 0..1 scale.
func ComputeNormalize(m *Images) Normalize {
	return statsNormalize(ChannelStats(m))
}

// statsNormalize turns per-channel statistics on the 0..255 scale into a Normalize.
func statsNormalize(mean, std []float64) Normalize {
	n := Normalize{Mean: make([]float32, len(mean)), Std: make([]float32, len(std))}
	for c := range mean {
		n.Mean[c] = float32(mean[c] / 255)
		n.Std[c] = float32(std[c] / 255)
	}
	return n
}

// ChannelStats returns the per-channel mean and population standard
// deviation of the raw pixels (0..255 scale).
func ChannelStats(m *Images) (mean, std []float64) {
	s := newChannelSums(m.C)
	s.add(m.Pix)
	return s.stats()
}

// channelSums accumulates the per-channel sums of HWC pixels and of their squares.
type channelSums struct {
	sum, sq []float64
	n       int // pixels added, per channel
}

func newChannelSums(c int) *channelSums {
	return &channelSums{sum: make([]float64, c), sq: make([]float64, c)}
}

func (s *channelSums) add(pix []uint8) {
	c := len(s.sum)
	for i, p := range pix {
		v := float64(p)
		s.sum[i%c] += v
		s.sq[i%c] += v * v
	}
	s.n += len(pix) / c
}

// stats returns the mean and population standard deviation of what was added.
func (s *channelSums) stats() (mean, std []float64) {
	cnt := float64(s.n)
	mean, std = make([]float64, len(s.sum)), make([]float64, len(s.sum))
	for c := range s.sum {
		mean[c] = s.sum[c] / cnt
		v := s.sq[c]/cnt - mean[c]*mean[c]
		if v > 0 {
			std[c] = sqrt(v)
		}
	}
	return mean, std
}

// Order chooses which source indices an epoch visits, in which order.
type Order interface {
	// Indices returns the visit order of epoch (0-based).
	Indices(epoch int) []int
}

// Shuffled visits all N indices in a fresh permutation each epoch. The
// permutation of epoch e is drawn from a PCG source seeded with (Seed, e),
// so it does not depend on earlier epochs: a restart at epoch e sees the
// same order.
type Shuffled struct {
	N    int
	Seed uint64
}

// Indices returns the permutation of the epoch.
func (s Shuffled) Indices(epoch int) []int {
	return rand.New(rand.NewPCG(s.Seed, mix64(uint64(epoch), 0x7065726d))).Perm(s.N)
}

// Sequential visits 0..N-1 in order every epoch (full-pool scoring passes
// of NTOM and POEM, evaluation).
type Sequential struct{ N int }

// Indices returns 0..N-1.
func (s Sequential) Indices(int) []int {
	out := make([]int, s.N)
	for i := range out {
		out[i] = i
	}
	return out
}

// UniformSubset draws K of N indices uniformly without replacement each
// epoch (the first K of that epoch's permutation): the outliers of OE,
// Energy and Share.
type UniformSubset struct {
	N, K int
	Seed uint64
}

// Indices returns the epoch's K indices.
func (u UniformSubset) Indices(epoch int) []int {
	p := Shuffled{N: u.N, Seed: u.Seed}.Indices(epoch)
	return p[:min(u.K, u.N)]
}

// Batch is one batch of float32 NHWC images ready for a tensor.
type Batch struct {
	// X holds N*H*W*C values, NHWC.
	X          []float32
	N, H, W, C int
	// Labels holds one label per image (nil when the loader has none).
	Labels []int32
	// Index holds the source index of each image.
	Index []int
	// Epoch and Iter locate the batch.
	Epoch, Iter int
}

// Loader turns a Source into batches. The batch at (epoch, iter) is a pure
// function of the loader's fields: the order comes from Order, and the
// augmentation of source image i in epoch e depends only on (Seed, Stream,
// e, i), never on goroutine scheduling, so any Workers value gives the same
// bytes and a run restarted at (epoch, iter) continues exactly.
type Loader struct {
	Src Source
	// Labels are returned with the batches (optional).
	Labels []int32
	// BatchSize is the number of images per batch.
	BatchSize int
	// Order selects the visit order per epoch.
	Order Order
	// Aug is the training augmentation; nil means none (test transform).
	Aug *Augment
	// Norm is applied after augmentation.
	Norm Normalize
	// Seed is the run seed; Stream separates loaders sharing it (ID
	// batches, outlier candidates) so their augmentations are independent.
	Seed, Stream uint64
	// Workers is the number of goroutines per batch (0 = GOMAXPROCS).
	Workers int
	// Prefetch is how many batches Iterate prepares ahead (0 = 2).
	Prefetch int
	// DropLast drops the final partial batch of each epoch.
	DropLast bool
	// MaxIters, when positive, caps the iterations per epoch (the DOS
	// candidate stream has as many iterations as the ID loader).
	MaxIters int

	mu        sync.Mutex
	lastEpoch int
	lastIdx   []int
}

// CandidateStream is the DOS candidate stream: each epoch a fresh
// permutation of the whole pool, cut into slices of c candidates (the last
// partial slice dropped), itersPerEpoch of them, with the training
// augmentation.
func CandidateStream(pool Source, c, itersPerEpoch int, seed uint64, aug Augment, norm Normalize) *Loader {
	return &Loader{Src: pool, BatchSize: c, Order: Shuffled{N: pool.Len(), Seed: mix64(seed, 0xca4d)},
		Aug: &aug, Norm: norm, Seed: seed, Stream: 0xca4d, DropLast: true, MaxIters: itersPerEpoch}
}

// UniformOutliers samples n outliers of the pool uniformly per epoch and
// serves them in batches (OE, Energy, Share), with the training
// augmentation.
func UniformOutliers(pool Source, n, batch int, seed uint64, aug Augment, norm Normalize) *Loader {
	return &Loader{Src: pool, BatchSize: batch, Order: UniformSubset{N: pool.Len(), K: n, Seed: mix64(seed, 0x0e)},
		Aug: &aug, Norm: norm, Seed: seed, Stream: 0x0e, DropLast: true}
}

// ScoringPass visits the whole source in order, without augmentation, in
// batches (the last one may be short): the full-pool passes of NTOM and
// POEM, and evaluation.
func ScoringPass(src Source, labels []int32, batch int, norm Normalize) *Loader {
	return &Loader{Src: src, Labels: labels, BatchSize: batch, Order: Sequential{N: src.Len()}, Norm: norm}
}

// TrainLoader is the ID training loader: a fresh shuffle each epoch, the
// last partial batch dropped, the training augmentation.
func TrainLoader(m *Images, batch int, seed uint64, aug Augment, norm Normalize) *Loader {
	return TrainLoaderSource(m, m.Labels, batch, seed, aug, norm)
}

func (l *Loader) indices(epoch int) []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lastIdx == nil || l.lastEpoch != epoch {
		l.lastIdx, l.lastEpoch = l.Order.Indices(epoch), epoch
	}
	return l.lastIdx
}

// ItersPerEpoch returns the number of batches in an epoch.
func (l *Loader) ItersPerEpoch() int {
	n := len(l.indices(0))
	it := n / l.BatchSize
	if !l.DropLast && n%l.BatchSize != 0 {
		it++
	}
	if l.MaxIters > 0 {
		it = min(it, l.MaxIters)
	}
	return it
}

// OutDims returns the height, width and channels of the batch images.
func (l *Loader) OutDims() (h, w, c int) {
	h, w, c = l.Src.Dims()
	if l.Aug != nil && l.Aug.Resized.Size > 0 {
		return l.Aug.Resized.Size, l.Aug.Resized.Size, c
	}
	if l.Aug != nil && l.Aug.CropH > 0 {
		h, w = l.Aug.CropH, l.Aug.CropW
	}
	return h, w, c
}

// Batch computes the batch at (epoch, iter) directly, using Workers
// goroutines.
func (l *Loader) Batch(epoch, iter int) (*Batch, error) {
	if l.BatchSize <= 0 {
		return nil, fmt.Errorf("loader: batch size %d, want > 0", l.BatchSize)
	}
	if iter < 0 || iter >= l.ItersPerEpoch() {
		return nil, fmt.Errorf("loader: iteration %d out of range [0, %d)", iter, l.ItersPerEpoch())
	}
	idx := l.indices(epoch)
	lo, hi := iter*l.BatchSize, min((iter+1)*l.BatchSize, len(idx))
	ids := append([]int(nil), idx[lo:hi]...)
	ih, iw, ic := l.Src.Dims()
	oh, ow, oc := l.OutDims()
	resized := l.Aug != nil && l.Aug.Resized.Size > 0
	var raw RawSource
	if resized {
		if err := l.Aug.Resized.Check(); err != nil {
			return nil, fmt.Errorf("loader: %w", err)
		}
		var ok bool
		if raw, ok = l.Src.(RawSource); !ok {
			return nil, fmt.Errorf("loader: a random resized crop needs the images as stored, which a %T does not give (see data.RawSource)", l.Src)
		}
	} else if l.Aug != nil && (oh > ih+2*l.Aug.Pad || ow > iw+2*l.Aug.Pad) {
		return nil, fmt.Errorf("loader: crop %dx%d larger than the padded %dx%d image", oh, ow, ih+2*l.Aug.Pad, iw+2*l.Aug.Pad)
	}
	if l.Aug == nil && (oh != ih || ow != iw) {
		return nil, fmt.Errorf("loader: no augmentation but output %dx%d differs from input %dx%d", oh, ow, ih, iw)
	}
	b := &Batch{X: make([]float32, len(ids)*oh*ow*oc), N: len(ids), H: oh, W: ow, C: oc, Index: ids, Epoch: epoch, Iter: iter}
	if l.Labels != nil {
		b.Labels = make([]int32, len(ids))
		for k, i := range ids {
			b.Labels[k] = l.Labels[i]
		}
	}
	scale, bias := l.normCoeffs(ic)
	workers := l.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, len(ids)))
	mem, inMem := l.Src.(*Images)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []uint8
			if !inMem && !resized {
				buf = make([]uint8, ih*iw*ic)
			}
			for k := w; k < len(ids); k += workers {
				i := ids[k]
				dst := b.X[k*oh*ow*oc : (k+1)*oh*ow*oc]
				if resized {
					pix, rw, rh, err := raw.Raw(i)
					if err != nil {
						errs[w] = err
						return
					}
					box, flip := ResizedCropParams(*l.Aug, l.Seed, l.Stream, epoch, i, rw, rh)
					normalizeInto(dst, ResizedCropImage(pix, rw, ic, box, oh, flip), scale, bias)
					continue
				}
				var img []uint8
				if inMem {
					img = mem.At(i)
				} else {
					if err := l.Src.Image(i, buf); err != nil {
						errs[w] = err
						return
					}
					img = buf
				}
				l.augmentOne(dst, img, ih, iw, ic, oh, ow, epoch, i, scale, bias)
			}
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return nil, e
		}
	}
	return b, nil
}

func (l *Loader) normCoeffs(c int) (scale, bias []float32) {
	scale, bias = make([]float32, c), make([]float32, c)
	for ch := range c {
		scale[ch] = 1.0 / 255
		if ch < len(l.Norm.Std) {
			scale[ch] = 1 / (255 * l.Norm.Std[ch])
			bias[ch] = -l.Norm.Mean[ch] / l.Norm.Std[ch]
		}
	}
	return scale, bias
}

// AugmentParams returns the crop offsets (into the padded image) and flip
// of source image i in epoch e: a pure function of (seed, stream, e, i).
func AugmentParams(aug Augment, seed, stream uint64, epoch, i, ih, iw, oh, ow int) (dy, dx int, flip bool) {
	h := mix64(mix64(seed, stream), mix64(uint64(epoch), uint64(i)))
	ry, rx := ih+2*aug.Pad-oh+1, iw+2*aug.Pad-ow+1
	dy = int((h & 0xffff) % uint64(ry))
	dx = int(((h >> 16) & 0xffff) % uint64(rx))
	flip = aug.Flip && (h>>63) == 1
	return dy, dx, flip
}

// normalizeInto writes the HWC pixels of img, scaled and shifted per channel, into dst.
func normalizeInto(dst []float32, img []uint8, scale, bias []float32) {
	c := len(scale)
	for p, v := range img {
		ch := p % c
		dst[p] = float32(v)*scale[ch] + bias[ch]
	}
}

func (l *Loader) augmentOne(dst []float32, img []uint8, ih, iw, c, oh, ow, epoch, i int, scale, bias []float32) {
	if l.Aug == nil {
		normalizeInto(dst, img, scale, bias)
		return
	}
	dy, dx, flip := AugmentParams(*l.Aug, l.Seed, l.Stream, epoch, i, ih, iw, oh, ow)
	pad := l.Aug.Pad
	for y := range oh {
		sy := y + dy - pad
		row := dst[y*ow*c : (y+1)*ow*c]
		if sy < 0 || sy >= ih {
			for x := range ow {
				copy(row[x*c:(x+1)*c], bias)
			}
			continue
		}
		src := img[sy*iw*c : (sy+1)*iw*c]
		for x := range ow {
			sx := x
			if flip {
				sx = ow - 1 - x
			}
			sx += dx - pad
			o := row[x*c : (x+1)*c]
			if sx < 0 || sx >= iw {
				copy(o, bias)
				continue
			}
			s := src[sx*c : (sx+1)*c]
			for ch := range c {
				o[ch] = float32(s[ch])*scale[ch] + bias[ch]
			}
		}
	}
}

// Iterator yields batches in order from a starting (epoch, iteration),
// preparing up to Prefetch batches ahead in a background goroutine.
type Iterator struct {
	out  chan result
	stop chan struct{}
	once sync.Once
}

type result struct {
	b   *Batch
	err error
}

// Iterate starts an iterator at (epoch, iter) that runs until endEpoch
// (exclusive; 0 or less means forever) or Close.
func (l *Loader) Iterate(epoch, iter, endEpoch int) *Iterator {
	pf := l.Prefetch
	if pf <= 0 {
		pf = 2
	}
	it := &Iterator{out: make(chan result, pf), stop: make(chan struct{})}
	go func() {
		defer close(it.out)
		e, k := epoch, iter
		if l.ItersPerEpoch() == 0 {
			it.out <- result{nil, fmt.Errorf("loader: an epoch has no batches (%d images, batch %d)", len(l.indices(0)), l.BatchSize)}
			return
		}
		for endEpoch <= 0 || e < endEpoch {
			if k >= l.ItersPerEpoch() {
				e, k = e+1, 0
				continue
			}
			b, err := l.Batch(e, k)
			select {
			case it.out <- result{b, err}:
			case <-it.stop:
				return
			}
			if err != nil {
				return
			}
			k++
		}
	}()
	return it
}

// Next returns the next batch, or nil and no error at the end.
func (it *Iterator) Next() (*Batch, error) {
	r, ok := <-it.out
	if !ok {
		return nil, nil
	}
	return r.b, r.err
}

// Close stops the background goroutine.
func (it *Iterator) Close() {
	it.once.Do(func() { close(it.stop) })
	for range it.out {
	}
}

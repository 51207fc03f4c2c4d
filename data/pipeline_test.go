package data

import (
	"math"
	"runtime"
	"slices"
	"testing"
)

// refAugment is a direct transcription of torchvision's RandomCrop(padding)
// + RandomHorizontalFlip + ToTensor + Normalize for given parameters:
// explicitly pad, crop, flip, then normalise, in float64.
func refAugment(img []uint8, h, w, c, pad, oh, ow, dy, dx int, flip bool, norm Normalize) []float64 {
	ph, pw := h+2*pad, w+2*pad
	padded := make([]float64, ph*pw*c)
	for y := range h {
		for x := range w {
			for ch := range c {
				padded[((y+pad)*pw+x+pad)*c+ch] = float64(img[(y*w+x)*c+ch])
			}
		}
	}
	out := make([]float64, oh*ow*c)
	for y := range oh {
		for x := range ow {
			for ch := range c {
				out[(y*ow+x)*c+ch] = padded[((y+dy)*pw+x+dx)*c+ch]
			}
		}
	}
	if flip {
		for y := range oh {
			for x := range ow / 2 {
				for ch := range c {
					a, b := (y*ow+x)*c+ch, (y*ow+ow-1-x)*c+ch
					out[a], out[b] = out[b], out[a]
				}
			}
		}
	}
	for i := range out {
		ch := i % c
		out[i] = (out[i]/255 - float64(norm.Mean[ch])) / float64(norm.Std[ch])
	}
	return out
}

func TestAugmentMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		h, w, c, pad, crop int
	}{{32, 32, 3, 4, 0}, {28, 28, 1, 2, 0}, {12, 12, 3, 0, 8}} {
		m := Synthetic(SyntheticConfig{N: 20, H: tc.h, W: tc.w, C: tc.c, Classes: 3, Look: 1, Draw: 2})
		norm := ComputeNormalize(m)
		aug := Augment{Pad: tc.pad, CropH: tc.crop, CropW: tc.crop, Flip: true}
		l := TrainLoader(m, 5, 42, aug, norm)
		oh, ow, _ := l.OutDims()
		flips := 0
		offsets := map[[2]int]bool{}
		for epoch := range 3 {
			for it := range l.ItersPerEpoch() {
				b, err := l.Batch(epoch, it)
				if err != nil {
					t.Fatal(err)
				}
				for k, i := range b.Index {
					dy, dx, flip := AugmentParams(aug, l.Seed, l.Stream, epoch, i, tc.h, tc.w, oh, ow)
					if flip {
						flips++
					}
					offsets[[2]int{dy, dx}] = true
					want := refAugment(m.At(i), tc.h, tc.w, tc.c, tc.pad, oh, ow, dy, dx, flip, norm)
					got := b.X[k*oh*ow*tc.c : (k+1)*oh*ow*tc.c]
					for p := range want {
						if math.Abs(float64(got[p])-want[p]) > 1e-5 {
							t.Fatalf("%v: epoch %d image %d value %d = %v want %v", tc, epoch, i, p, got[p], want[p])
						}
					}
					if b.Labels[k] != m.Labels[i] {
						t.Fatal("label does not follow its image")
					}
				}
			}
		}
		if flips < 15 || flips > 45 {
			t.Errorf("%v: %d flips of 60, want about half", tc, flips)
		}
		if len(offsets) < 20 {
			t.Errorf("%v: only %d distinct crop offsets", tc, len(offsets))
		}
	}
}

func TestLoaderDeterministicAndResumable(t *testing.T) {
	m := Synthetic(SyntheticConfig{N: 50, H: 32, W: 32, C: 3, Classes: 10, Look: 1, Draw: 2})
	mk := func(workers int) *Loader {
		l := TrainLoader(m, 8, 3, PaperAugment(), cifarNorm())
		l.Workers = workers
		return l
	}
	l1, l8 := mk(1), mk(runtime.GOMAXPROCS(0)+5)
	if l1.ItersPerEpoch() != 6 {
		t.Fatalf("iterations %d, want 50/8 = 6 (last partial batch dropped)", l1.ItersPerEpoch())
	}
	// A full run from (0, 0) over 3 epochs with 1 worker ...
	it := l1.Iterate(0, 0, 3)
	var all []*Batch
	for {
		b, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if b == nil {
			break
		}
		all = append(all, b)
	}
	if len(all) != 18 {
		t.Fatalf("%d batches, want 18", len(all))
	}
	// ... equals a run with many workers restarted at (1, 4).
	it8 := l8.Iterate(1, 4, 3)
	defer it8.Close()
	for k := 6 + 4; k < 18; k++ {
		b, err := it8.Next()
		if err != nil || b == nil {
			t.Fatal(err)
		}
		if b.Epoch != all[k].Epoch || b.Iter != all[k].Iter || !slices.Equal(b.Index, all[k].Index) || !slices.Equal(b.X, all[k].X) {
			t.Fatalf("batch %d differs after restart with more workers", k)
		}
	}
	// Epochs are reshuffled; each epoch visits distinct images.
	if slices.Equal(all[0].Index, all[6].Index) {
		t.Fatal("epoch 0 and 1 start with the same batch")
	}
	seen := map[int]bool{}
	for _, b := range all[:6] {
		for _, i := range b.Index {
			if seen[i] {
				t.Fatalf("image %d twice in epoch 0", i)
			}
			seen[i] = true
		}
	}
	// A different seed gives different batches.
	other := TrainLoader(m, 8, 4, PaperAugment(), cifarNorm())
	b0, _ := other.Batch(0, 0)
	if slices.Equal(b0.Index, all[0].Index) {
		t.Fatal("seed does not change the order")
	}
	// Closing an unfinished iterator does not hang.
	l1.Iterate(0, 0, 0).Close()
}

func TestOutlierStreams(t *testing.T) {
	pool := Synthetic(SyntheticConfig{N: 600, H: 32, W: 32, C: 3, Look: 1, Draw: 2})
	// DOS: 600 / 100 x 8 = 48 candidates per iteration, 12 iterations.
	cs := CandidateStream(pool, 48, 12, 7, PaperAugment(), cifarNorm())
	if cs.ItersPerEpoch() != 12 {
		t.Fatalf("candidate iterations %d", cs.ItersPerEpoch())
	}
	for epoch := range 2 {
		seen := map[int]bool{}
		for it := range 12 {
			b, err := cs.Batch(epoch, it)
			if err != nil {
				t.Fatal(err)
			}
			if b.N != 48 || b.Labels != nil {
				t.Fatalf("candidate batch n %d labels %v", b.N, b.Labels)
			}
			for _, i := range b.Index {
				if seen[i] {
					t.Fatalf("candidate %d drawn twice in epoch %d", i, epoch)
				}
				seen[i] = true
			}
		}
		if len(seen) != 576 {
			t.Fatalf("epoch %d: %d distinct candidates, want 576", epoch, len(seen))
		}
	}
	e0, _ := cs.Batch(0, 0)
	e1, _ := cs.Batch(1, 0)
	if slices.Equal(e0.Index, e1.Index) {
		t.Fatal("candidate permutation not fresh per epoch")
	}
	// OE/Energy: 80 uniform outliers per epoch, in batches of 16.
	u := UniformOutliers(pool, 80, 16, 7, PaperAugment(), cifarNorm())
	if u.ItersPerEpoch() != 5 {
		t.Fatalf("uniform iterations %d", u.ItersPerEpoch())
	}
	idx0 := UniformSubset{N: 600, K: 80, Seed: 1}.Indices(0)
	idx1 := UniformSubset{N: 600, K: 80, Seed: 1}.Indices(1)
	if len(idx0) != 80 || slices.Equal(idx0, idx1) {
		t.Fatal("uniform subsets")
	}
	// NTOM/POEM scoring pass: every image once, in order, no augmentation.
	sp := ScoringPass(pool, nil, 64, Normalize{})
	if sp.ItersPerEpoch() != 10 {
		t.Fatalf("scoring iterations %d, want ceil(600/64) = 10", sp.ItersPerEpoch())
	}
	last, _ := sp.Batch(0, 9)
	if last.N != 600-9*64 || last.Index[0] != 576 || math.Abs(float64(last.X[0])-float64(pool.At(576)[0])/255) > 1e-6 {
		t.Fatalf("scoring pass last batch n %d first %d", last.N, last.Index[0])
	}
}

func benchmarkAugment(b *testing.B, workers int) {
	m := Synthetic(SyntheticConfig{N: 4096, H: 32, W: 32, C: 3, Classes: 10, Look: 1, Draw: 2})
	l := TrainLoader(m, 64, 1, PaperAugment(), cifarNorm())
	l.Workers = workers
	iters := l.ItersPerEpoch()
	b.ResetTimer()
	for k := range b.N {
		if _, err := l.Batch(k/iters, k%iters); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
}

// BenchmarkAugmentCIFAR64 measures augmented, normalised 64x32x32x3 batches
// per second from one goroutine and from all cores.
func BenchmarkAugmentCIFAR64(b *testing.B) {
	b.Run("workers=1", func(b *testing.B) { benchmarkAugment(b, 1) })
	b.Run("workers=all", func(b *testing.B) { benchmarkAugment(b, runtime.GOMAXPROCS(0)) })
}

// cifarNorm is the official CIFAR-10 normalisation.
func cifarNorm() Normalize {
	n, _ := OfficialNormalize("cifar10")
	return n
}

package data

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// Input-pipeline throughput: decoded and augmented images per second for the ImageNet training
// transform (RandomResizedCrop(224) + flip + normalisation to float32), from the original JPEG
// files and from packed shards. benchmarks/README.md records the figures and the commands.
//
// The corpus is an image folder named by $OOD_BENCH_IMAGES (testdata/gen_bench_corpus.py writes
// one of ImageNet-like photographs); without it the benchmarks write a synthetic one (stripes
// and noise, sizes 333-500 px), whose files decode at a different speed from photographs'.

func benchCorpus(b *testing.B) (*FolderImages, string) {
	b.Helper()
	dir := os.Getenv("OOD_BENCH_IMAGES")
	if dir == "" {
		dir = b.TempDir()
		syn := filepath.Join(dir, "synthetic")
		var names []string
		for k := range 8 {
			names = append(names, "n0000000"+string(rune('0'+k)))
		}
		if _, _, err := WriteImageNetTree(syn, ImageNetTree{Synsets: names, Train: 8, MinSide: 333, MaxSide: 500, Seed: 9}); err != nil {
			b.Fatal(err)
		}
		dir = filepath.Join(syn, "imagenet", "train")
	}
	fi, err := OpenImageFolder(dir, imagenetTest)
	if err != nil {
		b.Fatal(err)
	}
	return fi, b.TempDir()
}

// benchAugment runs the ImageNet augmentation of src's images through a loader with the given
// workers, one batch of 32 after another, and reports images per second (and per core).
func benchAugment(b *testing.B, src Source, workers int) {
	aug := ImageNetAugment(224)
	l := &Loader{Src: src, Labels: SourceLabels(src), BatchSize: 32, Order: Shuffled{N: src.Len(), Seed: 1}, Aug: &aug,
		Norm: Normalize{Mean: []float32{0.485, 0.456, 0.406}, Std: []float32{0.229, 0.224, 0.225}}, Seed: 1, Workers: workers, DropLast: true}
	if _, err := l.Batch(0, 0); err != nil { // page cache, decoder tables
		b.Fatal(err)
	}
	iters := l.ItersPerEpoch()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuSeconds()
	images := 0
	for i := range b.N {
		bt, err := l.Batch(1+i/iters, i%iters)
		if err != nil {
			b.Fatal(err)
		}
		images += bt.N
	}
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(images)/el, "images/s")
	// Images per second of CPU time used by this process: the per-core rate, which the other
	// processes of a shared machine do not lower as they lower the wall-clock rate.
	b.ReportMetric(float64(images)/(cpuSeconds()-cpu0), "images/cpu-s")
}

// cpuSeconds is the user and system CPU time of the process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// BenchmarkImageNetAugmentFiles: Go's image/jpeg (with libjpeg's colour conversion) reading
// each original file.
func BenchmarkImageNetAugmentFiles(b *testing.B) {
	fi, _ := benchCorpus(b)
	for _, w := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(workersName(w), func(b *testing.B) { benchAugment(b, fi, w) })
	}
}

// BenchmarkImageNetAugmentShards: the same images read from packed shards.
func BenchmarkImageNetAugmentShards(b *testing.B) {
	fi, tmp := benchCorpus(b)
	if _, err := Pack(context.Background(), fi, tmp, "bench", "train", PackOptions{ShardBytes: 8 << 20}); err != nil {
		b.Fatal(err)
	}
	sh, err := OpenShards(tmp, "bench", "train")
	if err != nil {
		b.Fatal(err)
	}
	defer sh.Close()
	for _, w := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(workersName(w), func(b *testing.B) { benchAugment(b, sh, w) })
	}
}

// BenchmarkDecodeJPEG: decoding alone (the share of the pipeline that the decoder costs).
func BenchmarkDecodeJPEG(b *testing.B) {
	fi, _ := benchCorpus(b)
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuSeconds()
	for i := range b.N {
		if _, _, _, err := fi.Raw(i % fi.Len()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "images/s")
	b.ReportMetric(float64(b.N)/(cpuSeconds()-cpu0), "images/cpu-s")
}

func workersName(w int) string {
	if w == 1 {
		return "1-worker"
	}
	return "all-cores"
}

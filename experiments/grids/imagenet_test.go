package grids

import (
	"bytes"
	stdctx "context"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/experiments/train"
	"github.com/oodlab/dos/internal/testutil"
	"github.com/oodlab/dos/models/statedict"
	"github.com/oodlab/dos/sampling"
)

// gridRun returns the run of method and seed 3 of an embedded grid.
func gridRun(t *testing.T, grid, method string) *config.Run {
	t.Helper()
	runs := gridRuns(t, grid, "method="+method+",seed=3")
	if len(runs) != 1 {
		t.Fatalf("%s: %d runs of %s", grid, len(runs), method)
	}
	return runs[0]
}

// TestImageNet10Grid pins the protocol of the imagenet10 grid to its sources (the grid file's
// comment): ImageNet-10 of MCM, the official code's defaults, and the sizes the official code
// derives from its 300,000 candidates per epoch for 13,000 ID training images.
func TestImageNet10Grid(t *testing.T) {
	for _, m := range []string{"msp", "oe", "energy", "ntom", "share", "poem", "dos"} {
		r := gridRun(t, "imagenet10", m)
		b := r.Benchmark
		if b.ID != "imagenet10" || (r.Method.Sampler != config.SamplerNone) != (b.Pool == "imagenet990") || b.ImageSize != 224 || b.Augment != config.AugmentImageNet ||
			!slices.Equal(b.Tests, []string{"inaturalist", "sun", "places", "textures-224"}) {
			t.Fatalf("%s: benchmark %+v", m, b)
		}
		if r.Network != "resnet50" || r.Epochs != 100 || r.Init != "" || r.Batch.ID != 64 || r.Batch.OOD != 64 ||
			r.Optim.LR != 0.1 || !slices.Equal(r.Optim.Milestones, []int{50, 75, 90}) || r.Optim.WeightDecay != 1e-4 || !r.Optim.Nesterov {
			t.Fatalf("%s: not the official defaults: %+v", m, r)
		}
		if r.Method.OutliersPerEpoch > 0 && r.Method.OutliersPerEpoch != 13000 {
			t.Fatalf("%s: %d outliers per epoch, want the 13,000 ID training images", m, r.Method.OutliersPerEpoch)
		}
		switch o := r.Method.SamplerOptions().(type) {
		case *sampling.DOSOptions:
			if want := 300000 * 64 / 13000; o.Candidates != want {
				t.Fatalf("dos: %d candidates per iteration, want int(300000/13000*64) = %d", o.Candidates, want)
			}
		case *sampling.GreedyOptions:
			if o.Scan != 300000 || o.Quantile != 0 {
				t.Fatalf("ntom: scan %d quantile %v, want 300,000 and 0", o.Scan, o.Quantile)
			}
		}
	}
	classes := map[string]bool{}
	for _, c := range data.ImageNet10Classes {
		classes[c] = true
	}
	// MCM's list: data/ImageNet10/class_list.txt at ea7130f.
	for _, c := range strings.Fields("n04552348 n04285008 n01530575 n02123597 n02422699 n02107574 n01641577 n03417042 n02389026 n03095699") {
		if !classes[c] {
			t.Fatalf("ImageNet-10 lacks %s", c)
		}
	}
	if len(classes) != 10 {
		t.Fatalf("ImageNet-10 has %d classes", len(classes))
	}
}

// TestImageNet1KGrid pins the fine-tuning protocol of the imagenet1k grid.
func TestImageNet1KGrid(t *testing.T) {
	for _, m := range []string{"msp", "oe", "energy", "ntom", "share", "poem", "dos"} {
		r := gridRun(t, "imagenet1k", m)
		if r.Init != "datasets/weights/resnet50-0676ba61.pth" || r.Network != "resnet50" || r.Epochs != 10 ||
			r.Optim.LR != 0.001 || r.Optim.Schedule != config.ScheduleCosine || r.Optim.WeightDecay != 5e-4 || !r.Optim.Nesterov ||
			r.Batch.ID != 128 || r.Benchmark.Augment != config.AugmentImageNet || r.Benchmark.ImageSize != 224 {
			t.Fatalf("%s: %+v", m, r)
		}
		if r.Method.OutliersPerEpoch > 0 && r.Method.OutliersPerEpoch != 1281167 {
			t.Fatalf("%s: %d outliers per epoch", m, r.Method.OutliersPerEpoch)
		}
	}
}

// writeFolder writes n small JPEGs under dir (one colour per folder) for the OOD test sets.
func writeFolder(t *testing.T, dir string, n int, seed uint8) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for k := range n {
		img := image.NewRGBA(image.Rect(0, 0, 14+k, 11+2*k))
		for y := range img.Rect.Dy() {
			for x := range img.Rect.Dx() {
				img.Set(x, y, color.RGBA{seed * 40, uint8(x * 9), uint8(y*7) + seed, 255})
			}
		}
		var b bytes.Buffer
		jpeg.Encode(&b, img, nil)
		if err := os.WriteFile(filepath.Join(dir, string(rune('a'+k))+".jpg"), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// syntheticImageNetData writes, under a temporary data directory, ImageNet-1K with the ten
// synsets of ImageNet-10 and three others, the four MOS test sets, Textures and an ImageNet-21K
// pool, all as small JPEGs.
func syntheticImageNetData(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	synsets := append(slices.Clone(data.ImageNet10Classes), "n01440764", "n01443537", "n15075141")
	if _, _, err := data.WriteImageNetTree(dir, data.ImageNetTree{Synsets: synsets, Train: 3, Val: 1, MinSide: 30, MaxSide: 48, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	for i, sub := range []string{"mos/iNaturalist/images", "mos/SUN/images", "mos/Places/images", "dtd/images/banded", "imagenet21k-ood/n00000001", "imagenet21k-ood/n00000002"} {
		writeFolder(t, filepath.Join(dir, sub), 4, uint8(i))
	}
	return dir
}

// shrink turns a grid run into one that runs in seconds on the pure-Go backend: the same code
// path (ImageNet layouts, the random resized crop from the files, ResNet-50, the method's
// sampler, the starting weights) at 32 px, one epoch, tiny batches.
func shrink(r *config.Run) {
	r.Benchmark.ImageSize = 32
	r.Epochs = 1
	r.EvalEvery = 0
	r.Batch.ID, r.Batch.OOD = 4, 4
	r.Caps = config.Caps{MaxTrain: 8, MaxPool: 12, MaxTest: 3}
	r.Optim.Milestones = []int{1}
	if r.Method.OutliersPerEpoch > 0 {
		r.Method.OutliersPerEpoch = 8
	}
	if d, ok := r.Method.SamplerOptions().(*sampling.DOSOptions); ok {
		d.Candidates, d.NInit, d.Iters = 8, 1, 3
	}
}

// TestImageNetGridsEndToEnd runs DOS through the code path of each ImageNet grid on
// synthetic data in the ImageNet layouts, on the pure-Go backend: imagenet10 from scratch,
// imagenet1k from a torchvision-layout ResNet-50 state dict of 1,000 classes, which DOS extends
// by the absent class. About 30 s on 2 cores.
func TestImageNetGridsEndToEnd(t *testing.T) {
	dir := syntheticImageNetData(t)
	be := testutil.GoBackend(t)
	for _, grid := range []string{"imagenet10", "imagenet1k"} {
		t.Run(grid, func(t *testing.T) {
			r := gridRun(t, grid, "dos")
			shrink(r)
			if grid == "imagenet1k" {
				sd, err := statedict.Template("resnet50", 1000)
				if err != nil {
					t.Fatal(err)
				}
				r.Init = filepath.Join(t.TempDir(), "resnet50.pth")
				if err := statedict.Write(r.Init, statedict.Hashed(sd)); err != nil {
					t.Fatal(err)
				}
			}
			if errs := train.Check([]*config.Run{r}, dir); len(errs[0]) > 0 {
				t.Fatalf("checks: %v", errs[0])
			}
			job, err := train.LoadJob(r, dir)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := job.Train.Source.(data.RawSource); !ok {
				t.Fatalf("the ID training set is a %T: the random resized crop needs the files", job.Train.Source)
			}
			if h, w, _ := job.Test.Dims(); h != 32 || w != 32 {
				t.Fatalf("test images %dx%d, want the run's 32 px", h, w)
			}
			var log bytes.Buffer
			tr, err := train.NewTrainer(be, r, job, train.Settings{Dir: &store.RunDir{Path: t.TempDir(), Run: r}, EvalBatch: 8, Log: &log})
			if err != nil {
				t.Fatal(err)
			}
			out, err := tr.Run(stdctx.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(out.PerSet) != 4 || math.IsNaN(out.IDAccuracy) {
				t.Fatalf("outcome %+v", out)
			}
			if grid == "imagenet1k" && !strings.Contains(log.String(), "extended by a zero row for the absent class") {
				t.Fatalf("log does not show the starting weights with the absent class:\n%s", log.String())
			}
		})
	}
}

package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oodlab/dos/data"
)

// TestDryRunImageNetGrids: the dry runs of the ImageNet grids list their runs and name exactly
// what a user must provide and where: the ImageNet folders (down to a missing synset), the
// MOS test sets, Textures, the pools and the starting weights.
func TestDryRunImageNetGrids(t *testing.T) {
	dataDir, outDir := t.TempDir(), t.TempDir()
	code, out, errs := call(t, context.Background(), noExecutor, "--grid", "imagenet10", "--dry-run", "--data", dataDir, "--out", outDir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{
		"grid imagenet10 (grids/imagenet10.yaml): 21 runs", "dos-s42-",
		filepath.Join(dataDir, "imagenet", "train") + " (ImageNet-1K (ILSVRC2012) needs a licence",
		filepath.Join(dataDir, "imagenet", "val"),
		filepath.Join(dataDir, "mos", "iNaturalist"), filepath.Join(dataDir, "mos", "SUN"), filepath.Join(dataDir, "mos", "Places"),
		filepath.Join(dataDir, "dtd", "images") + " (get it with: go run ./tools/fetch textures",
		"  imagenet990:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("imagenet10 dry run lacks %q:\n%s", want, out)
		}
	}
	// With ImageNet present but for one synset, that synset's folders are named.
	missing := data.ImageNet10Classes[4]
	var present []string
	for _, c := range data.ImageNet10Classes {
		if c != missing {
			present = append(present, c)
		}
	}
	if _, _, err := data.WriteImageNetTree(dataDir, data.ImageNetTree{Synsets: present, Train: 1, Val: 1, MinSide: 8, MaxSide: 9}); err != nil {
		t.Fatal(err)
	}
	_, out, _ = call(t, context.Background(), noExecutor, "--grid", "imagenet10", "--dry-run", "--data", dataDir, "--out", outDir)
	for _, want := range []string{filepath.Join(dataDir, "imagenet", "train", missing), filepath.Join(dataDir, "imagenet", "val", missing)} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run with synset %s absent lacks %q:\n%s", missing, want, out)
		}
	}
	code, out, errs = call(t, context.Background(), noExecutor, "--grid", "imagenet1k", "--dry-run", "--data", t.TempDir(), "--out", outDir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"grid imagenet1k (grids/imagenet1k.yaml): 7 runs", "  imagenet21k-ood:", "  init:\n    datasets/weights/resnet50-0676ba61.pth ("} {
		if !strings.Contains(out, want) {
			t.Errorf("imagenet1k dry run lacks %q:\n%s", want, out)
		}
	}
}

package data

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
)

// ImageNet-1K (ILSVRC2012) is read from the user's copy under DIR/imagenet/ (it needs a
// licence from image-net.org), in the two layouts its users have:
//
//	DIR/imagenet/train/<wnid>/*.JPEG                       the training archive, unpacked per synset
//	DIR/imagenet/val/<wnid>/*.JPEG                         validation sorted into synset folders, or
//	DIR/imagenet/val/ILSVRC2012_val_00000001.JPEG ...      validation as published (flat), with
//	DIR/imagenet/ILSVRC2012_devkit_t12/data/meta.mat and ILSVRC2012_validation_ground_truth.txt
//	                                                       (the development kit, unpacked)
//
// Class indices follow torchvision's ImageFolder: the selected synsets sorted by WordNet ID.

// ImageNet10Classes are the ten ImageNet-1K synsets of ImageNet-10 (Ming et al., "Delving into
// Out-of-Distribution Detection with Vision-Language Representations", NeurIPS 2022), the ID set
// of the DOS paper's large-scale benchmark: the classes listed in
// github.com/deeplearning-wisc/MCM data/ImageNet10/class_list.txt (commit ea7130f), chosen to
// mirror CIFAR-10's: warplane, sports car, brambling, Siamese cat, impala ("antelope"), Greater
// Swiss Mountain dog, bullfrog, garbage truck, sorrel ("horse"), container ship. Labels are
// their positions in sorted order, as ImageFolder over the MCM subset gives.
var ImageNet10Classes = []string{
	"n04552348", "n04285008", "n01530575", "n02123597", "n02422699",
	"n02107574", "n01641577", "n03417042", "n02389026", "n03095699",
}

const (
	imagenetDir = "imagenet"
	devkitDir   = "ILSVRC2012_devkit_t12/data"
	devkitMeta  = "meta.mat"
	devkitTruth = "ILSVRC2012_validation_ground_truth.txt"
)

// imagenetManual says how to get ImageNet-1K and where its files go.
const imagenetManual = "ImageNet-1K (ILSVRC2012) needs a licence from image-net.org: unpack ILSVRC2012_img_train.tar (and the per-synset tars inside it) to " +
	"DIR/imagenet/train/<wnid>/*.JPEG, and ILSVRC2012_img_val.tar either to DIR/imagenet/val/ as published (flat) together with " +
	"ILSVRC2012_devkit_t12.tar.gz unpacked to DIR/imagenet/ILSVRC2012_devkit_t12/, or sorted into DIR/imagenet/val/<wnid>/"

// classSel selects synsets: the listed ones (Include), or all but the listed ones.
type classSel struct {
	list    []string
	exclude bool
}

func (s classSel) apply(found []string) []string {
	if s.list == nil {
		return found
	}
	if !s.exclude {
		out := slices.Clone(s.list)
		sort.Strings(out)
		return out
	}
	var out []string
	for _, c := range found {
		if !slices.Contains(s.list, c) {
			out = append(out, c)
		}
	}
	return out
}

var wnidPattern = regexp.MustCompile(`^n\d{8}$`)

// synsetDirs lists the sub-folders of root named like WordNet IDs, sorted.
func synsetDirs(root string) ([]string, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && wnidPattern.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// imageFiles lists the image files below dir (recursively, as ImageFolder), sorted.
func imageFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && isImageFile(p) {
			files = append(files, p)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// flatVal reports whether the validation folder is the published flat layout (image files,
// no synset folders).
func flatVal(valRoot string) bool {
	dirs, err := synsetDirs(valRoot)
	return err == nil && len(dirs) == 0
}

// openImageNet lists split ("train" or "test" = the validation images) of the ImageNet-1K copy
// under dir for the synsets sel selects, with labels in sorted-synset order, transformed by t
// for Image (Raw gives the decoded file). set names the data set in messages.
func openImageNet(set, dir, split string, sel classSel, t Transform) (*FolderImages, error) {
	root := filepath.Join(dir, imagenetDir)
	trainRoot := filepath.Join(root, "train")
	all, err := synsetDirs(trainRoot)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (%s)", set, err, imagenetManual)
	}
	classes := sel.apply(all)
	if len(classes) == 0 {
		return nil, fmt.Errorf("%s: no synset folder selected under %s", set, trainRoot)
	}
	fi := &FolderImages{Transform: t, h: t.CropH, w: t.CropW, Classes: classes}
	index := map[string]int32{}
	for i, c := range classes {
		index[c] = int32(i)
	}
	if split == "train" {
		fi.Root = trainRoot
		for _, c := range classes {
			files, err := imageFiles(filepath.Join(trainRoot, c))
			if err != nil {
				return nil, fmt.Errorf("%s train: synset %s: %w", set, c, err)
			}
			if len(files) == 0 {
				return nil, fmt.Errorf("%s train: %s holds no .JPEG/.png file", set, filepath.Join(trainRoot, c))
			}
			fi.add(files, index[c])
		}
		return fi, nil
	}
	valRoot := filepath.Join(root, "val")
	fi.Root = valRoot
	if !flatVal(valRoot) {
		for _, c := range classes {
			files, err := imageFiles(filepath.Join(valRoot, c))
			if err != nil {
				return nil, fmt.Errorf("%s val: synset %s: %w (validation sorted per synset: every selected synset needs its folder)", set, c, err)
			}
			fi.add(files, index[c])
		}
	} else if err := fi.addFlatVal(set, root, valRoot, index); err != nil {
		return nil, err
	}
	if len(fi.Files) == 0 {
		return nil, fmt.Errorf("%s val: no validation image of the selected synsets under %s", set, valRoot)
	}
	return fi, nil
}

var valName = regexp.MustCompile(`^ILSVRC2012_val_(\d{8})\.(JPEG|jpeg|jpg|JPG|png)$`)

// addFlatVal adds the images of the flat validation folder whose devkit label is selected.
func (fi *FolderImages) addFlatVal(set, root, valRoot string, index map[string]int32) error {
	meta := filepath.Join(root, devkitDir, devkitMeta)
	truth := filepath.Join(root, devkitDir, devkitTruth)
	wnids, err := DevkitWNIDs(meta)
	if err != nil {
		return fmt.Errorf("%s val: the flat validation folder %s is labelled by the development kit: %w", set, valRoot, err)
	}
	labels, err := DevkitValLabels(truth)
	if err != nil {
		return fmt.Errorf("%s val: the flat validation folder %s is labelled by the development kit: %w", set, valRoot, err)
	}
	ents, err := os.ReadDir(valRoot)
	if err != nil {
		return fmt.Errorf("%s val: %w", set, err)
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() && isImageFile(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		m := valName.FindStringSubmatch(name)
		if m == nil {
			return fmt.Errorf("%s val: %s: a flat validation folder holds ILSVRC2012_val_NNNNNNNN.JPEG files only", set, filepath.Join(valRoot, name))
		}
		k, _ := strconv.Atoi(m[1])
		if k < 1 || k > len(labels) {
			return fmt.Errorf("%s val: %s: image %d, but %s labels %d images", set, name, k, truth, len(labels))
		}
		wnid, ok := wnids[labels[k-1]]
		if !ok {
			return fmt.Errorf("%s val: %s: ILSVRC2012_ID %d (line %d of %s) is not in %s", set, name, labels[k-1], k, truth, meta)
		}
		if c, ok := index[wnid]; ok {
			fi.Files = append(fi.Files, filepath.Join(valRoot, name))
			fi.labels = append(fi.labels, c)
		}
	}
	return nil
}

// imagenetMissing lists what the ImageNet-1K copy under dir lacks for the synsets of sel:
// the training folder of each (all of them for an exclusion), and the validation images
// (synset folders, or the flat folder with the devkit's two files) when needVal.
func imagenetMissing(dir string, sel classSel, needVal bool) []string {
	root := filepath.Join(dir, imagenetDir)
	trainRoot := filepath.Join(root, "train")
	var out []string
	miss := func(p string) { out = append(out, fmt.Sprintf("%s (%s)", p, imagenetManual)) }
	all, err := synsetDirs(trainRoot)
	if err != nil {
		miss(trainRoot)
		all = nil
	} else if len(all) == 0 {
		miss(filepath.Join(trainRoot, "<wnid>"))
	}
	if !sel.exclude {
		for _, c := range sel.list {
			if err == nil && !slices.Contains(all, c) {
				miss(filepath.Join(trainRoot, c))
			}
		}
	}
	if !needVal {
		return out
	}
	valRoot := filepath.Join(root, "val")
	if st, err := os.Stat(valRoot); err != nil || !st.IsDir() {
		miss(valRoot)
		return out
	}
	if flatVal(valRoot) {
		for _, f := range []string{devkitMeta, devkitTruth} {
			if p := filepath.Join(root, devkitDir, f); !fileExists(p) {
				miss(p + " (a flat validation folder is labelled by the development kit)")
			}
		}
		return out
	}
	if !sel.exclude {
		for _, c := range sel.list {
			if st, err := os.Stat(filepath.Join(valRoot, c)); err != nil || !st.IsDir() {
				miss(filepath.Join(valRoot, c))
			}
		}
	}
	return out
}

// Outlier pools stored one folder per synset are read in a fixed pseudo-random order, so that
// a contiguous window of rows (NTOM's scan, POEM's candidates) holds images of many synsets
// rather than of the first few, as a window of a randomly ordered pool (TI-300K) does.

// poolOrderSeed fixes the row order of synset-ordered pools; changing it changes every run
// on them.
const poolOrderSeed = 0x706f6f6c

func shufflePool(fi *FolderImages) *FolderImages {
	perm := rand.New(rand.NewPCG(poolOrderSeed, uint64(len(fi.Files)))).Perm(len(fi.Files))
	out := *fi
	out.Files = make([]string, len(perm))
	out.labels = make([]int32, len(perm))
	for i, p := range perm {
		out.Files[i], out.labels[i] = fi.Files[p], fi.labels[p]
	}
	return &out
}

// imagenetSpecs are the data sets read from the ImageNet-1K copy.
func imagenetSpecs() []Spec {
	in10 := classSel{list: ImageNet10Classes}
	not10 := classSel{list: ImageNet10Classes, exclude: true}
	open := func(name string, sel classSel, pool bool) func(dir, split string) (Source, error) {
		return func(dir, split string) (Source, error) {
			fi, err := openImageNet(name, dir, split, sel, imagenetTest)
			if err != nil {
				return nil, err
			}
			if pool {
				return shufflePool(fi), nil
			}
			return fi, nil
		}
	}
	return []Spec{
		{Name: "imagenet1k", Role: "id", Classes: 1000, H: 224, W: 224, C: 3, Splits: []string{"train", "test"},
			Note:    "ILSVRC2012 train/<synset>/ and val (per synset, or flat with the devkit labels; split test = val); test transform Resize(256) + CenterCrop(224), training images decoded as stored",
			Manual:  imagenetManual,
			missing: func(dir string) []string { return imagenetMissing(dir, classSel{}, true) },
			open:    open("imagenet1k", classSel{}, false), scalable: true},
		{Name: "imagenet10", Role: "id", Classes: 10, H: 224, W: 224, C: 3, Splits: []string{"train", "test"},
			Note:    "ImageNet-10 (Ming et al. 2022, the DOS paper's large-scale ID set): 10 ImageNet-1K synsets, read from the ImageNet-1K copy; labels in sorted-synset order; split test = val",
			Manual:  imagenetManual,
			missing: func(dir string) []string { return imagenetMissing(dir, in10, true) },
			open:    open("imagenet10", in10, false), scalable: true},
		{Name: "imagenet990", Role: "auxiliary", H: 224, W: 224, C: 3, Splits: []string{"train"},
			Note:    "outlier pool for ImageNet-10: the ImageNet-1K training images of the 990 synsets outside ImageNet-10, in a fixed shuffled order",
			Manual:  imagenetManual,
			missing: func(dir string) []string { return imagenetMissing(dir, not10, false) },
			open:    open("imagenet990", not10, true), scalable: true},
	}
}

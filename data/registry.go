package data

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/oodlab/dos/internal/registry"
)

// Spec describes one registered data set.
type Spec struct {
	// Name is the registry name (cifar10, ti300k, synthetic-cifar10, ...).
	Name string
	// Role is "id" (in-distribution training set), "auxiliary" (outlier
	// pool), "ood" (test-time OOD set), "small" (small real set) or
	// "synthetic".
	Role string
	// Classes is the number of classes (0 for unlabelled sets).
	Classes int
	// H, W, C is the image shape the loader produces.
	H, W, C int
	// Splits lists the splits Load accepts.
	Splits []string
	// Note says where the files come from and which test transform applies.
	Note string
	// Manual, when set, explains what to place where: the set needs a
	// licence or login and cannot be fetched.
	Manual string

	files func(dir string) []string
	// missing, when set, replaces the check of files: what the set lacks in dir (each entry a
	// path and how to get it).
	missing func(dir string) []string
	// scalable sets take their test transform's size from the run (OpenSized).
	scalable bool
	open     func(dir, split string) (Source, error)
}

// oodTransforms of the official code at test time (docs/method.md section 7):
// Places and Textures resize 32 then centre crop 32; LSUN-C centre crop 32;
// LSUN-R and iSUN as they are (already 32x32, the crop is a no-op check).
var (
	resizeCrop32 = Transform{Resize: 32, CropH: 32, CropW: 32}
	crop32       = Transform{CropH: 32, CropW: 32}
	// imagenetTest is the standard ImageNet evaluation transform.
	imagenetTest = Transform{Resize: 256, CropH: 224, CropW: 224}
)

// sameFiles maps sets that read another set's files (with another transform) to that set,
// whose name fetch knows.
var sameFiles = map[string]string{"textures-224": "textures"}

// mosManual says where the MOS benchmark's subsets come from and where they go.
func mosManual(name string) string {
	return "the MOS OOD subsets are distributed by the authors of MOS (Huang & Li, CVPR 2021) from their repository " +
		"(deeplearning-wisc/large_scale_ood): download " + name + ".tar.gz and unpack its images under DIR/mos/" + name + "/"
}

// datasets is the data-set registry (see package internal/registry for why it is filled from
// init): the published sets below, and the synthetic ones (synthetic.go).
var datasets = registry.New[Spec]("data set")

// Register adds a data set; call it from an init function.
func Register(s Spec) { datasets.Register(s.Name, s) }

func init() {
	for _, s := range publishedSpecs() {
		Register(s)
	}
	for _, s := range imagenetSpecs() {
		Register(s)
	}
}

// publishedSpecs are the data sets read from their publishers' files.
func publishedSpecs() []Spec {
	in := func(parts ...string) func(string) []string {
		return func(dir string) []string {
			out := make([]string, len(parts))
			for i, p := range parts {
				out[i] = filepath.Join(dir, p)
			}
			return out
		}
	}
	folder := func(sub string, t Transform) func(dir, split string) (Source, error) {
		return func(dir, split string) (Source, error) {
			return OpenImageFolder(filepath.Join(dir, sub), t)
		}
	}
	cifar10Files := []string{}
	for _, f := range append(append([]string{}, cifar10Train...), cifar10Test...) {
		cifar10Files = append(cifar10Files, filepath.Join(cifar10Dir, f))
	}
	list := []Spec{
		{Name: "cifar10", Role: "id", Classes: 10, H: 32, W: 32, C: 3, Splits: []string{"train", "test"},
			Note: "CIFAR-10 binary version", files: in(cifar10Files...),
			open: func(dir, split string) (Source, error) { return ReadCIFAR10(dir, split) }},
		{Name: "cifar100", Role: "id", Classes: 100, H: 32, W: 32, C: 3, Splits: []string{"train", "test"},
			Note:  "CIFAR-100 binary version, fine labels",
			files: in(filepath.Join(cifar100Dir, "train.bin"), filepath.Join(cifar100Dir, "test.bin")),
			open:  func(dir, split string) (Source, error) { return ReadCIFAR100(dir, split) }},
		{Name: "ti300k", Role: "auxiliary", H: 32, W: 32, C: 3, Splits: []string{"train"},
			Note:  "300K random Tiny Images (Hendrycks et al.), memory-mapped .npy",
			files: in("300K_random_images.npy"),
			open: func(dir, split string) (Source, error) {
				return OpenNPYImages(filepath.Join(dir, "300K_random_images.npy"))
			}},
		{Name: "svhn", Role: "ood", Classes: 10, H: 32, W: 32, C: 3, Splits: []string{"test"},
			Note: "SVHN test_32x32.mat, as is", files: in("svhn/test_32x32.mat"),
			open: func(dir, split string) (Source, error) { return ReadSVHN(filepath.Join(dir, "svhn", "test_32x32.mat")) }},
		{Name: "textures", Role: "ood", Classes: 47, H: 32, W: 32, C: 3, Splits: []string{"test"},
			Note: "DTD images/, resize 32 + centre crop 32", files: in("dtd/images"),
			open: folder("dtd/images", resizeCrop32)},
		{Name: "places365", Role: "ood", H: 32, W: 32, C: 3, Splits: []string{"test"},
			Note:  "Places365 test_256, the NTOM 10,000-image list, resize 32 + centre crop 32",
			files: in("places365/places365_test_list.txt", "places365/test_256"),
			open:  openPlaces},
		{Name: "lsun-c", Role: "ood", H: 32, W: 32, C: 3, Splits: []string{"test"},
			Note: "ODIN LSUN (crop) archive, centre crop 32", files: in("LSUN/test"),
			open: folder("LSUN", crop32)},
		{Name: "lsun-r", Role: "ood", H: 32, W: 32, C: 3, Splits: []string{"test"},
			Note: "ODIN LSUN_resize archive, 32x32 as is", files: in("LSUN_resize/LSUN_resize"),
			open: folder("LSUN_resize", crop32)},
		{Name: "isun", Role: "ood", H: 32, W: 32, C: 3, Splits: []string{"test"},
			Note: "ODIN iSUN archive, 32x32 as is", files: in("iSUN/iSUN_patches"),
			open: folder("iSUN", crop32)},
		{Name: "imagenet-rc", Role: "auxiliary", Classes: 1000, H: 64, W: 64, C: 3, Splits: []string{"train"},
			Note:  "downsampled ImageNet 64x64 (Chrabaszcz et al. 2017) npz; random-crop to 32 in the pipeline",
			files: in("imagenet64"),
			Manual: "ImageNet 64x64 needs an image-net.org login: download Imagenet64_train_part1.zip and part2 (npz format) " +
				"and unpack the train_data_batch_*.npz files into DIR/imagenet64/",
			open: func(dir, split string) (Source, error) { return ReadImageNet64(filepath.Join(dir, "imagenet64")) }},
		// The large-scale OOD benchmark of MOS (Huang & Li, CVPR 2021): 10,000-image subsets of
		// iNaturalist, SUN and Places with no concept shared with ImageNet-1K, used by the
		// project's own imagenet1k grid, with the ImageNet evaluation transform.
		{Name: "inaturalist", Role: "ood", H: 224, W: 224, C: 3, Splits: []string{"test"},
			Note: "MOS iNaturalist subset (10,000 images), resize 256 + centre crop 224", files: in("mos/iNaturalist"),
			Manual: mosManual("iNaturalist"), open: folder("mos/iNaturalist", imagenetTest), scalable: true},
		{Name: "sun", Role: "ood", H: 224, W: 224, C: 3, Splits: []string{"test"},
			Note: "MOS SUN subset (10,000 images), resize 256 + centre crop 224", files: in("mos/SUN"),
			Manual: mosManual("SUN"), open: folder("mos/SUN", imagenetTest), scalable: true},
		{Name: "places", Role: "ood", H: 224, W: 224, C: 3, Splits: []string{"test"},
			Note: "MOS Places subset (10,000 images), resize 256 + centre crop 224", files: in("mos/Places"),
			Manual: mosManual("Places"), open: folder("mos/Places", imagenetTest), scalable: true},
		{Name: "textures-224", Role: "ood", Classes: 47, H: 224, W: 224, C: 3, Splits: []string{"test"},
			Note: "DTD images/ at ImageNet scale: resize 256 + centre crop 224", files: in("dtd/images"),
			open: folder("dtd/images", imagenetTest), scalable: true},
		{Name: "imagenet21k-ood", Role: "auxiliary", H: 224, W: 224, C: 3, Splits: []string{"train"},
			Note:  "user-provided outlier pool for ImageNet-1K: images of ImageNet-21K synsets outside ImageNet-1K, one folder per synset (read in a fixed shuffled order), resize 256 + centre crop 224",
			files: in("imagenet21k-ood"),
			Manual: "the ImageNet-21K release needs an image-net.org licence: place images of synsets that are NOT in ImageNet-1K " +
				"(and share no concept with the test sets) under DIR/imagenet21k-ood/<synset>/*.JPEG",
			open: func(dir, split string) (Source, error) {
				fi, err := OpenImageFolder(filepath.Join(dir, "imagenet21k-ood"), imagenetTest)
				if err != nil {
					return nil, err
				}
				return shufflePool(fi), nil
			}, scalable: true},
		{Name: "mnist", Role: "small", Classes: 10, H: 28, W: 28, C: 1, Splits: []string{"train", "test"},
			Note: "MNIST IDX from DIR/mnist, else from the Go module " + GoMNISTModule + " (data/ folder in the module cache)",
			open: func(dir, split string) (Source, error) {
				d, err := mnistDir(dir)
				if err != nil {
					return nil, err
				}
				return ReadMNISTDir(d, split)
			}},
		{Name: "fashion-mnist", Role: "small", Classes: 10, H: 28, W: 28, C: 1, Splits: []string{"train", "test"},
			Note: "Fashion-MNIST IDX from DIR/fashion-mnist, else " + debianFashion + " (Debian package dataset-fashion-mnist)",
			files: func(dir string) []string {
				d := fashionDir(dir)
				return []string{filepath.Join(d, mnistFiles["train"][0]), filepath.Join(d, mnistFiles["train"][1]),
					filepath.Join(d, mnistFiles["test"][0]), filepath.Join(d, mnistFiles["test"][1])}
			},
			open: func(dir, split string) (Source, error) { return ReadMNISTDir(fashionDir(dir), split) }},
	}
	return list
}

const debianFashion = "/usr/share/datasets/fashion-mnist"

func fashionDir(dir string) string {
	local := filepath.Join(dir, "fashion-mnist")
	if fileExists(filepath.Join(local, mnistFiles["train"][0])) || !fileExists(filepath.Join(debianFashion, mnistFiles["train"][0])) {
		return local
	}
	return debianFashion
}

func mnistDir(dir string) (string, error) {
	local := filepath.Join(dir, "mnist")
	if fileExists(filepath.Join(local, mnistFiles["train"][0])) {
		return local, nil
	}
	return goMNISTDir(dir)
}

// Fallback reports, for a data set that may be read from outside the data directory (mnist:
// the Go module GoMNIST; fashion-mnist: Debian's dataset-fashion-mnist), whether dir lacks it
// so that the copy elsewhere is used, and where that copy is (or why it is missing too).
// Other sets give ("", false, nil).
func Fallback(name, dir string) (elsewhere string, used bool, err error) {
	ref, err := ParseRef(name)
	if err != nil {
		return "", false, err
	}
	switch ref.Name {
	case "mnist":
		if fileExists(filepath.Join(dir, "mnist", mnistFiles["train"][0])) {
			return "", false, nil
		}
		d, err := goMNISTDir(dir)
		return d, true, err
	case "fashion-mnist":
		if d := fashionDir(dir); d == debianFashion {
			return d, true, nil
		}
	}
	return "", false, nil
}

// Names returns the registered data-set names, sorted.
func Names() []string { return datasets.Names() }

// Lookup returns the registry entry of a data set.
func Lookup(name string) (Spec, error) { return datasets.Lookup(name) }

// Open returns data set name's split as a Source without necessarily
// reading it into memory (TI-300K stays memory-mapped, image folders are
// decoded on demand). Close it with CloseSource when done.
func Open(name, dir, split string) (Source, error) {
	s, err := lookupSplit(name, split)
	if err != nil {
		return nil, err
	}
	if Packed(dir, name, split) {
		return OpenShards(dir, name, split)
	}
	return openOriginal(s, name, dir, split)
}

// OpenOriginal is Open that ignores packed shards: the set as its publisher's files give it
// (what tools/data pack reads).
func OpenOriginal(name, dir, split string) (Source, error) {
	s, err := lookupSplit(name, split)
	if err != nil {
		return nil, err
	}
	return openOriginal(s, name, dir, split)
}

// lookupSplit returns the registry entry of a data set that has split.
func lookupSplit(name, split string) (Spec, error) {
	s, err := Lookup(name)
	if err != nil {
		return s, err
	}
	if !slices.Contains(s.Splits, split) {
		return s, fmt.Errorf("%s: split %q does not exist; want one of %s", name, split, strings.Join(s.Splits, ", "))
	}
	return s, nil
}

// openOriginal opens split of s from the publisher's files.
func openOriginal(s Spec, name, dir, split string) (Source, error) {
	if miss := missingOriginal(s, name, dir); len(miss) > 0 {
		return nil, fmt.Errorf("%s: missing %s", name, strings.Join(miss, "; "))
	}
	return s.open(dir, split)
}

// Load reads data set name's split ("train" or "test") from dir into memory.
// For imagenet1k (about 190 GB decoded) use Open, which decodes lazily.
func Load(name, dir, split string) (*Images, error) {
	src, err := Open(name, dir, split)
	if err != nil {
		return nil, err
	}
	defer CloseSource(src)
	return MaterializeParallel(src, runtime.GOMAXPROCS(0))
}

// CloseSource releases a Source that holds files open (NPYImages); other
// sources need nothing.
func CloseSource(src Source) error {
	if c, ok := src.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

// Missing lists what data set name (or a class selection of it, see Ref) lacks in dir, each entry naming the
// missing path and how to get it (the fetch command, or what to place where
// for sets that need a licence). It returns nil when the set is complete.
func Missing(name, dir string) []string {
	if ref, err := ParseRef(name); err != nil {
		return []string{err.Error()}
	} else {
		name = ref.Name // a class selection needs the whole set's files
	}
	s, err := Lookup(name)
	if err != nil {
		return []string{err.Error()}
	}
	packed := true
	for _, sp := range s.Splits {
		packed = packed && Packed(dir, name, sp)
	}
	if packed {
		return nil
	}
	return missingOriginal(s, name, dir)
}

// missingOriginal is Missing for the publisher's files, packed shards aside.
func missingOriginal(s Spec, name, dir string) []string {
	if s.missing != nil {
		return s.missing(dir)
	}
	if s.Name == "mnist" {
		if _, err := mnistDir(dir); err != nil {
			return []string{err.Error()}
		}
		return nil
	}
	if s.files == nil {
		return nil
	}
	fetchName := name
	if base, ok := sameFiles[name]; ok {
		fetchName = base
	}
	how := fmt.Sprintf("get it with: go run ./tools/fetch %s --dir %s", fetchName, dir)
	if s.Manual != "" {
		how = s.Manual
	}
	var out []string
	for _, f := range s.files(dir) {
		if _, err := os.Stat(f); err != nil {
			out = append(out, fmt.Sprintf("%s (%s)", f, how))
		}
	}
	return out
}

// openPlaces reads the fixed 10,000-image list of the NTOM repository
// (places365_test_list.txt: one file name per line, possibly followed by
// other fields) and returns those images of test_256 in list order.
func openPlaces(dir, split string) (Source, error) {
	listPath := filepath.Join(dir, "places365", "places365_test_list.txt")
	fh, err := os.Open(listPath)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var files []string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		files = append(files, filepath.Join(dir, "places365", "test_256", filepath.Base(f[0])))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("places365: %s: %w", listPath, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("places365: %s: empty list, want 10,000 file names", listPath)
	}
	for _, f := range files {
		if !fileExists(f) {
			return nil, fmt.Errorf("places365: %s lists %s, which does not exist", listPath, f)
		}
	}
	fi := NewFileImages(files, resizeCrop32)
	fi.Root = filepath.Join(dir, "places365")
	return fi, nil
}

// MaterializeParallel reads every image of src into memory using up to
// workers goroutines (image folders decode JPEGs in parallel).
func MaterializeParallel(src Source, workers int) (*Images, error) {
	if im, ok := src.(*Images); ok {
		return im, nil
	}
	h, w, c := src.Dims()
	out := NewImages(src.Len(), h, w, c, false)
	if l, ok := src.(interface{ Labels() []int32 }); ok {
		out.Labels = l.Labels()
	}
	workers = max(1, min(workers, out.N))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for k := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < out.N; i += workers {
				if err := src.Image(i, out.At(i)); err != nil {
					errs[k] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return nil, e
		}
	}
	return out, nil
}

// DefaultDir is the data directory every command uses unless told otherwise: $OOD_DATA, else
// ./datasets (not ./data, which in this repository is the data package's source).
func DefaultDir() string {
	if d := os.Getenv("OOD_DATA"); d != "" {
		return d
	}
	return "datasets"
}

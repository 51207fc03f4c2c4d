package data

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// devkitIDs are the ILSVRC2012_IDs of testdata/devkit_meta.mat (gen_devkit.py).
var devkitIDs = map[string]int{"n04552348": 7, "n04285008": 12, "n01530575": 1, "n02123597": 10, "n02422699": 4,
	"n02107574": 13, "n01641577": 2, "n03417042": 9, "n02389026": 5, "n03095699": 11, "n01440764": 3, "n01443537": 8, "n15075141": 6}

var extraSynsets = []string{"n01440764", "n01443537", "n15075141"}

func writeTree(t *testing.T, flat bool) string {
	t.Helper()
	dir := t.TempDir()
	meta, err := os.ReadFile("testdata/devkit_meta.mat")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = WriteImageNetTree(dir, ImageNetTree{Synsets: append(slices.Clone(ImageNet10Classes), extraSynsets...),
		Train: 3, Val: 2, MinSide: 9, MaxSide: 23, FlatVal: flat, DevkitMeta: meta, ValIDs: devkitIDs, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDevkitMeta reads SciPy-written stand-ins of meta.mat (compressed and not).
func TestDevkitMeta(t *testing.T) {
	for _, f := range []string{"devkit_meta.mat", "devkit_meta_plain.mat"} {
		got, err := DevkitWNIDs("testdata/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(devkitIDs)+2 || got[1001] != "n00001740" || got[1002] != "n00002684" {
			t.Fatalf("%s: %d synsets %v", f, len(got), got)
		}
		for w, id := range devkitIDs {
			if got[id] != w {
				t.Errorf("%s: ILSVRC2012_ID %d = %q, want %s", f, id, got[id], w)
			}
		}
	}
	if _, err := DevkitWNIDs("testdata/svhn_plain.mat"); err == nil || !strings.Contains(err.Error(), `"synsets" not found`) {
		t.Errorf("a MAT-file without synsets: %v", err)
	}
}

// TestImageNetLayouts: both validation layouts give the same images and labels; ImageNet-10's
// labels follow the sorted synsets; the 990-class pool holds the other synsets.
func TestImageNetLayouts(t *testing.T) {
	sorted10 := slices.Clone(ImageNet10Classes)
	sort.Strings(sorted10)
	byName := map[bool]map[string]int32{}
	for _, flat := range []bool{false, true} {
		dir := writeTree(t, flat)
		if miss := Missing("imagenet10", dir); miss != nil {
			t.Fatalf("flat %v: missing %v", flat, miss)
		}
		src, err := Open("imagenet10", dir, "train")
		if err != nil {
			t.Fatal(err)
		}
		fi := src.(*FolderImages)
		if fi.Len() != 30 || !slices.Equal(fi.Classes, sorted10) {
			t.Fatalf("train: %d images, classes %v", fi.Len(), fi.Classes)
		}
		for i, f := range fi.Files {
			if want := int32(slices.Index(sorted10, filepath.Base(filepath.Dir(f)))); fi.Labels()[i] != want {
				t.Fatalf("%s: label %d, want %d", f, fi.Labels()[i], want)
			}
		}
		val, err := Open("imagenet10", dir, "test")
		if err != nil {
			t.Fatal(err)
		}
		vf := val.(*FolderImages)
		if vf.Len() != 20 {
			t.Fatalf("flat %v: %d validation images, want 20", flat, vf.Len())
		}
		byName[flat] = map[string]int32{}
		for i, f := range vf.Files {
			byName[flat][filepath.Base(f)] = vf.Labels()[i]
		}
		pool, err := Open("imagenet990", dir, "train")
		if err != nil {
			t.Fatal(err)
		}
		pf := pool.(*FolderImages)
		var got []string
		for _, f := range pf.Files {
			got = append(got, filepath.Base(filepath.Dir(f)))
		}
		want := []string{}
		for _, e := range extraSynsets {
			want = append(want, e, e, e)
		}
		sortedGot := slices.Clone(got)
		sort.Strings(sortedGot)
		if !slices.Equal(sortedGot, want) {
			t.Fatalf("pool synsets %v, want three images of each of %v", got, extraSynsets)
		}
		// Rows in a fixed shuffled order, not synset by synset.
		if slices.Equal(got, want) {
			t.Fatalf("pool rows in synset order %v", got)
		}
		again, _ := Open("imagenet990", dir, "train")
		if !slices.Equal(again.(*FolderImages).Files, pf.Files) {
			t.Fatal("pool order differs between two opens")
		}
		// The image as stored, and the test transform of it.
		pix, w, h, err := fi.Raw(0)
		if err != nil || w < 9 || h < 9 || len(pix) != w*h*3 {
			t.Fatalf("raw image: %dx%d, %d bytes, %v", w, h, len(pix), err)
		}
	}
	// The per-synset tree numbers validation images per synset, the flat one interleaves
	// them: compare the label sets per synset instead of names.
	count := func(m map[string]int32) map[int32]int {
		c := map[int32]int{}
		for _, l := range m {
			c[l]++
		}
		return c
	}
	if a, b := count(byName[false]), count(byName[true]); len(a) != 10 || len(b) != 10 || a[3] != 2 || b[3] != 2 {
		t.Fatalf("validation labels per class: %v and %v", a, b)
	}
}

// TestImageNetFlatValLabels: in the flat layout each image gets the synset of its devkit ID.
func TestImageNetFlatValLabels(t *testing.T) {
	dir := writeTree(t, true)
	src, err := Open("imagenet1k", dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	fi := src.(*FolderImages)
	all := append(slices.Clone(ImageNet10Classes), extraSynsets...)
	if fi.Len() != 26 || len(fi.Classes) != 13 {
		t.Fatalf("%d images, %d classes", fi.Len(), len(fi.Classes))
	}
	for i, f := range fi.Files {
		// WriteImageNetTree numbers image k of round r as r*13 + position of the synset + 1.
		m := valName.FindStringSubmatch(filepath.Base(f))
		if m == nil {
			t.Fatalf("%s: not a validation image name", f)
		}
		n, _ := strconv.Atoi(m[1])
		want := all[(n-1)%13]
		if got := fi.Classes[fi.Labels()[i]]; got != want {
			t.Errorf("%s: synset %s, want %s", f, got, want)
		}
	}
}

// TestImageNetMissing names exactly what a user must add.
func TestImageNetMissing(t *testing.T) {
	empty := t.TempDir()
	miss := Missing("imagenet10", empty)
	if len(miss) != 2 || !strings.Contains(miss[0], filepath.Join(empty, "imagenet", "train")) || !strings.Contains(miss[1], filepath.Join(empty, "imagenet", "val")) {
		t.Fatalf("empty dir: %v", miss)
	}
	dir := writeTree(t, true)
	os.RemoveAll(filepath.Join(dir, "imagenet", "train", "n02389026"))
	os.Remove(filepath.Join(dir, "imagenet", devkitDir, devkitTruth))
	miss = Missing("imagenet10", dir)
	if len(miss) != 2 || !strings.Contains(miss[0], filepath.Join("train", "n02389026")) || !strings.Contains(miss[1], devkitTruth) {
		t.Fatalf("missing synset and devkit file: %v", miss)
	}
	if m := Missing("imagenet990", dir); m != nil {
		t.Fatalf("the pool needs no validation: %v", m)
	}
	if _, err := Open("imagenet10", dir, "train"); err == nil || !strings.Contains(err.Error(), "n02389026") {
		t.Fatalf("open with a synset missing: %v", err)
	}
	dir = writeTree(t, false)
	os.RemoveAll(filepath.Join(dir, "imagenet", "val", "n01530575"))
	if miss := Missing("imagenet10", dir); len(miss) != 1 || !strings.Contains(miss[0], filepath.Join("val", "n01530575")) {
		t.Fatalf("per-synset val with a folder missing: %v", miss)
	}
}

// TestPackRoundTrip packs a split into several shards and reads back the same bytes, labels
// and decoded images; the shards are tar files any tar reader lists.
func TestPackRoundTrip(t *testing.T) {
	dir := writeTree(t, false)
	src, err := OpenOriginal("imagenet990", dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	fi := src.(*FolderImages)
	idx, err := Pack(context.Background(), fi, dir, "imagenet990", "train", PackOptions{ShardBytes: 2500})
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Shards) < 3 {
		t.Fatalf("%d shards of at most 2,500 bytes for %d images", len(idx.Shards), fi.Len())
	}
	if !Packed(dir, "imagenet990", "train") {
		t.Fatal("no index after pack")
	}
	got, err := Open("imagenet990", dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	sh, ok := got.(*ShardImages)
	if !ok {
		t.Fatalf("Open gave a %T, want the packed shards", got)
	}
	defer sh.Close()
	if sh.Len() != fi.Len() || !slices.Equal(sh.Labels(), fi.Labels()) {
		t.Fatalf("%d images, labels %v; want %d, %v", sh.Len(), sh.Labels(), fi.Len(), fi.Labels())
	}
	h, w, c := sh.Dims()
	a, b := make([]uint8, h*w*c), make([]uint8, h*w*c)
	for i := range fi.Len() {
		orig, _ := os.ReadFile(fi.Files[i])
		stored, err := sh.Bytes(i)
		if err != nil || !slices.Equal(orig, stored) {
			t.Fatalf("record %d: stored bytes differ from %s (%v)", i, fi.Files[i], err)
		}
		if err := fi.Image(i, a); err != nil {
			t.Fatal(err)
		}
		if err := sh.Image(i, b); err != nil || !slices.Equal(a, b) {
			t.Fatalf("record %d: test-transformed image differs (%v)", i, err)
		}
	}
	// Once packed, the set needs its originals no more.
	os.RemoveAll(filepath.Join(dir, "imagenet", "train"))
	if m := Missing("imagenet990", dir); m != nil {
		t.Fatalf("packed set reported missing: %v", m)
	}
	errs, err := VerifyShards(context.Background(), dir, "imagenet990", "train", 2)
	if err != nil || len(errs) != 0 {
		t.Fatalf("verify: %v %v", errs, err)
	}
	// Any tar reader lists the members: image and label per record, in order.
	members := readTarNames(t, filepath.Join(PackedDir(dir, "imagenet990"), idx.Shards[0].File))
	if len(members) != 2*idx.Shards[0].Count || !strings.HasPrefix(members[0], "00000000/") || !strings.HasSuffix(members[1], ".cls") {
		t.Fatalf("members of the first shard: %v", members)
	}
}

// TestShardErrors: a truncated shard, a shard that is not a tar file, a damaged record and a
// damaged index each give an error naming the file.
func TestShardErrors(t *testing.T) {
	setup := func(t *testing.T) (string, *ShardIndex) {
		dir := writeTree(t, false)
		src, err := OpenOriginal("imagenet10", dir, "test")
		if err != nil {
			t.Fatal(err)
		}
		idx, err := Pack(context.Background(), src.(*FolderImages), dir, "imagenet10", "test", PackOptions{ShardBytes: 4000})
		if err != nil {
			t.Fatal(err)
		}
		return dir, idx
	}
	shard := func(dir string, idx *ShardIndex, k int) string {
		return filepath.Join(PackedDir(dir, "imagenet10"), idx.Shards[k].File)
	}
	t.Run("truncated", func(t *testing.T) {
		dir, idx := setup(t)
		p := shard(dir, idx, 1)
		os.Truncate(p, idx.Shards[1].Size-700)
		_, err := OpenShards(dir, "imagenet10", "test")
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "truncated") {
			t.Fatalf("truncated shard: %v", err)
		}
		if _, err := Open("imagenet10", dir, "test"); err == nil || !strings.Contains(err.Error(), p) {
			t.Fatalf("Open of a truncated pack: %v", err)
		}
	})
	t.Run("not a tar file", func(t *testing.T) {
		dir, idx := setup(t)
		p := shard(dir, idx, 0)
		b, _ := os.ReadFile(p)
		copy(b, strings.Repeat("garbage!", 64))
		os.WriteFile(p, b, 0o644)
		_, err := OpenShards(dir, "imagenet10", "test")
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "not a tar shard") {
			t.Fatalf("bad shard: %v", err)
		}
	})
	t.Run("checksum mismatch", func(t *testing.T) {
		dir, idx := setup(t)
		k := 3
		sk := idx.Records.Shard[k]
		p := shard(dir, idx, int(sk))
		f, _ := os.OpenFile(p, os.O_RDWR, 0)
		f.WriteAt([]byte{0x5a, 0xa5}, idx.Records.Offset[k]+int64(idx.Records.Size[k])/2)
		f.Close()
		s, err := OpenShards(dir, "imagenet10", "test")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		_, _, _, err = s.Raw(k)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "fails its checksum") {
			t.Fatalf("damaged record: %v", err)
		}
		errs, err := VerifyShards(context.Background(), dir, "imagenet10", "test", 2)
		if err != nil || len(errs) != 1 || !strings.Contains(errs[0].Error(), p) || !strings.Contains(errs[0].Error(), "checksum mismatch") {
			t.Fatalf("verify of a damaged shard: %v %v", errs, err)
		}
		// The loader reports it too, naming the file.
		l := ScoringPass(s, s.Labels(), 4, Normalize{})
		var lerr error
		for it := range l.ItersPerEpoch() {
			if _, lerr = l.Batch(0, it); lerr != nil {
				break
			}
		}
		if lerr == nil || !strings.Contains(lerr.Error(), p) {
			t.Fatalf("loader over a damaged shard: %v", lerr)
		}
	})
	t.Run("index mismatch", func(t *testing.T) {
		dir, _ := setup(t)
		ip := shardIndexPath(dir, "imagenet10", "test")
		b, _ := os.ReadFile(ip)
		os.WriteFile(ip, []byte(strings.Replace(string(b), `"count":`, `"count":1`, 1)), 0o644)
		_, err := OpenShards(dir, "imagenet10", "test")
		if err == nil || !strings.Contains(err.Error(), ip) {
			t.Fatalf("inconsistent index: %v", err)
		}
		os.WriteFile(ip, []byte("{"), 0o644)
		if _, err := OpenShards(dir, "imagenet10", "test"); err == nil || !strings.Contains(err.Error(), ip) {
			t.Fatalf("unreadable index: %v", err)
		}
	})
}

// TestPackedResizedCrop: the ImageNet augmentation gives the same batch from the image folder
// and from its shards.
func TestPackedResizedCrop(t *testing.T) {
	dir := writeTree(t, false)
	src, _ := OpenOriginal("imagenet10", dir, "train")
	fi := src.(*FolderImages)
	if _, err := Pack(context.Background(), fi, dir, "imagenet10", "train", PackOptions{}); err != nil {
		t.Fatal(err)
	}
	sh, err := OpenShards(dir, "imagenet10", "train")
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	aug := ImageNetAugment(12)
	var batches [2]*Batch
	for k, s := range []Source{fi, sh} {
		l := &Loader{Src: s, Labels: fi.Labels(), BatchSize: 7, Order: Shuffled{N: s.Len(), Seed: 3}, Aug: &aug, Seed: 5, Stream: 1, DropLast: true}
		if batches[k], err = l.Batch(2, 1); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(batches[0].X, batches[1].X) || !slices.Equal(batches[0].Labels, batches[1].Labels) {
		t.Fatal("folder and shards give different augmented batches")
	}
}

func readTarNames(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

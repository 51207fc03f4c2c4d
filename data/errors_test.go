package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad input gives one error naming the file, what was expected and what was
// found.
func TestBadInputErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(rel string, b []byte) string {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, b, 0o644)
		return p
	}
	m := Synthetic(SyntheticConfig{N: 2, H: 32, W: 32, C: 3, Classes: 10, Look: 1, Draw: 1})
	good := filepath.Join(dir, "good.bin")
	WriteCIFAR(good, m, nil)
	rec := mustRead(t, good)
	trunc := write("trunc/"+cifar10Dir+"/test_batch.bin", rec[:len(rec)-5])
	badLabel := append([]byte{}, rec...)
	badLabel[3073] = 42
	bl := write("badlabel/"+cifar10Dir+"/test_batch.bin", badLabel)

	gz := filepath.Join(dir, "img.gz")
	WriteIDX(gz, []int{2, 28, 28}, make([]uint8, 2*28*28))
	idxRaw := filepath.Join(dir, "raw.idx")
	WriteIDX(idxRaw, []int{2, 28, 28}, make([]uint8, 2*28*28))
	b := mustRead(t, idxRaw)
	b[2] = 0x0d // float type
	wrongType := write("float.idx", b)
	shortIDX := write("short.idx", mustRead(t, idxRaw)[:100])

	npy := filepath.Join(dir, "pool.npy")
	WriteNPY(npy, []int{2, 8, 8}, make([]float32, 128))

	mat := mustRead(t, "testdata/svhn_compressed.mat")
	badMat := append([]byte{}, mat...)
	copy(badMat[126:], "XX")
	matBad := write("bad.mat", badMat)

	cases := []struct {
		name string
		err  func() error
		want []string
	}{
		{"truncated cifar", func() error { _, err := ReadCIFAR10(filepath.Join(dir, "trunc"), "test"); return err },
			[]string{trunc, "6141 bytes", "multiple of the 3073-byte record"}},
		{"cifar label out of range", func() error { _, err := ReadCIFAR10(filepath.Join(dir, "badlabel"), "test"); return err },
			[]string{bl, "label 42", "want 0..9"}},
		{"idx wrong type", func() error { _, _, err := ReadIDX(wrongType); return err },
			[]string{wrongType, "00 00 0d 03", "want 00 08"}},
		{"idx truncated", func() error { _, _, err := ReadIDX(shortIDX); return err },
			[]string{shortIDX, "1568 data bytes", "found 84"}},
		{"npy pool of floats", func() error { _, err := OpenNPYImages(npy); return err },
			[]string{npy, "dtype f4", "want uint8"}},
		{"mat bad header", func() error { _, err := ReadSVHN(matBad); return err },
			[]string{matBad, `"XX"`, "IM"}},
		{"svhn wrong variable shape", func() error {
			_, err := ReadSVHN("testdata/svhn_plain.mat")
			return err
		}, nil}, // valid file: no error expected (checked below)
		{"unknown data set", func() error { _, err := Load("cifar1000", dir, "train"); return err },
			[]string{`unknown data set "cifar1000"`, "cifar100,"}},
		{"missing split", func() error { _, err := Load("svhn", dir, "train"); return err },
			[]string{`split "train"`, "want one of test"}},
		{"missing files", func() error { _, err := Load("cifar100", t.TempDir(), "train"); return err },
			[]string{"cifar-100-binary/train.bin", "go run ./tools/fetch cifar100"}},
		{"npy shape mismatch", func() error { return WriteNPY(filepath.Join(dir, "x.npy"), []int{2, 2}, []uint8{1}) },
			[]string{"x.npy", "4 elements", "got 1"}},
	}
	for _, c := range cases {
		err := c.err()
		if c.want == nil {
			if err != nil {
				t.Errorf("%s: unexpected error %v", c.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
	}
	miss := Missing("ti300k", dir)
	if len(miss) != 1 || !strings.Contains(miss[0], "300K_random_images.npy") || !strings.Contains(miss[0], "tools/fetch ti300k") {
		t.Errorf("Missing(ti300k) = %v", miss)
	}
	if miss := Missing("synthetic-cifar10", dir); miss != nil {
		t.Errorf("synthetic sets need no files: %v", miss)
	}
	if miss := Missing("imagenet1k", dir); len(miss) == 0 || !strings.Contains(miss[0], "licence") {
		t.Errorf("Missing(imagenet1k) = %v", miss)
	}
}

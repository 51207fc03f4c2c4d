package data

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Corrupt compressed data must be an error that names the file (and the
// member of an archive) and says the data is corrupt; before, a gzip member
// with a bad CRC or a cut trailer was read silently.

func wantErr(t *testing.T, what string, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q does not mention %q", what, err, w)
		}
	}
}

// noise returns n pseudo-random bytes, which deflate cannot shrink, so that a
// cut in the middle of a compressed stream falls inside the data.
func noise(n int) []uint8 {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]uint8, n)
	for i := range b {
		b[i] = uint8(r.Uint32())
	}
	return b
}

func TestIDXCorruptGzip(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good-idx3-ubyte.gz")
	if err := WriteIDX(good, []int{4, 28, 28}, noise(4*28*28)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadIDX(good); err != nil {
		t.Fatalf("intact file: %v", err)
	}
	raw := mustRead(t, good)
	crc := append([]byte{}, raw...)
	crc[len(crc)-8] ^= 0xff // first byte of the CRC-32 in the 8-byte trailer
	size := append([]byte{}, raw...)
	size[len(size)-1] ^= 0x01 // ISIZE, the length modulo 2^32
	cases := []struct {
		name string
		data []byte
		want []string
	}{
		{"crc-idx3-ubyte.gz", crc, []string{"corrupt gzip data", "checksum"}},
		{"size-idx3-ubyte.gz", size, []string{"corrupt gzip data", "checksum"}},
		{"notrailer-idx3-ubyte.gz", raw[:len(raw)-8], []string{"corrupt gzip data", "cut short"}},
		{"half-idx3-ubyte.gz", raw[:len(raw)/2], []string{"corrupt gzip data", "cut short"}},
		{"garbage-idx3-ubyte.gz", append(append([]byte{}, raw...), "garbage!!!!!"...), []string{"corrupt gzip data", "after the end"}},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name)
		os.WriteFile(p, c.data, 0o644)
		_, _, err := ReadIDX(p)
		wantErr(t, c.name, err, append([]string{p, "fetch it again"}, c.want...)...)
	}
}

func TestFetchCorruptTarGz(t *testing.T) {
	good := cifar10Archive(t, nil)
	crc := append([]byte{}, good...)
	crc[len(crc)-8] ^= 0xff
	for _, c := range []struct {
		name string
		arch []byte
		want string
	}{
		{"crc", crc, "checksum"},
		{"cut", good[:len(good)*2/3], "cut short"},
	} {
		// The archive's md5 matches (a publisher file that was corrupt
		// before its digest was taken, or a set with no published digest):
		// only the decompressor can tell.
		srv, _ := serve(t, map[string][]byte{"cifar-10-binary.tar.gz": c.arch}, 0)
		dir := t.TempDir()
		f := &Fetcher{Dir: dir, BaseURL: srv.URL}
		d := Download{Set: "cifar10", URL: "https://x/cifar-10-binary.tar.gz", Extract: true, MD5: md5hex(c.arch), ChecksumSource: "test"}
		err := f.fetchOne(context.Background(), d)
		wantErr(t, c.name, err, "cifar-10-binary.tar.gz", "corrupt gzip data", c.want)
		if _, err := os.Stat(filepath.Join(dir, cifar10Dir)); err == nil {
			t.Errorf("%s: a corrupt archive was extracted", c.name)
		}
		if f.Verified(d) {
			t.Errorf("%s: a corrupt archive was marked verified", c.name)
		}
		if _, err := os.Stat(filepath.Join(dir, ".fetch", "cifar-10-binary.tar.gz.part")); err == nil {
			t.Errorf("%s: the corrupt download was left to be resumed (it would fail the same way again)", c.name)
		}
	}
}

// storedZip writes a zip with uncompressed members; a flipped data byte then
// changes the member's content and only its CRC-32 shows it.
func storedZip(t *testing.T, p string, members map[string][]byte) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range members {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// flipAfter flips the byte n bytes after the first occurrence of marker.
func flipAfter(t *testing.T, p string, marker []byte, n int) {
	t.Helper()
	b := mustRead(t, p)
	i := bytes.Index(b, marker)
	if i < 0 {
		t.Fatalf("%s: marker %q not found", p, marker)
	}
	b[i+n] ^= 0xff
	os.WriteFile(p, b, 0o644)
}

func TestExtractZipCorruptMember(t *testing.T) {
	dir := t.TempDir()
	arch := filepath.Join(dir, "set.zip")
	body := append([]byte("MEMBERSTART"), noise(500)...)
	storedZip(t, arch, map[string][]byte{"set/a.bin": body})
	flipAfter(t, arch, []byte("MEMBERSTART"), 100)
	dest := filepath.Join(dir, "dest")
	os.MkdirAll(dest, 0o755)
	err := extractArchive(arch, "set.zip", dest, filepath.Join(dir, "tmp"))
	wantErr(t, "zip", err, "set/a.bin", "corrupt zip data", "checksum")
	if ents, _ := os.ReadDir(dest); len(ents) != 0 {
		t.Errorf("corrupt zip extracted: %v", ents)
	}
}

func TestNPZCorruptMember(t *testing.T) {
	p := filepath.Join(t.TempDir(), "train_data_batch_1.npz")
	var a, l bytes.Buffer
	if err := EncodeNPY(&a, []int{2, 12}, noise(24), 1); err != nil {
		t.Fatal(err)
	}
	EncodeNPY(&l, []int{2}, []int64{1, 2}, 1)
	storedZip(t, p, map[string][]byte{"data.npy": a.Bytes(), "labels.npy": l.Bytes()})
	if _, err := ReadNPZ(p); err != nil {
		t.Fatalf("intact npz: %v", err)
	}
	flipAfter(t, p, []byte("'shape': (2, 12)"), 80) // a data byte of data.npy
	_, err := ReadNPZ(p)
	wantErr(t, "npz", err, p, "data.npy", "corrupt zip data", "checksum")
	_, err = ReadImageNet64(filepath.Dir(p))
	wantErr(t, "imagenet64", err, p, "data.npy", "corrupt zip data")

	// np.savez_compressed: a byte flipped inside the deflate stream of
	// data.npy (its local header is the first 38 bytes).
	np := filepath.Join(t.TempDir(), "tiny.npz")
	b := mustRead(t, "testdata/imagenet64_tiny.npz")
	b[38+100] ^= 0x55
	os.WriteFile(np, b, 0o644)
	_, err = ReadNPZ(np, "data")
	wantErr(t, "deflated npz", err, np, "data.npy", "corrupt zip data")
}

func TestMATCorruptCompressed(t *testing.T) {
	raw := mustRead(t, "testdata/svhn_compressed.mat")
	// The first element after the 128-byte header is a compressed one:
	// tag (miCOMPRESSED, nbytes), then a zlib stream ending in its Adler-32.
	if typ := binary.LittleEndian.Uint32(raw[128:]); typ != miCOMPRESSED {
		t.Fatalf("first element of type %d, want miCOMPRESSED", typ)
	}
	end := 136 + int(binary.LittleEndian.Uint32(raw[132:]))
	adler := append([]byte{}, raw...)
	adler[end-1] ^= 0xff
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"adler.mat", adler, "checksum"},
		{"cut.mat", raw[:136+(end-136)/2], "cut short"},
	} {
		p := filepath.Join(dir, c.name)
		os.WriteFile(p, c.data, 0o644)
		_, err := ReadSVHN(p)
		wantErr(t, c.name, err, p, "corrupt zlib data", c.want)
	}
}

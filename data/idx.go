package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// IDX files (http://yann.lecun.com/exdb/mnist/): two zero bytes, a type byte
// (0x08 = unsigned byte, the only type MNIST and Fashion-MNIST use), the
// number of dimensions, then each dimension as a big-endian uint32, then the
// data in row-major order. The published files are gzipped.

// MNIST file names (identical for Fashion-MNIST).
var mnistFiles = map[string][2]string{
	"train": {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"},
	"test":  {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"},
}

// ReadIDX reads an unsigned-byte IDX file, gzipped when its name ends in .gz.
// A gzipped file is read to the end of its stream, so that a CRC or length
// mismatch, a cut trailer or trailing garbage is an error (*CorruptError).
func ReadIDX(path string) (shape []int, values []uint8, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReader(f)
	var zc *checked // the gzip stream, when there is one
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("idx: %s: want a gzip stream: %w", path, err)
		}
		defer zr.Close()
		zc = newChecked(zr, "gzip")
		r = zc
	}
	// fail reports err, or the decompressor's error behind it.
	fail := func(format string, args ...any) error {
		return fmt.Errorf("idx: %s: %w", path, zc.explain(fmt.Errorf(format, args...)))
	}
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, nil, fail("reading magic: %w", err)
	}
	if magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] == 0 {
		return nil, nil, fail("magic % x, want 00 08 0n (unsigned bytes, n dimensions)", magic)
	}
	dims := make([]uint32, magic[3])
	if err := binary.Read(r, binary.BigEndian, dims); err != nil {
		return nil, nil, fail("reading %d dimensions: %w", len(dims), err)
	}
	n := 1
	for _, d := range dims {
		shape = append(shape, int(d))
		n *= int(d)
	}
	if n > 1<<34 {
		return nil, nil, fail("shape %v too large", shape)
	}
	values = make([]uint8, n)
	if k, err := io.ReadFull(r, values); err != nil {
		return nil, nil, fail("shape %v needs %d data bytes, found %d", shape, n, k)
	}
	// Read to the end: the gzip reader checks the trailer only there.
	extra, err := io.Copy(io.Discard, r)
	if err != nil {
		return nil, nil, fail("after the data: %w", err)
	}
	if extra > 0 {
		return nil, nil, fail("%d extra bytes after the %d data bytes of shape %v", extra, n, shape)
	}
	return shape, values, nil
}

// WriteIDX writes an unsigned-byte IDX file, gzipped when path ends in .gz.
func WriteIDX(path string, shape []int, values []uint8) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	var w io.Writer = f
	var zw *gzip.Writer
	if strings.HasSuffix(path, ".gz") {
		zw = gzip.NewWriter(f)
		w = zw
	}
	hdr := []byte{0, 0, 0x08, byte(len(shape))}
	for _, d := range shape {
		hdr = binary.BigEndian.AppendUint32(hdr, uint32(d))
	}
	if _, err := w.Write(hdr); err != nil {
		f.Close()
		return err
	}
	if _, err := w.Write(values); err != nil {
		f.Close()
		return err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// ReadMNISTDir reads the split ("train" or "test") of an MNIST-format set
// (MNIST, Fashion-MNIST) from the four gzipped IDX files in dir, as 28x28x1
// images.
func ReadMNISTDir(dir, split string) (*Images, error) {
	names, ok := mnistFiles[split]
	if !ok {
		return nil, fmt.Errorf("mnist: split %q: want train or test", split)
	}
	ipath, lpath := filepath.Join(dir, names[0]), filepath.Join(dir, names[1])
	ishape, pix, err := ReadIDX(ipath)
	if err != nil {
		return nil, err
	}
	if len(ishape) != 3 {
		return nil, fmt.Errorf("mnist: %s: shape %v, want (N, rows, cols)", ipath, ishape)
	}
	lshape, labs, err := ReadIDX(lpath)
	if err != nil {
		return nil, err
	}
	if len(lshape) != 1 || lshape[0] != ishape[0] {
		return nil, fmt.Errorf("mnist: %s: shape %v, want (%d,) to match %s", lpath, lshape, ishape[0], ipath)
	}
	out := &Images{N: ishape[0], H: ishape[1], W: ishape[2], C: 1, Pix: pix, Labels: make([]int32, ishape[0])}
	for i, l := range labs {
		if l > 9 {
			return nil, fmt.Errorf("mnist: %s: label %d of item %d, want 0..9", lpath, l, i)
		}
		out.Labels[i] = int32(l)
	}
	return out, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

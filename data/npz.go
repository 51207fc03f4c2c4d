package data

import (
	"bufio"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"codeberg.org/sbinet/npyio/npz"
)

// ReadNPZ reads the named arrays (without the .npy suffix) from a NumPy .npz
// archive (np.savez or np.savez_compressed); with no names it reads all.
// Each member is read to its end, where the zip reader checks its CRC-32: a
// mismatch is a *CorruptError.
func ReadNPZ(path string, names ...string) (map[string]*NPY, error) {
	zr, err := npz.Open(path)
	if err != nil {
		if e := errors.Unwrap(err); e != nil {
			err = e // drop npyio's "npz: could not open ..." that repeats the path
		}
		return nil, fmt.Errorf("npz: %s: %w", path, err)
	}
	defer zr.Close()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]*NPY{}
	for _, member := range zr.Keys() {
		key := strings.TrimSuffix(member, ".npy")
		if len(want) > 0 && !want[key] {
			continue
		}
		a, err := readNPZMember(zr, member)
		if err != nil {
			return nil, fmt.Errorf("npz: %s: member %s: %w", path, member, err)
		}
		out[key] = a
	}
	for n := range want {
		if out[n] == nil {
			return nil, fmt.Errorf("npz: %s: array %q not found", path, n)
		}
	}
	return out, nil
}

func readNPZMember(zr *npz.Reader, member string) (*NPY, error) {
	rc, err := zr.Open(member)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	zc := newChecked(rc, "zip")
	a, err := decodeNPY(bufio.NewReader(zc))
	if err != nil {
		// A corrupt member explains whatever the parser made of it.
		if _, cerr := zc.drain(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	return a, nil
}

// ReadImageNet64 reads downsampled-ImageNet files (Chrabaszcz et al. 2017,
// "Imagenet64x64" npz release): every *.npz in dir holds "data", uint8
// (N, 3*side*side) with the R, G and B planes of each image one after the
// other, and "labels", 1..1000. Files are read in sorted name order; labels
// become 0-based.
func ReadImageNet64(dir string) (*Images, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.npz"))
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("imagenet64: no .npz files in %s", dir)
	}
	var out *Images
	for _, f := range files {
		arrs, err := ReadNPZ(f, "data", "labels")
		if err != nil {
			return nil, err
		}
		d, l := arrs["data"], arrs["labels"]
		pix, ok := d.Values.([]uint8)
		if !ok || len(d.Shape) != 2 || d.Shape[1]%3 != 0 {
			return nil, fmt.Errorf("imagenet64: %s: data is %s %v, want uint8 (N, 3*side*side)", f, d.DType, d.Shape)
		}
		side := 1
		for side*side*3 < d.Shape[1] {
			side++
		}
		if side*side*3 != d.Shape[1] {
			return nil, fmt.Errorf("imagenet64: %s: row length %d is not 3*side*side", f, d.Shape[1])
		}
		labs, err := l.Float64s()
		if err != nil || len(labs) != d.Shape[0] {
			return nil, fmt.Errorf("imagenet64: %s: labels %v, want %d labels", f, l.Shape, d.Shape[0])
		}
		part := NewImages(d.Shape[0], side, side, 3, true)
		for i := range part.N {
			planarToHWC(part.At(i), pix[i*d.Shape[1]:], side, side, 3)
			if labs[i] < 1 || labs[i] > 1000 {
				return nil, fmt.Errorf("imagenet64: %s: label %v of image %d, want 1..1000", f, labs[i], i)
			}
			part.Labels[i] = int32(labs[i]) - 1
		}
		if out == nil {
			out = part
			continue
		}
		if part.H != out.H {
			return nil, fmt.Errorf("imagenet64: %s: %dx%d images, earlier files have %dx%d", f, part.H, part.W, out.H, out.W)
		}
		out.Pix = append(out.Pix, part.Pix...)
		out.Labels = append(out.Labels, part.Labels...)
		out.N += part.N
	}
	return out, nil
}

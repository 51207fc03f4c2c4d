package data

import (
	"archive/zip"
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
)

// ReadNPZ reads the named arrays (without the .npy suffix) from a NumPy .npz
// archive (np.savez or np.savez_compressed); with no names it reads all.
func ReadNPZ(path string, names ...string) (map[string]*NPY, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("npz: %s: want a zip archive: %w", path, err)
	}
	defer zr.Close()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]*NPY{}
	for _, f := range zr.File {
		key := strings.TrimSuffix(f.Name, ".npy")
		if len(want) > 0 && !want[key] {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("npz: %s: member %s: %w", path, f.Name, err)
		}
		br := bufio.NewReader(rc)
		h, err := ReadNPYHeader(br)
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("npz: %s: member %s: %w", path, f.Name, err)
		}
		n := int64(h.Len()) * int64(h.ItemSize())
		if got := int64(f.UncompressedSize64) - h.DataOffset; got != n {
			rc.Close()
			return nil, fmt.Errorf("npz: %s: member %s: shape %v dtype %s needs %d data bytes, member has %d", path, f.Name, h.Shape, h.DType, n, got)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(br, buf); err != nil {
			rc.Close()
			return nil, fmt.Errorf("npz: %s: member %s: %w", path, f.Name, err)
		}
		rc.Close()
		out[key] = &NPY{Shape: h.Shape, DType: h.DType, Fortran: h.Fortran, Data: buf}
	}
	for n := range want {
		if out[n] == nil {
			return nil, fmt.Errorf("npz: %s: array %q not found", path, n)
		}
	}
	return out, nil
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
		if d.DType != "u1" || len(d.Shape) != 2 || d.Shape[1]%3 != 0 {
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
			planarToHWC(part.At(i), d.Data[i*d.Shape[1]:], side, side, 3)
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

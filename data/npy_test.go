package data

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNPYRoundTrip(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name   string
		shape  []int
		values any
		want   []float64
		dtype  string
	}{
		{"f4", []int{2, 3}, []float32{0, 1.5, -2, 3, 4, 5}, []float64{0, 1.5, -2, 3, 4, 5}, "f4"},
		{"f8", []int{4}, []float64{1e-300, -1, 0.25, 7}, []float64{1e-300, -1, 0.25, 7}, "f8"},
		{"u1", []int{1, 2, 2}, []uint8{0, 255, 7, 128}, []float64{0, 255, 7, 128}, "u1"},
		{"i4", []int{2}, []int32{-5, 1 << 30}, []float64{-5, 1 << 30}, "i4"},
		{"i8", []int{}, []int64{-1 << 40}, []float64{-1 << 40}, "i8"},
	}
	for _, version := range []int{1, 2} {
		for _, c := range cases {
			var buf bytes.Buffer
			if err := EncodeNPY(&buf, c.shape, c.values, version); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, c.name+".npy")
			if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			a, err := ReadNPY(p)
			if err != nil {
				t.Fatalf("v%d %s: %v", version, c.name, err)
			}
			if a.DType != c.dtype || a.Fortran || len(a.Shape) != len(c.shape) {
				t.Fatalf("v%d %s: got dtype %s fortran %v shape %v", version, c.name, a.DType, a.Fortran, a.Shape)
			}
			for i := range c.shape {
				if a.Shape[i] != c.shape[i] {
					t.Fatalf("v%d %s: shape %v want %v", version, c.name, a.Shape, c.shape)
				}
			}
			got, err := a.Float64s()
			if err != nil {
				t.Fatal(err)
			}
			for i := range c.want {
				if got[i] != c.want[i] {
					t.Fatalf("v%d %s: value %d = %v want %v", version, c.name, i, got[i], c.want[i])
				}
			}
			h, err := ReadNPYHeader(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if h.Version != version || h.DataOffset%64 != 0 {
				t.Fatalf("v%d %s: header version %d offset %d", version, c.name, h.Version, h.DataOffset)
			}
		}
	}
}

// TestNPYNumpyBytes reads a header written byte for byte as numpy 1.x
// np.save writes np.array([[1, 2, 3], [4, 5, 6]], dtype='<i8', order='F').
func TestNPYNumpyBytes(t *testing.T) {
	dict := "{'descr': '<i8', 'fortran_order': True, 'shape': (2, 3), }"
	hdr := dict + strings.Repeat(" ", 128-10-len(dict)-1) + "\n"
	var buf bytes.Buffer
	buf.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&buf, binary.LittleEndian, uint16(len(hdr)))
	buf.WriteString(hdr)
	// Column-major storage: 1 4 2 5 3 6.
	binary.Write(&buf, binary.LittleEndian, []int64{1, 4, 2, 5, 3, 6})
	p := filepath.Join(t.TempDir(), "f.npy")
	os.WriteFile(p, buf.Bytes(), 0o644)
	a, err := ReadNPY(p)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Fortran || a.DType != "i8" {
		t.Fatalf("fortran %v dtype %s", a.Fortran, a.DType)
	}
	got, _ := a.Float64s()
	for i, w := range []float64{1, 2, 3, 4, 5, 6} {
		if got[i] != w {
			t.Fatalf("C-order value %d = %v want %v (all %v)", i, got[i], w, got)
		}
	}
}

func TestNPYErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.npy")
	if err := WriteNPY(good, []int{10}, make([]float32, 10)); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(good)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	bigEndian := bytes.Replace(raw, []byte("'<f4'"), []byte("'>f4'"), 1)
	complexT := bytes.Replace(raw, []byte("'<f4'"), []byte("'<c8'"), 1)
	cases := []struct {
		path string
		want []string
	}{
		{write("trunc.npy", raw[:len(raw)-3]), []string{"trunc.npy", "40 data bytes", "37"}},
		{write("magic.npy", append([]byte("XNUMPY"), raw[6:]...)), []string{"magic.npy", "bad magic"}},
		{write("be.npy", bigEndian), []string{"be.npy", "little-endian"}},
		{write("c8.npy", complexT), []string{"c8.npy", "<c8"}},
		{write("short.npy", raw[:5]), []string{"short.npy", "magic"}},
	}
	for _, c := range cases {
		_, err := ReadNPY(c.path)
		if err == nil {
			t.Fatalf("%s: no error", c.path)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.path, err, w)
			}
		}
	}
	if err := WriteNPY(filepath.Join(dir, "x.npy"), []int{3}, []float32{1, 2}); err == nil {
		t.Error("shape mismatch accepted by WriteNPY")
	}
}

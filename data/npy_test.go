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
			h, err := readNPYHeader(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if int(h.Major) != version || h.Offset%64 != 0 {
				t.Fatalf("v%d %s: header version %d offset %d", version, c.name, h.Major, h.Offset)
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
	complexT := bytes.Replace(raw, []byte("'<f4'"), []byte("'<c8'"), 1)
	cases := []struct {
		path string
		want []string
	}{
		{write("trunc.npy", raw[:len(raw)-3]), []string{"trunc.npy", "40 data bytes", "37"}},
		{write("magic.npy", append([]byte("XNUMPY"), raw[6:]...)), []string{"magic.npy", "bad magic"}},
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

// rawNPY builds a .npy stream with the header dict as given.
func rawNPY(version byte, dict string, data []byte) []byte {
	pre := map[byte]int{1: 10, 2: 12, 3: 12}[version]
	hdr := dict + strings.Repeat(" ", 63-(pre+len(dict))%64) + "\n"
	var buf bytes.Buffer
	buf.WriteString("\x93NUMPY")
	buf.Write([]byte{version, 0})
	if version == 1 {
		binary.Write(&buf, binary.LittleEndian, uint16(len(hdr)))
	} else {
		binary.Write(&buf, binary.LittleEndian, uint32(len(hdr)))
	}
	buf.WriteString(hdr)
	buf.Write(data)
	return buf.Bytes()
}

// npyio decodes any byte order and the other real number dtypes NumPy
// writes.
func TestNPYDTypesAndByteOrder(t *testing.T) {
	be := func(v any) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.BigEndian, v)
		return b.Bytes()
	}
	le := func(v any) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, v)
		return b.Bytes()
	}
	cases := []struct {
		descr string
		data  []byte
		want  []float64
	}{
		{">f4", be([]float32{1.5, -2, 1e30}), []float64{1.5, -2, float64(float32(1e30))}},
		{">i8", be([]int64{-1 << 40, 7, 0}), []float64{-1 << 40, 7, 0}},
		{">u2", be([]uint16{65535, 1, 2}), []float64{65535, 1, 2}},
		{"<i2", le([]int16{-32768, 5, 6}), []float64{-32768, 5, 6}},
		{"|i1", []byte{0xff, 0x7f, 0x80}, []float64{-1, 127, -128}},
		{"|b1", []byte{1, 0, 1}, []float64{1, 0, 1}},
		{"<f2", le([]uint16{0x3e00, 0xc000, 0x7bff}), []float64{1.5, -2, 65504}},
		{"<u8", le([]uint64{1 << 60, 0, 3}), []float64{1 << 60, 0, 3}},
	}
	dir := t.TempDir()
	for _, c := range cases {
		p := filepath.Join(dir, "x.npy")
		os.WriteFile(p, rawNPY(1, "{'descr': '"+c.descr+"', 'fortran_order': False, 'shape': (3,), }", c.data), 0o644)
		a, err := ReadNPY(p)
		if err != nil {
			t.Fatalf("%s: %v", c.descr, err)
		}
		got, err := a.Float64s()
		if err != nil || a.DType != c.descr[1:] {
			t.Fatalf("%s: dtype %s, %v", c.descr, a.DType, err)
		}
		for i := range c.want {
			if got[i] != c.want[i] {
				t.Fatalf("%s: values %v, want %v", c.descr, got, c.want)
			}
		}
	}
}

// Headers that npyio cannot parse give an error naming the file, never a
// panic: npyio needs NumPy's own key order and final newline (it panics
// otherwise), and reads formats 1.0 and 2.0 only (NumPy writes 3.0 only for
// structured dtypes with non-Latin-1 field names, which are refused anyway).
// Dtypes other than real numbers, bad shapes and data of the wrong length
// are refused before npyio decodes them.
func TestNPYBadHeaders(t *testing.T) {
	data := make([]byte, 12)
	noNewline := rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", data)
	noNewline[len(noNewline)-len(data)-1] = ' '
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"order.npy", rawNPY(1, "{'shape': (3,), 'fortran_order': False, 'descr': '<f4', }", data), "NumPy's form"},
		{"nonewline.npy", noNewline, "NumPy's form"},
		{"v3.npy", rawNPY(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", data), "version"},
		{"object.npy", rawNPY(1, "{'descr': '|O', 'fortran_order': False, 'shape': (3,), }", data), "|O"},
		{"struct.npy", rawNPY(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }", data), "dtype"},
		{"negative.npy", rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }", data), "non-negative"},
		{"long.npy", rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", append(data, 1, 2)), "found 14"},
		{"odd.npy", rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", data[:10]), "found 10"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		p := filepath.Join(dir, c.name)
		os.WriteFile(p, c.b, 0o644)
		_, err := ReadNPY(p)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming the file and %q", c.name, err, c.want)
		}
	}
}

package data

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// npyMagic starts every NumPy .npy file (format description:
// numpy.lib.format, "NEP 1 — A simple file format for NumPy arrays").
const npyMagic = "\x93NUMPY"

// NPY is an array read from a NumPy .npy file (format versions 1.0, 2.0 and
// 3.0). Only little-endian (or byte-sized) dtypes are supported: u1, f4, f8,
// i4, i8.
type NPY struct {
	// Shape is the array shape; an empty shape is a scalar (one element).
	Shape []int
	// DType is the element type without the byte-order mark: "u1", "f4",
	// "f8", "i4" or "i8".
	DType string
	// Fortran reports that the data is stored in column-major order.
	Fortran bool
	// Data holds the raw little-endian element bytes in file order.
	Data []byte
}

// NPYHeader is the parsed header of a .npy file.
type NPYHeader struct {
	// Shape, DType and Fortran are as in NPY.
	Shape   []int
	DType   string
	Fortran bool
	// Version is the format major version (1, 2 or 3).
	Version int
	// DataOffset is the byte offset of the first element in the file.
	DataOffset int64
}

// Len returns the number of elements (the product of Shape).
func (h NPYHeader) Len() int {
	n := 1
	for _, d := range h.Shape {
		n *= d
	}
	return n
}

// ItemSize returns the size in bytes of one element of DType.
func (h NPYHeader) ItemSize() int { return dtypeSize(h.DType) }

func dtypeSize(dt string) int {
	switch dt {
	case "u1":
		return 1
	case "i4", "f4":
		return 4
	case "i8", "f8":
		return 8
	}
	return 0
}

// ReadNPY reads a whole .npy file into memory.
func ReadNPY(path string) (*NPY, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(f)
	h, err := ReadNPYHeader(br)
	if err != nil {
		return nil, fmt.Errorf("npy: %s: %w", path, err)
	}
	want := int64(h.Len()) * int64(h.ItemSize())
	if got := st.Size() - h.DataOffset; got != want {
		return nil, fmt.Errorf("npy: %s: shape %v dtype %s needs %d data bytes after the %d-byte header, file has %d",
			path, h.Shape, h.DType, want, h.DataOffset, got)
	}
	buf := make([]byte, want)
	if _, err := io.ReadFull(br, buf); err != nil {
		return nil, fmt.Errorf("npy: %s: reading data: %w", path, err)
	}
	return &NPY{Shape: h.Shape, DType: h.DType, Fortran: h.Fortran, Data: buf}, nil
}

// ReadNPYHeader parses a .npy header from r, leaving r positioned at the
// first data byte.
func ReadNPYHeader(r io.Reader) (NPYHeader, error) {
	var h NPYHeader
	pre := make([]byte, 8)
	if _, err := io.ReadFull(r, pre); err != nil {
		return h, fmt.Errorf("reading magic: want %q + version, got %w", npyMagic, err)
	}
	if string(pre[:6]) != npyMagic {
		return h, fmt.Errorf("bad magic: want %q, found %q", npyMagic, pre[:6])
	}
	h.Version = int(pre[6])
	var hlen int
	switch h.Version {
	case 1:
		b := make([]byte, 2)
		if _, err := io.ReadFull(r, b); err != nil {
			return h, fmt.Errorf("reading header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint16(b))
		h.DataOffset = 10 + int64(hlen)
	case 2, 3:
		b := make([]byte, 4)
		if _, err := io.ReadFull(r, b); err != nil {
			return h, fmt.Errorf("reading header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint32(b))
		h.DataOffset = 12 + int64(hlen)
	default:
		return h, fmt.Errorf("format version %d.%d: want 1.x, 2.x or 3.x", pre[6], pre[7])
	}
	if hlen > 1<<24 {
		return h, fmt.Errorf("header length %d: want at most %d", hlen, 1<<24)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return h, fmt.Errorf("reading %d-byte header: %w", hlen, err)
	}
	if err := parseNPYDict(string(hb), &h); err != nil {
		return h, err
	}
	return h, nil
}

// parseNPYDict parses the Python dict literal of a .npy header, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }.
func parseNPYDict(s string, h *NPYHeader) error {
	orig := strings.TrimSpace(s)
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return fmt.Errorf("header %q: want a Python dict literal {...}", orig)
	}
	s = strings.TrimSpace(s[1 : len(s)-1])
	seen := map[string]bool{}
	for s != "" {
		key, rest, err := pyString(s)
		if err != nil {
			return fmt.Errorf("header %q: key: %w", orig, err)
		}
		rest = strings.TrimSpace(rest)
		if !strings.HasPrefix(rest, ":") {
			return fmt.Errorf("header %q: want ':' after key %q", orig, key)
		}
		rest = strings.TrimSpace(rest[1:])
		switch key {
		case "descr":
			var d string
			d, rest, err = pyString(rest)
			if err != nil {
				return fmt.Errorf("header %q: descr: %w", orig, err)
			}
			dt, err := parseDescr(d)
			if err != nil {
				return err
			}
			h.DType = dt
		case "fortran_order":
			switch {
			case strings.HasPrefix(rest, "True"):
				h.Fortran, rest = true, rest[4:]
			case strings.HasPrefix(rest, "False"):
				h.Fortran, rest = false, rest[5:]
			default:
				return fmt.Errorf("header %q: fortran_order: want True or False", orig)
			}
		case "shape":
			if !strings.HasPrefix(rest, "(") {
				return fmt.Errorf("header %q: shape: want a tuple", orig)
			}
			end := strings.IndexByte(rest, ')')
			if end < 0 {
				return fmt.Errorf("header %q: shape: unterminated tuple", orig)
			}
			h.Shape = []int{}
			for _, f := range strings.Split(rest[1:end], ",") {
				f = strings.TrimSpace(f)
				f = strings.TrimSuffix(f, "L") // Python 2 longs
				if f == "" {
					continue
				}
				v, err := strconv.Atoi(f)
				if err != nil || v < 0 {
					return fmt.Errorf("header %q: shape: dimension %q is not a non-negative integer", orig, f)
				}
				h.Shape = append(h.Shape, v)
			}
			rest = rest[end+1:]
		default:
			return fmt.Errorf("header %q: unexpected key %q (want descr, fortran_order, shape)", orig, key)
		}
		seen[key] = true
		rest = strings.TrimSpace(rest)
		rest = strings.TrimPrefix(rest, ",")
		s = strings.TrimSpace(rest)
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return fmt.Errorf("header %q: missing key %q", orig, k)
		}
	}
	return nil
}

// pyString reads a single- or double-quoted Python string at the start of s.
func pyString(s string) (val, rest string, err error) {
	if s == "" || (s[0] != '\'' && s[0] != '"') {
		return "", s, fmt.Errorf("want a quoted string, found %.20q", s)
	}
	q := s[0]
	end := strings.IndexByte(s[1:], q)
	if end < 0 {
		return "", s, fmt.Errorf("unterminated string %.20q", s)
	}
	return s[1 : end+1], s[end+2:], nil
}

func parseDescr(d string) (string, error) {
	if len(d) != 3 {
		return "", fmt.Errorf("dtype %q: want one of |u1 <f4 <f8 <i4 <i8", d)
	}
	order, dt := d[0], d[1:]
	if dtypeSize(dt) == 0 {
		return "", fmt.Errorf("dtype %q: want one of |u1 <f4 <f8 <i4 <i8", d)
	}
	switch {
	case order == '<', order == '|' && dt == "u1", order == '=' && isLittleEndianHost():
	default:
		return "", fmt.Errorf("dtype %q: only little-endian data is supported", d)
	}
	return dt, nil
}

func isLittleEndianHost() bool {
	return binary.NativeEndian.Uint16([]byte{1, 0}) == 1
}

// Len returns the number of elements.
func (a *NPY) Len() int {
	return NPYHeader{Shape: a.Shape}.Len()
}

// Float64s returns the elements converted to float64 in C (row-major) order,
// whatever the storage order of the file.
func (a *NPY) Float64s() ([]float64, error) {
	n := a.Len()
	size := dtypeSize(a.DType)
	if size == 0 {
		return nil, fmt.Errorf("npy: unsupported dtype %q", a.DType)
	}
	if len(a.Data) != n*size {
		return nil, fmt.Errorf("npy: shape %v dtype %s needs %d bytes, have %d", a.Shape, a.DType, n*size, len(a.Data))
	}
	out := make([]float64, n)
	le := binary.LittleEndian
	for i := range n {
		b := a.Data[i*size:]
		var v float64
		switch a.DType {
		case "u1":
			v = float64(b[0])
		case "i4":
			v = float64(int32(le.Uint32(b)))
		case "i8":
			v = float64(int64(le.Uint64(b)))
		case "f4":
			v = float64(math.Float32frombits(le.Uint32(b)))
		case "f8":
			v = math.Float64frombits(le.Uint64(b))
		}
		out[i] = v
	}
	if a.Fortran && len(a.Shape) > 1 {
		out = fortranToC(out, a.Shape)
	}
	return out, nil
}

// fortranToC reorders column-major values into row-major order.
func fortranToC(in []float64, shape []int) []float64 {
	out := make([]float64, len(in))
	nd := len(shape)
	idx := make([]int, nd)
	// Column-major strides.
	fs := make([]int, nd)
	s := 1
	for d := range nd {
		fs[d] = s
		s *= shape[d]
	}
	for c := range out {
		off := 0
		for d := range nd {
			off += idx[d] * fs[d]
		}
		out[c] = in[off]
		for d := nd - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out
}

// WriteNPY writes values ([]float32, []float64, []uint8, []int32 or []int64,
// in C order) with the given shape as a .npy file. It uses format version 1.0
// unless the header needs more than 65535 bytes, then 2.0.
func WriteNPY(path string, shape []int, values any) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	if err := EncodeNPY(bw, shape, values, 0); err != nil {
		f.Close()
		return fmt.Errorf("npy: %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// EncodeNPY writes values as a .npy stream to w. version selects the header
// format (1 or 2); 0 picks the smallest that fits.
func EncodeNPY(w io.Writer, shape []int, values any, version int) error {
	var descr string
	var n int
	switch v := values.(type) {
	case []float32:
		descr, n = "<f4", len(v)
	case []float64:
		descr, n = "<f8", len(v)
	case []uint8:
		descr, n = "|u1", len(v)
	case []int32:
		descr, n = "<i4", len(v)
	case []int64:
		descr, n = "<i8", len(v)
	default:
		return fmt.Errorf("values of type %T: want []float32, []float64, []uint8, []int32 or []int64", values)
	}
	if want := (NPYHeader{Shape: shape}).Len(); want != n {
		return fmt.Errorf("shape %v holds %d elements, got %d values", shape, want, n)
	}
	var sb strings.Builder
	sb.WriteString("(")
	for i, d := range shape {
		if d < 0 {
			return fmt.Errorf("shape %v: negative dimension", shape)
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strconv.Itoa(d))
	}
	if len(shape) == 1 {
		sb.WriteString(",")
	}
	sb.WriteString(")")
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, sb.String())
	if version == 0 {
		version = 1
		if len(dict)+11 > math.MaxUint16 {
			version = 2
		}
	}
	pre := 10
	if version == 2 {
		pre = 12
	} else if version != 1 {
		return fmt.Errorf("npy version %d: want 1 or 2", version)
	}
	// Pad with spaces so the data starts at a multiple of 64, ending in '\n'.
	total := pre + len(dict) + 1
	pad := (64 - total%64) % 64
	hdr := dict + strings.Repeat(" ", pad) + "\n"
	var buf bytes.Buffer
	buf.WriteString(npyMagic)
	buf.WriteByte(byte(version))
	buf.WriteByte(0)
	if version == 1 {
		if len(hdr) > math.MaxUint16 {
			return fmt.Errorf("header of %d bytes does not fit version 1", len(hdr))
		}
		binary.Write(&buf, binary.LittleEndian, uint16(len(hdr)))
	} else {
		binary.Write(&buf, binary.LittleEndian, uint32(len(hdr)))
	}
	buf.WriteString(hdr)
	if _, err := w.Write(buf.Bytes()); err != nil {
		return err
	}
	if b, ok := values.([]uint8); ok {
		_, err := w.Write(b)
		return err
	}
	return binary.Write(w, binary.LittleEndian, values)
}

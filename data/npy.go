package data

// NumPy .npy and .npz files are read with codeberg.org/sbinet/npyio: its
// npy.Reader parses the header and decodes the elements (either byte order),
// its npz package opens archives. What this file keeps, and why:
//
//   - the byte offset of the data, which npyio does not report and
//     NPYImages needs to memory-map TI-300K: npyStream counts the bytes
//     npyio consumes while parsing the header;
//   - checks around npyio, which panics on some headers (dict keys in
//     another order than NumPy's, no final newline) and on data whose length
//     is not a whole number of elements, decodes whatever length it finds
//     without comparing it with the shape, and would panic on object arrays:
//     the header is parsed under recover, only real number dtypes are
//     decoded, and the stream length is checked against the shape before
//     npyio decodes the data;
//   - conversion to float64 in C order (npyio keeps the file order and
//     converts only into a 2-D float64 mat.Dense);
//   - the writer: npyio.Write takes the shape from the Go value, so a flat
//     pixel slice cannot be written as (N, H, W, C); it always writes format
//     2.0, where NumPy (and the score files here) use 1.0; and it does not
//     pad the header to a multiple of 64 bytes as NumPy does (the data of a
//     1-D float32 array starts at byte 76).
//
// Format 3.0 (a UTF-8 header) is not read, as npyio stops at 2.0; NumPy
// writes it only for structured dtypes with non-Latin-1 field names, which
// are not read here anyway.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"codeberg.org/sbinet/npyio/npy"
	"codeberg.org/sbinet/npyio/npy/float16"
)

// NPY is an array read from a NumPy .npy file or .npz member.
type NPY struct {
	// Shape is the array shape; an empty shape is a scalar (one element).
	Shape []int
	// DType is the element type without the byte-order mark: "u1", "i8",
	// "f4", "b1", ... (see npyDTypes).
	DType string
	// Fortran reports that the data is stored in column-major order.
	Fortran bool
	// Values holds the elements in file order, as npyio decodes them: a
	// []uint8 for u1, []int64 for i8, []float32 for f4, []bool for b1,
	// []float16.Num for f2, and so on.
	Values any
}

// npyDTypes are the element types read, with their sizes in bytes: the real
// number types npyio decodes into Go slices.
var npyDTypes = map[string]int{
	"b1": 1, "i1": 1, "i2": 2, "i4": 4, "i8": 8, "u1": 1, "u2": 2, "u4": 4, "u8": 8, "f2": 2, "f4": 4, "f8": 8,
}

// npyHeader is a header parsed by npyio, with what npyio does not give.
type npyHeader struct {
	npy.Header
	// DType is Descr.Type without quotes and byte-order mark.
	DType string
	// Offset is the byte offset of the first data byte.
	Offset int64
}

// Len returns the number of elements.
func (h npyHeader) Len() int { return shapeLen(h.Descr.Shape) }

// DataBytes returns the size of the data in bytes.
func (h npyHeader) DataBytes() int64 { return int64(h.Len()) * int64(npyDTypes[h.DType]) }

func shapeLen(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// npyStream reads one .npy stream through npyio, counting the bytes npyio
// consumes and, once the header is known, checking the stream's length.
type npyStream struct {
	r   io.Reader
	n   int64
	hdr *npyHeader // set once parsed: Read then checks the length at EOF
	err error      // the length error, reported instead of npyio's wrapping
}

func (s *npyStream) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.n += int64(n)
	if h := s.hdr; err == io.EOF && h != nil && s.n-h.Offset != h.DataBytes() {
		s.err = fmt.Errorf("shape %v dtype %s needs %d data bytes after the %d-byte header, found %d",
			h.Descr.Shape, h.DType, h.DataBytes(), h.Offset, s.n-h.Offset)
		return n, s.err
	}
	return n, err
}

// header parses the header with npyio and checks that it describes an array
// this package can decode.
func (s *npyStream) header() (h npyHeader, rd *npy.Reader, err error) {
	defer func() {
		if p := recover(); p != nil { // npyio slices the dict without bounds checks
			err = fmt.Errorf("header dict not in NumPy's form {'descr': ..., 'fortran_order': ..., 'shape': (...), }\\n, which npyio needs (npyio: %v)", p)
		}
	}()
	rd, err = npy.NewReader(s)
	switch {
	case errors.Is(err, npy.ErrInvalidNumPyFormat):
		return h, nil, fmt.Errorf("bad magic: want a file that starts with %q", npy.Magic[:])
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return h, nil, fmt.Errorf("header cut short after %d bytes (want the magic %q, a version, a length and a dict)", s.n, npy.Magic[:])
	case err != nil && strings.Contains(err.Error(), "major version"):
		return h, nil, fmt.Errorf("header: %s: want format 1.0 or 2.0 (npyio reads no other)", strings.TrimPrefix(err.Error(), "npy: "))
	case err != nil:
		return h, nil, fmt.Errorf("header: %s", strings.TrimPrefix(err.Error(), "npy: "))
	}
	h = npyHeader{Header: rd.Header, Offset: s.n}
	h.Descr.Shape = append([]int{}, h.Descr.Shape...) // () is nil in npyio
	d := strings.Trim(h.Descr.Type, "'")
	if len(d) != 3 || !strings.ContainsRune("<>|=", rune(d[0])) || npyDTypes[d[1:]] == 0 {
		return h, nil, fmt.Errorf("dtype %s: want a real number type (b1, i1-i8, u1-u8, f2-f8)", h.Descr.Type)
	}
	h.DType = d[1:]
	n := int64(1)
	for _, dim := range h.Descr.Shape {
		if dim < 0 || dim > 0 && n > 1<<50/int64(dim) {
			return h, nil, fmt.Errorf("shape %v: want non-negative dimensions and fewer than 2^50 elements", h.Descr.Shape)
		}
		n *= int64(dim)
	}
	return h, rd, nil
}

// readNPYHeader parses the header of a .npy stream, leaving r at the first
// data byte.
func readNPYHeader(r io.Reader) (npyHeader, error) {
	h, _, err := (&npyStream{r: r}).header()
	return h, err
}

// decodeNPY reads a whole .npy stream, to its end.
func decodeNPY(r io.Reader) (*NPY, error) {
	s := &npyStream{r: r}
	h, rd, err := s.header()
	if err != nil {
		return nil, err
	}
	s.hdr = &h // npyio reads to EOF, where s checks the length
	var arr npy.Array
	err = rd.Read(&arr)
	if s.err != nil {
		return nil, s.err
	}
	if err != nil {
		return nil, fmt.Errorf("reading data: %s", strings.TrimPrefix(err.Error(), "npy: "))
	}
	return &NPY{Shape: h.Descr.Shape, DType: h.DType, Fortran: h.Descr.Fortran, Values: arr.Data()}, nil
}

// ReadNPY reads a whole .npy file into memory.
func ReadNPY(path string) (*NPY, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a, err := decodeNPY(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("npy: %s: %w", path, err)
	}
	return a, nil
}

// Len returns the number of elements.
func (a *NPY) Len() int { return shapeLen(a.Shape) }

// Float64s returns the elements converted to float64 in C (row-major) order,
// whatever the storage order of the file.
func (a *NPY) Float64s() ([]float64, error) {
	var out []float64
	switch v := a.Values.(type) {
	case []bool:
		out = make([]float64, len(v))
		for i, b := range v {
			if b {
				out[i] = 1
			}
		}
	case []float16.Num:
		out = make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x.Float32())
		}
	case []int8:
		out = toFloat64(v)
	case []int16:
		out = toFloat64(v)
	case []int32:
		out = toFloat64(v)
	case []int64:
		out = toFloat64(v)
	case []uint8:
		out = toFloat64(v)
	case []uint16:
		out = toFloat64(v)
	case []uint32:
		out = toFloat64(v)
	case []uint64:
		out = toFloat64(v)
	case []float32:
		out = toFloat64(v)
	case []float64:
		out = slices.Clone(v)
	default:
		return nil, fmt.Errorf("npy: dtype %s values of type %T: want a real number type", a.DType, a.Values)
	}
	if len(out) != a.Len() {
		return nil, fmt.Errorf("npy: shape %v holds %d elements, have %d", a.Shape, a.Len(), len(out))
	}
	if a.Fortran && len(a.Shape) > 1 {
		out = fortranToC(out, a.Shape)
	}
	return out, nil
}

func toFloat64[T int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64 | float32](v []T) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
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

// EncodeNPY writes values as a .npy stream to w, as NumPy writes it: the
// header padded with spaces so that the data starts at a multiple of 64
// bytes. version selects the header format (1 or 2); 0 picks the smallest
// that fits.
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
	dims := make([]string, len(shape))
	for i, d := range shape {
		if d < 0 {
			return fmt.Errorf("shape %v: negative dimension", shape)
		}
		dims[i] = strconv.Itoa(d)
	}
	if want := shapeLen(shape); want != n {
		return fmt.Errorf("shape %v holds %d elements, got %d values", shape, want, n)
	}
	tuple := "(" + strings.Join(dims, ", ") + ")"
	if len(shape) == 1 {
		tuple = "(" + dims[0] + ",)"
	}
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, tuple)
	if version == 0 {
		version = 1
		if len(dict)+11 > math.MaxUint16 {
			version = 2
		}
	}
	pre := map[int]int{1: 10, 2: 12}[version] // magic, version, header length
	if pre == 0 {
		return fmt.Errorf("npy version %d: want 1 or 2", version)
	}
	pad := (64 - (pre+len(dict)+1)%64) % 64
	hdr := dict + strings.Repeat(" ", pad) + "\n"
	var buf bytes.Buffer
	buf.Write(npy.Magic[:])
	buf.Write([]byte{byte(version), 0})
	if version == 1 {
		if len(hdr) > math.MaxUint16 {
			return fmt.Errorf("header of %d bytes does not fit version 1", len(hdr))
		}
		buf.Write(binary.LittleEndian.AppendUint16(nil, uint16(len(hdr))))
	} else {
		buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(hdr))))
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

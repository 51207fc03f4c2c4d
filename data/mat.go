package data

import (
	"bufio"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
)

// MATLAB level-5 MAT-file element types and array classes, from MathWorks'
// "MAT-File Format" (matfile_format.pdf, version 7 and earlier), tables 1-2
// and 1-3.
const (
	miINT8       = 1
	miUINT8      = 2
	miINT16      = 3
	miUINT16     = 4
	miINT32      = 5
	miUINT32     = 6
	miSINGLE     = 7
	miDOUBLE     = 9
	miINT64      = 12
	miUINT64     = 13
	miMATRIX     = 14
	miCOMPRESSED = 15
	miUTF8       = 16

	mxCHARClass = 4
)

func miSize(t int) int {
	switch t {
	case miINT8, miUINT8, miUTF8:
		return 1
	case miINT16, miUINT16:
		return 2
	case miINT32, miUINT32, miSINGLE:
		return 4
	case miDOUBLE, miINT64, miUINT64:
		return 8
	}
	return 0
}

// MatVar is one numeric array read from a MAT-file.
type MatVar struct {
	// Name is the variable name.
	Name string
	// Class is the MATLAB array class (6 double, 7 single, 8-15 integers).
	Class int
	// Dims are the array dimensions; data is in column-major order.
	Dims []int
	// Type is the storage element type of the real part (miUINT8, ...),
	// which may be narrower than Class.
	Type int
	// Raw holds the real part's bytes as stored.
	Raw   []byte
	order binary.ByteOrder
}

// Len returns the number of elements.
func (v *MatVar) Len() int { return shapeLen(v.Dims) }

// Float64s returns the real part as float64 values in column-major order.
func (v *MatVar) Float64s() ([]float64, error) {
	size := miSize(v.Type)
	if size == 0 || len(v.Raw) != v.Len()*size {
		return nil, fmt.Errorf("mat: variable %s: %d bytes of type %d for dims %v", v.Name, len(v.Raw), v.Type, v.Dims)
	}
	out := make([]float64, v.Len())
	o := v.order
	for i := range out {
		b := v.Raw[i*size:]
		switch v.Type {
		case miINT8:
			out[i] = float64(int8(b[0]))
		case miUINT8, miUTF8:
			out[i] = float64(b[0])
		case miINT16:
			out[i] = float64(int16(o.Uint16(b)))
		case miUINT16:
			out[i] = float64(o.Uint16(b))
		case miINT32:
			out[i] = float64(int32(o.Uint32(b)))
		case miUINT32:
			out[i] = float64(o.Uint32(b))
		case miSINGLE:
			out[i] = float64(math.Float32frombits(o.Uint32(b)))
		case miDOUBLE:
			out[i] = math.Float64frombits(o.Uint64(b))
		case miINT64:
			out[i] = float64(int64(o.Uint64(b)))
		case miUINT64:
			out[i] = float64(o.Uint64(b))
		}
	}
	return out, nil
}

// Uint8s returns the real part as bytes in column-major order; values stored
// in a wider type must be whole numbers in 0..255.
func (v *MatVar) Uint8s() ([]uint8, error) {
	if v.Type == miUINT8 {
		return v.Raw, nil
	}
	f, err := v.Float64s()
	if err != nil {
		return nil, err
	}
	out := make([]uint8, len(f))
	for i, x := range f {
		if x < 0 || x > 255 || x != math.Trunc(x) {
			return nil, fmt.Errorf("mat: variable %s: element %d is %v, want a whole number in 0..255", v.Name, i, x)
		}
		out[i] = uint8(x)
	}
	return out, nil
}

// ReadMAT reads the named numeric variables from a level-5 MAT-file (the
// format MATLAB writes with -v6 and -v7, including zlib-compressed
// miCOMPRESSED elements, whose Adler-32 checksums are checked). Other
// variables are skipped without being kept in memory. It is an error if a
// named variable is absent. Cell arrays, structs, sparse and complex arrays
// are not supported.
func ReadMAT(path string, names ...string) (map[string]*MatVar, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	hdr := make([]byte, 128)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return nil, fmt.Errorf("mat: %s: reading the 128-byte header: %w", path, err)
	}
	order, err := matByteOrder(hdr)
	if err != nil {
		return nil, fmt.Errorf("mat: %s: %w", path, err)
	}
	if v := order.Uint16(hdr[124:]); v != 0x0100 {
		return nil, fmt.Errorf("mat: %s: version 0x%04x, want 0x0100 (level 5)", path, v)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]*MatVar{}
	for len(out) < len(want) {
		typ, nbytes, small, err := readTag(br, order)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("mat: %s: %w", path, err)
		}
		if small != nil {
			continue
		}
		switch typ {
		case miCOMPRESSED, miMATRIX:
			lr := &io.LimitedReader{R: br, N: int64(nbytes)}
			var v *MatVar
			if typ == miCOMPRESSED {
				v, err = readCompressed(lr, order, want)
			} else {
				v, err = readMatrix(lr, order, int64(nbytes), want)
			}
			if err != nil {
				return nil, fmt.Errorf("mat: %s: %w", path, err)
			}
			if v != nil {
				out[v.Name] = v
			}
			if _, err := io.Copy(io.Discard, lr); err != nil {
				return nil, fmt.Errorf("mat: %s: %w", path, err)
			}
			if typ == miMATRIX {
				if err := skipPad(br, int64(nbytes)); err != nil {
					return nil, fmt.Errorf("mat: %s: %w", path, err)
				}
			}
		default:
			if _, err := io.CopyN(io.Discard, br, int64(pad8(nbytes))); err != nil {
				return nil, fmt.Errorf("mat: %s: element of type %d, %d bytes: %w", path, typ, nbytes, err)
			}
		}
	}
	for n := range want {
		if out[n] == nil {
			return nil, fmt.Errorf("mat: %s: variable %q not found", path, n)
		}
	}
	return out, nil
}

// readCompressed reads a miCOMPRESSED element: a zlib stream holding one
// element. It reads the stream to its end, so that zlib checks its Adler-32
// checksum, also for a variable that is not wanted (decompressed then, but
// not kept).
func readCompressed(r io.Reader, order binary.ByteOrder, want map[string]bool) (*MatVar, error) {
	zr, err := zlib.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("compressed element: %w", &CorruptError{Format: "zlib", Err: err})
	}
	defer zr.Close()
	zc := newChecked(zr, "zlib")
	var v *MatVar
	ityp, inb, _, err := readTag(zc, order)
	if err == nil && ityp == miMATRIX {
		v, err = readMatrix(zc, order, int64(inb), want)
	}
	if _, cerr := zc.drain(); cerr != nil {
		return nil, fmt.Errorf("compressed element: %w", cerr)
	}
	if err != nil {
		return nil, fmt.Errorf("compressed element: %w", err)
	}
	return v, nil
}

// matByteOrder reads the byte order from the endian indicator of a level-5 MAT-file's 128-byte
// header.
func matByteOrder(hdr []byte) (binary.ByteOrder, error) {
	switch string(hdr[126:128]) {
	case "IM":
		return binary.LittleEndian, nil
	case "MI":
		return binary.BigEndian, nil
	}
	return nil, fmt.Errorf("endian indicator %q at byte 126, want \"IM\" or \"MI\" (a level-5 MAT-file; v7.3 files are HDF5 and unsupported)", hdr[126:128])
}

func pad8(n int) int { return (n + 7) &^ 7 }

func skipPad(r io.Reader, n int64) error {
	if p := int64(pad8(int(n))) - n; p > 0 {
		_, err := io.CopyN(io.Discard, r, p)
		return err
	}
	return nil
}

// readTag reads an element tag. For a small data element (data packed into
// the tag) it also returns the 4 data bytes (of which nbytes are used).
func readTag(r io.Reader, order binary.ByteOrder) (typ, nbytes int, small []byte, err error) {
	var t [8]byte
	if _, err := io.ReadFull(r, t[:]); err != nil {
		if err == io.EOF {
			return 0, 0, nil, io.EOF
		}
		return 0, 0, nil, fmt.Errorf("reading element tag: %w", err)
	}
	w := order.Uint32(t[:4])
	if w>>16 != 0 {
		return int(w & 0xffff), int(w >> 16), t[4 : 4+min(4, int(w>>16))], nil
	}
	return int(w), int(order.Uint32(t[4:])), nil, nil
}

// readSub reads one sub-element of a matrix, including its padding.
func readSub(r io.Reader, order binary.ByteOrder, what string) (typ int, data []byte, err error) {
	typ, nb, small, err := readTag(r, order)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", what, err)
	}
	if small != nil {
		return typ, small, nil
	}
	if nb > 1<<36 {
		return 0, nil, fmt.Errorf("%s: %d bytes is implausible", what, nb)
	}
	data = make([]byte, nb)
	if k, err := io.ReadFull(r, data); err != nil {
		return 0, nil, fmt.Errorf("%s: want %d bytes, found %d", what, nb, k)
	}
	if err := skipPad(r, int64(nb)); err != nil {
		return 0, nil, fmt.Errorf("%s: padding: %w", what, err)
	}
	return typ, data, nil
}

// readMatrix reads the body of a miMATRIX element. It returns nil when the
// variable is not in want (after reading only its header).
func readMatrix(r io.Reader, order binary.ByteOrder, nbytes int64, want map[string]bool) (*MatVar, error) {
	if nbytes == 0 {
		return nil, nil // empty array placeholder
	}
	typ, flags, err := readSub(r, order, "array flags")
	if err != nil {
		return nil, err
	}
	if typ != miUINT32 || len(flags) < 8 {
		return nil, fmt.Errorf("array flags: type %d with %d bytes, want miUINT32 with 8", typ, len(flags))
	}
	fw := order.Uint32(flags)
	class := int(fw & 0xff)
	complexFlag := fw&0x0800 != 0
	typ, dimb, err := readSub(r, order, "dimensions")
	if err != nil {
		return nil, err
	}
	if typ != miINT32 || len(dimb)%4 != 0 {
		return nil, fmt.Errorf("dimensions: type %d, want miINT32", typ)
	}
	v := &MatVar{Class: class, order: order}
	for i := 0; i < len(dimb); i += 4 {
		v.Dims = append(v.Dims, int(int32(order.Uint32(dimb[i:]))))
	}
	_, nameb, err := readSub(r, order, "array name")
	if err != nil {
		return nil, err
	}
	v.Name = string(nameb)
	if !want[v.Name] {
		return nil, nil
	}
	if class < 6 && class != mxCHARClass || class > 15 || complexFlag {
		return nil, fmt.Errorf("variable %s: class %d (complex %v), want a real numeric array (class 6..15)", v.Name, class, complexFlag)
	}
	v.Type, v.Raw, err = readSub(r, order, "variable "+v.Name+" real part")
	if err != nil {
		return nil, err
	}
	if miSize(v.Type) == 0 || len(v.Raw) != v.Len()*miSize(v.Type) {
		return nil, fmt.Errorf("variable %s: dims %v need %d elements, real part has %d bytes of type %d", v.Name, v.Dims, v.Len(), len(v.Raw), v.Type)
	}
	return v, nil
}

// ReadSVHN reads an SVHN cropped-digits file (test_32x32.mat, train_32x32.mat):
// X is 32x32x3xN uint8 and y is Nx1 with labels 1..10, where 10 stands for
// the digit 0 (mapped to 0, as torchvision does).
func ReadSVHN(path string) (*Images, error) {
	vars, err := ReadMAT(path, "X", "y")
	if err != nil {
		return nil, err
	}
	x, y := vars["X"], vars["y"]
	if len(x.Dims) != 4 || x.Dims[2] != 3 {
		return nil, fmt.Errorf("svhn: %s: X has dims %v, want H x W x 3 x N", path, x.Dims)
	}
	h, w, n := x.Dims[0], x.Dims[1], x.Dims[3]
	if y.Len() != n {
		return nil, fmt.Errorf("svhn: %s: y has dims %v, want %d labels to match X %v", path, y.Dims, n, x.Dims)
	}
	xs, err := x.Uint8s()
	if err != nil {
		return nil, fmt.Errorf("svhn: %s: %w", path, err)
	}
	ys, err := y.Float64s()
	if err != nil {
		return nil, fmt.Errorf("svhn: %s: %w", path, err)
	}
	out := NewImages(n, h, w, 3, true)
	plane := h * w
	for i := range n {
		src := xs[i*plane*3:]
		dst := out.At(i)
		// Column-major X(r, c, ch, i) is at r + h*c + h*w*ch.
		for r := range h {
			for c := range w {
				for ch := range 3 {
					dst[(r*w+c)*3+ch] = src[r+h*c+plane*ch]
				}
			}
		}
		l := ys[i]
		if l < 1 || l > 10 || l != math.Trunc(l) {
			return nil, fmt.Errorf("svhn: %s: label %v of image %d, want 1..10", path, l, i)
		}
		if l == 10 {
			l = 0
		}
		out.Labels[i] = int32(l)
	}
	return out, nil
}

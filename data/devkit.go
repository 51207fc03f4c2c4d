package data

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf16"
)

// The ILSVRC2012 development kit (ILSVRC2012_devkit_t12.tar.gz, image-net.org) labels the
// 50,000 validation images of a flat val/ folder: data/ILSVRC2012_validation_ground_truth.txt
// holds one ILSVRC2012_ID per image, in the order of the image numbers, and data/meta.mat maps
// each ILSVRC2012_ID to its WordNet ID in the struct array "synsets" (MATLAB level 5).

// DevkitWNIDs reads the devkit's meta.mat and returns the WordNet ID of each ILSVRC2012_ID
// (the 1,000 leaf synsets have IDs 1 to 1,000; other synsets of the file are returned too).
func DevkitWNIDs(metaPath string) (map[int]string, error) {
	s, err := readMATStruct(metaPath, "synsets")
	if err != nil {
		return nil, err
	}
	ids, wnids := s.fields["ILSVRC2012_ID"], s.fields["WNID"]
	if ids == nil || wnids == nil {
		return nil, fmt.Errorf("devkit: %s: struct synsets has fields %v, want ILSVRC2012_ID and WNID", metaPath, s.names)
	}
	out := map[int]string{}
	for k := range ids {
		if ids[k].num == nil || len(ids[k].num) != 1 || wnids[k].str == "" {
			return nil, fmt.Errorf("devkit: %s: synsets(%d): ILSVRC2012_ID must be one number and WNID a string", metaPath, k+1)
		}
		id := int(ids[k].num[0])
		if prev, dup := out[id]; dup {
			return nil, fmt.Errorf("devkit: %s: ILSVRC2012_ID %d given to both %s and %s", metaPath, id, prev, wnids[k].str)
		}
		out[id] = wnids[k].str
	}
	return out, nil
}

// DevkitValLabels reads the devkit's ground-truth file: the ILSVRC2012_ID of validation
// image k+1 (ILSVRC2012_val_%08d.JPEG) is element k.
func DevkitValLabels(path string) ([]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []int
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" {
			continue
		}
		v, err := strconv.Atoi(t)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("devkit: %s:%d: %q, want a positive ILSVRC2012_ID", path, line, t)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("devkit: %s: %w", path, err)
	}
	return out, nil
}

// matValue is one element of a MATLAB struct field: a numeric array (as float64) or a string.
type matValue struct {
	num []float64
	str string
}

// matStruct is a struct array: for each field, one value per element (column-major).
type matStruct struct {
	names  []string
	fields map[string][]matValue
}

const (
	mxCELLClass   = 1
	mxSTRUCTClass = 2
)

// readMATStruct reads the struct array named name from a level-5 MAT-file (compressed or
// not), keeping the numeric and character fields of its elements.
func readMATStruct(path, name string) (*matStruct, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 128 {
		return nil, fmt.Errorf("mat: %s: %d bytes, shorter than the 128-byte header", path, len(b))
	}
	order, err := matByteOrder(b[:128])
	if err != nil {
		return nil, fmt.Errorf("mat: %s: %w", path, err)
	}
	p := &matParser{order: order}
	rest := b[128:]
	for len(rest) > 0 {
		typ, body, next, err := p.element(rest)
		if err != nil {
			return nil, fmt.Errorf("mat: %s: %w", path, err)
		}
		rest = next
		if typ == miCOMPRESSED {
			zr, err := zlib.NewReader(bytes.NewReader(body))
			if err != nil {
				return nil, fmt.Errorf("mat: %s: compressed element: %w", path, err)
			}
			inner, err := io.ReadAll(zr)
			if err != nil {
				return nil, fmt.Errorf("mat: %s: compressed element: %w", path, err)
			}
			if typ, body, _, err = p.element(inner); err != nil {
				return nil, fmt.Errorf("mat: %s: %w", path, err)
			}
		}
		if typ != miMATRIX {
			continue
		}
		v, err := p.matrix(body)
		if err != nil {
			return nil, fmt.Errorf("mat: %s: %w", path, err)
		}
		if v.name != name {
			continue
		}
		if v.strct == nil {
			return nil, fmt.Errorf("mat: %s: variable %s is not a struct array", path, name)
		}
		return v.strct, nil
	}
	return nil, fmt.Errorf("mat: %s: variable %q not found", path, name)
}

type matParser struct{ order binary.ByteOrder }

// element splits one data element off b: its type, its data and what follows (padding
// skipped).
func (p *matParser) element(b []byte) (typ int, body, rest []byte, err error) {
	if len(b) < 8 {
		return 0, nil, nil, fmt.Errorf("element tag: %d bytes left, want 8", len(b))
	}
	w := p.order.Uint32(b)
	if w>>16 != 0 { // small data element
		n := int(w >> 16)
		if n > 4 {
			return 0, nil, nil, fmt.Errorf("small element of %d bytes, at most 4", n)
		}
		return int(w & 0xffff), b[4 : 4+n], b[8:], nil
	}
	n := int(p.order.Uint32(b[4:]))
	if n > len(b)-8 {
		return 0, nil, nil, fmt.Errorf("element of type %d claims %d bytes, %d left", w, n, len(b)-8)
	}
	end := 8 + n
	if int(w) != miCOMPRESSED {
		end = min(8+pad8(n), len(b))
	}
	return int(w), b[8 : 8+n], b[end:], nil
}

type matNode struct {
	name  string
	class int
	dims  []int
	num   []float64
	str   string
	strct *matStruct
}

// matrix parses the body of a miMATRIX element.
func (p *matParser) matrix(b []byte) (*matNode, error) {
	if len(b) == 0 {
		return &matNode{}, nil // empty array
	}
	_, flags, b, err := p.element(b)
	if err != nil || len(flags) < 4 {
		return nil, fmt.Errorf("array flags: %v", err)
	}
	v := &matNode{class: int(p.order.Uint32(flags) & 0xff)}
	_, dimb, b, err := p.element(b)
	if err != nil {
		return nil, fmt.Errorf("dimensions: %w", err)
	}
	n := 1
	for i := 0; i+4 <= len(dimb); i += 4 {
		d := int(int32(p.order.Uint32(dimb[i:])))
		v.dims = append(v.dims, d)
		n *= d
	}
	_, nameb, b, err := p.element(b)
	if err != nil {
		return nil, fmt.Errorf("array name: %w", err)
	}
	v.name = string(nameb)
	switch {
	case v.class == mxSTRUCTClass:
		_, fl, b2, err := p.element(b)
		if err != nil || len(fl) < 4 {
			return nil, fmt.Errorf("struct %s: field name length: %v", v.name, err)
		}
		fnl := int(p.order.Uint32(fl))
		_, fnb, b2, err := p.element(b2)
		if err != nil || fnl <= 0 || len(fnb)%fnl != 0 {
			return nil, fmt.Errorf("struct %s: field names: %v", v.name, err)
		}
		s := &matStruct{fields: map[string][]matValue{}}
		for i := 0; i < len(fnb); i += fnl {
			s.names = append(s.names, strings.TrimRight(string(fnb[i:i+fnl]), "\x00"))
		}
		for e := 0; e < n; e++ {
			for _, f := range s.names {
				typ, body, next, err := p.element(b2)
				if err != nil || typ != miMATRIX {
					return nil, fmt.Errorf("struct %s element %d field %s: type %d: %v", v.name, e+1, f, typ, err)
				}
				b2 = next
				fv, err := p.matrix(body)
				if err != nil {
					return nil, fmt.Errorf("struct %s element %d field %s: %w", v.name, e+1, f, err)
				}
				s.fields[f] = append(s.fields[f], matValue{num: fv.num, str: fv.str})
			}
		}
		v.strct = s
	case v.class == mxCELLClass:
		// Cells are skipped (meta.mat's "children" are numeric arrays, not cells).
	case v.class == mxCHARClass:
		typ, data, _, err := p.element(b)
		if err != nil {
			return nil, fmt.Errorf("char array %s: %w", v.name, err)
		}
		v.str = p.chars(typ, data)
	case v.class >= 6 && v.class <= 15:
		typ, data, _, err := p.element(b)
		if err != nil {
			return nil, fmt.Errorf("numeric array %s: %w", v.name, err)
		}
		mv := &MatVar{Name: v.name, Class: v.class, Dims: v.dims, Type: typ, Raw: data, order: p.order}
		if miSize(typ) == 0 || len(data) != n*miSize(typ) {
			return nil, fmt.Errorf("numeric array %s: %d bytes of type %d for dims %v", v.name, len(data), typ, v.dims)
		}
		if v.num, err = mv.Float64s(); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// chars decodes a character array's data (UTF-16 code units, or UTF-8 / bytes).
func (p *matParser) chars(typ int, data []byte) string {
	switch typ {
	case miUINT16, miINT16:
		u := make([]uint16, len(data)/2)
		for i := range u {
			u[i] = p.order.Uint16(data[2*i:])
		}
		return string(utf16.Decode(u))
	default:
		return string(data)
	}
}

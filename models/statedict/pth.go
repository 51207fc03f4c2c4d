package statedict

// The .pth format: what torch.save writes.
//
// Reading uses github.com/nlpodyssey/gopickle, whose pytorch package unpickles both of
// torch.save's formats (the zip archive of PyTorch >= 1.6 and the older legacy stream) into
// storages and _rebuild_tensor_v2 calls. gopickle has no pickler, so writing is done here: a
// protocol-2 pickle of an OrderedDict of _rebuild_tensor_v2 calls over persistent storage ids,
// in a zip archive laid out as torch.save lays it out (archive/data.pkl, archive/byteorder,
// archive/data/0..N-1 with each record's data aligned to 64 bytes, archive/version), which
// was read from files PyTorch 1.13 writes.

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"strconv"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"

	"github.com/oodlab/dos/internal/atomicfile"
)

// zipMagic starts a zip archive (a local file header); legacyMagic starts the legacy format:
// protocol 2, then the LONG1 magic number 0x1950a86a20f9469cfc6c.
var (
	zipMagic    = []byte("PK\x03\x04")
	legacyMagic = []byte("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19")
)

func readPth(path string) (sd *StateDict, err error) {
	head := make([]byte, len(legacyMagic))
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	n, _ := io.ReadFull(f, head)
	f.Close()
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, zipMagic):
		zr, err := zip.OpenReader(path)
		if err != nil {
			return nil, fmt.Errorf("%s: truncated or corrupt zip archive (%v)", path, err)
		}
		zr.Close()
	case bytes.Equal(head, legacyMagic):
	default:
		return nil, fmt.Errorf("%s: not a file torch.save writes (neither a zip archive nor PyTorch's legacy format)", path)
	}
	defer func() {
		// gopickle panics on a few layouts it does not implement (legacy tar archives, legacy
		// storage views).
		if r := recover(); r != nil {
			sd, err = nil, fmt.Errorf("%s: unsupported torch.save content: %v", path, r)
		}
	}()
	obj, err := pytorch.LoadWithUnpickler(path, newUnpickler)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: truncated or corrupt: %w", path, err)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sd, err = fromPickled(obj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sd, nil
}

// newUnpickler is gopickle's unpickler with classes the pytorch package leaves out: it resolves
// the torch classes itself and falls back to this FindClass for the others.
func newUnpickler(r io.Reader) pickle.Unpickler {
	u := pickle.NewUnpickler(r)
	u.FindClass = func(module, name string) (any, error) {
		switch module + "." + name {
		case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
			return rebuildParameter{}, nil
		}
		return opaqueClass{module + "." + name}, nil
	}
	return u
}

// rebuildParameter is torch._utils._rebuild_parameter(data, requires_grad, hooks): the tensor.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("_rebuild_parameter: no arguments")
	}
	return args[0], nil
}

// opaqueClass stands for any other class or function of a checkpoint's non-tensor entries
// (a NumPy scalar, an optimiser's state): it can be called, built and filled, and is then
// ignored.
type opaqueClass struct{ name string }

type opaqueObject struct{ class string }

func (c opaqueClass) Call(...any) (any, error)  { return &opaqueObject{c.name}, nil }
func (c opaqueClass) PyNew(...any) (any, error) { return &opaqueObject{c.name}, nil }

func (*opaqueObject) PySetState(any) error        { return nil }
func (*opaqueObject) PyDictSet(any, any) error    { return nil }
func (*opaqueObject) PySetAttr(string, any) error { return nil }
func (*opaqueObject) Set(any, any)                {}

// dictEntries lists the entries of a pickled dict or OrderedDict.
func dictEntries(obj any) ([][2]any, bool) {
	var out [][2]any
	switch d := obj.(type) {
	case *types.OrderedDict:
		for e := d.List.Front(); e != nil; e = e.Next() {
			entry := e.Value.(*types.OrderedDictEntry)
			out = append(out, [2]any{entry.Key, entry.Value})
		}
	case *types.Dict:
		for _, entry := range *d {
			out = append(out, [2]any{entry.Key, entry.Value})
		}
	default:
		return nil, false
	}
	return out, true
}

// fromPickled turns what torch.load would return into a state dict: a dict of tensors, or a
// dict holding one under "state_dict".
func fromPickled(obj any) (*StateDict, error) {
	entries, ok := dictEntries(obj)
	if !ok {
		return nil, fmt.Errorf("holds a %T, want a state dict (a dict of tensors)", obj)
	}
	for _, e := range entries {
		if k, _ := e[0].(string); k == "state_dict" {
			if _, isDict := dictEntries(e[1]); isDict {
				return fromPickled(e[1])
			}
		}
	}
	sd := &StateDict{}
	var others []string
	for _, e := range entries {
		k, ok := e[0].(string)
		if !ok {
			return nil, fmt.Errorf("state dict key %v is a %T, want a string", e[0], e[0])
		}
		pt, ok := e[1].(*pytorch.Tensor)
		if !ok {
			others = append(others, k)
			continue
		}
		t, err := fromTorch(pt)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		sd.Set(k, t)
	}
	if sd.Len() == 0 {
		return nil, fmt.Errorf("no tensors in the file (its keys: %q)", others)
	}
	return sd, nil
}

// fromTorch copies the elements of a pickled tensor out of its storage, following its offset
// and strides (a tensor may be a view: transposed, or a slice of a shared storage).
func fromTorch(pt *pytorch.Tensor) (Tensor, error) {
	if len(pt.Size) != len(pt.Stride) {
		return Tensor{}, fmt.Errorf("size %v and stride %v differ in rank", pt.Size, pt.Stride)
	}
	shape := append([]int{}, pt.Size...)
	switch s := pt.Source.(type) {
	case *pytorch.FloatStorage:
		return gatherTo(Float32, s.Data, pt, shape, putF32)
	case *pytorch.HalfStorage:
		return gatherTo(Float32, s.Data, pt, shape, putF32)
	case *pytorch.BFloat16Storage:
		return gatherTo(Float32, s.Data, pt, shape, putF32)
	case *pytorch.DoubleStorage:
		return gatherTo(Float64, s.Data, pt, shape, func(b []byte, v float64) { binary.LittleEndian.PutUint64(b, math.Float64bits(v)) })
	case *pytorch.LongStorage:
		return gatherTo(Int64, s.Data, pt, shape, func(b []byte, v int64) { binary.LittleEndian.PutUint64(b, uint64(v)) })
	case *pytorch.IntStorage:
		return gatherTo(Int32, s.Data, pt, shape, func(b []byte, v int32) { binary.LittleEndian.PutUint32(b, uint32(v)) })
	case *pytorch.ShortStorage:
		return gatherTo(Int16, s.Data, pt, shape, func(b []byte, v int16) { binary.LittleEndian.PutUint16(b, uint16(v)) })
	case *pytorch.CharStorage:
		return gatherTo(Int8, s.Data, pt, shape, func(b []byte, v int8) { b[0] = byte(v) })
	case *pytorch.ByteStorage:
		return gatherTo(Uint8, s.Data, pt, shape, func(b []byte, v uint8) { b[0] = v })
	case *pytorch.BoolStorage:
		return gatherTo(Bool, s.Data, pt, shape, func(b []byte, v bool) {
			if v {
				b[0] = 1
			} else {
				b[0] = 0
			}
		})
	}
	return Tensor{}, fmt.Errorf("unsupported storage %T", pt.Source)
}

func putF32(b []byte, v float32) { binary.LittleEndian.PutUint32(b, math.Float32bits(v)) }

// gatherTo reads the strided elements of a tensor from its storage, in row-major order.
func gatherTo[T any](dtype DType, storage []T, pt *pytorch.Tensor, shape []int, put func([]byte, T)) (Tensor, error) {
	t := Tensor{DType: dtype, Shape: shape}
	n := t.NumElements()
	size := dtype.Size()
	t.Data = make([]byte, n*size)
	if n == 0 {
		return t, nil
	}
	// The farthest element must lie in the storage.
	last := pt.StorageOffset
	for i, d := range shape {
		if d < 0 || pt.Stride[i] < 0 {
			return Tensor{}, fmt.Errorf("negative size %v or stride %v", shape, pt.Stride)
		}
		last += (d - 1) * pt.Stride[i]
	}
	if pt.StorageOffset < 0 || last >= len(storage) {
		return Tensor{}, fmt.Errorf("size %v, stride %v and offset %d reach element %d of a storage of %d",
			shape, pt.Stride, pt.StorageOffset, last, len(storage))
	}
	idx := make([]int, len(shape))
	for i := 0; i < n; i++ {
		pos := pt.StorageOffset
		for a, v := range idx {
			pos += v * pt.Stride[a]
		}
		put(t.Data[i*size:], storage[pos])
		for a := len(idx) - 1; a >= 0; a-- {
			if idx[a]++; idx[a] < shape[a] {
				break
			}
			idx[a] = 0
		}
	}
	return t, nil
}

// storageClass is the torch class whose name the pickle gives to a storage of each dtype.
var storageClass = [...]string{Float32: "FloatStorage", Float64: "DoubleStorage", Int64: "LongStorage", Int32: "IntStorage",
	Int16: "ShortStorage", Int8: "CharStorage", Uint8: "ByteStorage", Bool: "BoolStorage"}

// archiveName is the folder of every record; torch.load accepts any name.
const archiveName = "archive"

func writePth(path string, sd *StateDict) error {
	pkl := pickleStateDict(sd)
	return atomicfile.WriteFunc(path, func(w io.Writer) error {
		zw := &alignedZip{w: zip.NewWriter(w)}
		if err := zw.add(archiveName+"/data.pkl", pkl); err != nil {
			return err
		}
		if err := zw.add(archiveName+"/byteorder", []byte("little")); err != nil {
			return err
		}
		for i, k := range sd.keys {
			if err := zw.add(archiveName+"/data/"+strconv.Itoa(i), sd.tensors[k].Data); err != nil {
				return fmt.Errorf("%s: key %q: %w", path, k, err)
			}
		}
		if err := zw.add(archiveName+"/version", []byte("3\n")); err != nil {
			return err
		}
		if err := zw.w.Close(); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	})
}

// alignedZip writes stored (uncompressed) records whose data starts at a multiple of 64 bytes
// in the file, as torch.save does (PyTorch can then map storages in place), by padding each
// local header's extra field. It counts the bytes itself: every record is a local header, the
// name, the extra field and the data, with no data descriptor (sizes and CRC are in the header).
type alignedZip struct {
	w      *zip.Writer
	offset int64
}

const (
	zipLocalHeaderLen = 30
	zipAlign          = 64
	zipPadTag         = 0x4246 // "FB", the tag of torch.save's padding field
)

func (z *alignedZip) add(name string, data []byte) error {
	if int64(len(data)) >= math.MaxUint32 {
		return fmt.Errorf("record %s of %d bytes is too large for this writer (4 GiB)", name, len(data))
	}
	pad := int((zipAlign - (z.offset+zipLocalHeaderLen+int64(len(name))+4)%zipAlign) % zipAlign)
	extra := make([]byte, 4+pad)
	binary.LittleEndian.PutUint16(extra, zipPadTag)
	binary.LittleEndian.PutUint16(extra[2:], uint16(pad))
	for i := 4; i < len(extra); i++ {
		extra[i] = 'Z'
	}
	fw, err := z.w.CreateRaw(&zip.FileHeader{
		Name:               name,
		Method:             zip.Store,
		ReaderVersion:      20,
		CreatorVersion:     20,
		CRC32:              crc32.ChecksumIEEE(data),
		CompressedSize64:   uint64(len(data)),
		UncompressedSize64: uint64(len(data)),
		Extra:              extra,
	})
	if err != nil {
		return err
	}
	if _, err := fw.Write(data); err != nil {
		return err
	}
	z.offset += zipLocalHeaderLen + int64(len(name)) + int64(len(extra)) + int64(len(data))
	return nil
}

// Pickle opcodes (protocol 2) used by the writer.
const (
	opProto      = 0x80
	opGlobal     = 'c'
	opEmptyTuple = ')'
	opReduce     = 'R'
	opMark       = '('
	opTuple      = 't'
	opBinUnicode = 'X'
	opBinPersID  = 'Q'
	opBinInt1    = 'K'
	opBinInt2    = 'M'
	opBinInt     = 'J'
	opLong1      = 0x8a
	opNewFalse   = 0x89
	opSetItems   = 'u'
	opStop       = '.'
)

// pickler writes the few pickle constructs a state dict needs.
type pickler struct{ b *bytes.Buffer }

func (p pickler) op(o byte) { p.b.WriteByte(o) }

func (p pickler) global(module, name string) {
	p.op(opGlobal)
	p.b.WriteString(module + "\n" + name + "\n")
}

func (p pickler) str(s string) {
	p.op(opBinUnicode)
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(s)))
	p.b.Write(n[:])
	p.b.WriteString(s)
}

func (p pickler) int(v int64) {
	switch {
	case v >= 0 && v < 1<<8:
		p.op(opBinInt1)
		p.b.WriteByte(byte(v))
	case v >= 0 && v < 1<<16:
		p.op(opBinInt2)
		var b [2]byte
		binary.LittleEndian.PutUint16(b[:], uint16(v))
		p.b.Write(b[:])
	case v >= math.MinInt32 && v <= math.MaxInt32:
		p.op(opBinInt)
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(int32(v)))
		p.b.Write(b[:])
	default: // LONG1: little-endian two's complement, 8 bytes are enough for an int64
		p.op(opLong1)
		p.b.WriteByte(8)
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(v))
		p.b.Write(b[:])
	}
}

func (p pickler) intTuple(vs []int) {
	if len(vs) == 0 {
		p.op(opEmptyTuple)
		return
	}
	p.op(opMark)
	for _, v := range vs {
		p.int(int64(v))
	}
	p.op(opTuple)
}

// emptyOrderedDict pushes collections.OrderedDict().
func (p pickler) emptyOrderedDict() {
	p.global("collections", "OrderedDict")
	p.op(opEmptyTuple)
	p.op(opReduce)
}

// pickleStateDict pickles
//
//	OrderedDict([(key, torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())), ...])
//
// where storage i is the persistent id ("storage", torch.<Type>Storage, "i", "cpu", numel),
// whose bytes are the record data/i.
func pickleStateDict(sd *StateDict) []byte {
	var buf bytes.Buffer
	p := pickler{&buf}
	p.op(opProto)
	p.b.WriteByte(2)
	p.emptyOrderedDict()
	p.op(opMark)
	for i, k := range sd.keys {
		t := sd.tensors[k]
		p.str(k)
		p.global("torch._utils", "_rebuild_tensor_v2")
		p.op(opMark)
		{
			p.op(opMark)
			p.str("storage")
			p.global("torch", storageClass[t.DType])
			p.str(strconv.Itoa(i))
			p.str("cpu")
			p.int(int64(t.NumElements()))
			p.op(opTuple)
			p.op(opBinPersID)
		}
		p.int(0) // storage offset
		p.intTuple(t.Shape)
		stride := make([]int, len(t.Shape))
		s := 1
		for a := len(t.Shape) - 1; a >= 0; a-- {
			stride[a] = s
			s *= t.Shape[a]
		}
		p.intTuple(stride)
		p.op(opNewFalse) // requires_grad
		p.emptyOrderedDict()
		p.op(opTuple)
		p.op(opReduce)
	}
	p.op(opSetItems)
	p.op(opStop)
	return buf.Bytes()
}

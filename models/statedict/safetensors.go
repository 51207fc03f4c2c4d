package statedict

// The .safetensors format, read and written with github.com/nlpodyssey/safetensors.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/nlpodyssey/safetensors"
	"github.com/x448/float16"

	"github.com/oodlab/dos/internal/atomicfile"
)

var toSafetensors = [...]safetensors.DType{Float32: safetensors.F32, Float64: safetensors.F64, Int64: safetensors.I64, Int32: safetensors.I32,
	Int16: safetensors.I16, Int8: safetensors.I8, Uint8: safetensors.U8, Bool: safetensors.BOOL}

func readSafetensors(path string) (*StateDict, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	st, err := safetensors.Deserialize(buf)
	if err != nil {
		return nil, fmt.Errorf("%s: truncated or corrupt safetensors file (%v)", path, err)
	}
	sd := &StateDict{}
	// Tensors come in the order of their data in the file: the format keeps no other order.
	for _, nt := range st.Tensors() {
		v := nt.TensorView
		shape := make([]int, len(v.Shape()))
		for i, d := range v.Shape() {
			if d > math.MaxInt32 {
				return nil, fmt.Errorf("%s: key %q: dimension %d too large", path, nt.Name, d)
			}
			shape[i] = int(d)
		}
		t := Tensor{Shape: shape}
		switch v.DType() {
		case safetensors.F16, safetensors.BF16:
			t.DType = Float32
			half := v.Data()
			t.Data = make([]byte, 2*len(half))
			for i := 0; i+1 < len(half); i += 2 {
				bits := binary.LittleEndian.Uint16(half[i:])
				var f float32
				if v.DType() == safetensors.F16 {
					f = float16.Frombits(bits).Float32()
				} else {
					f = math.Float32frombits(uint32(bits) << 16)
				}
				binary.LittleEndian.PutUint32(t.Data[2*i:], math.Float32bits(f))
			}
		default:
			found := false
			for d, sdt := range toSafetensors {
				if sdt == v.DType() {
					t.DType, found = DType(d), true
				}
			}
			if !found {
				return nil, fmt.Errorf("%s: key %q: dtype %s is not supported", path, nt.Name, v.DType())
			}
			t.Data = bytes.Clone(v.Data())
		}
		if err := t.check(); err != nil {
			return nil, fmt.Errorf("%s: key %q: %w", path, nt.Name, err)
		}
		sd.Set(nt.Name, t)
	}
	return sd, nil
}

func writeSafetensors(path string, sd *StateDict) error {
	views := make(map[string]view, sd.Len())
	for _, k := range sd.keys {
		t := sd.tensors[k]
		shape := make([]uint64, len(t.Shape))
		for i, d := range t.Shape {
			shape[i] = uint64(d)
		}
		views[k] = view{toSafetensors[t.DType], shape, t.Data}
	}
	// "format": "pt" is what safetensors.torch.save_file writes, and what the Hugging Face
	// loaders look for.
	return atomicfile.WriteFunc(path, func(w io.Writer) error {
		return safetensors.SerializeToWriter(views, map[string]string{"format": "pt"}, w)
	})
}

// view is a tensor for safetensors.SerializeToWriter. (The package's own NewTensorView counts
// 0 elements in a scalar, so it refuses num_batches_tracked; the writer itself does not.)
type view struct {
	dtype safetensors.DType
	shape []uint64
	data  []byte
}

func (v view) DType() safetensors.DType { return v.dtype }
func (v view) Shape() []uint64          { return v.shape }
func (v view) Data() []byte             { return v.data }
func (v view) DataLen() uint64          { return uint64(len(v.data)) }

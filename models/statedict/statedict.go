// Package statedict moves network weights between this project and PyTorch: it reads and
// writes PyTorch state dicts (.pth/.pt files as torch.save writes them, and .safetensors) and
// maps them onto the variables of the project's networks.
//
//   - Read and Write handle the files; a StateDict is ordered keys -> tensors (dtype, shape,
//     row-major data), independent of GoMLX.
//   - Import puts a state dict's tensors into a GoMLX context as a network's variables, and
//     Export does the reverse; Mapping lists, per network, which variable is which key.
//
// The key names are those of the official code of each network: DenseNet3 of the DOS code
// (github.com/lygjwy/DOS models/densenet.py) for densenet-bc-100, WideResNet of the Outlier
// Exposure code (github.com/hendrycks/outlier-exposure CIFAR/models/wrn.py) for wrn-D-K, the
// common CIFAR ResNet18 (github.com/kuangliu/pytorch-cifar models/resnet.py) for resnet18, and
// torchvision's resnet50 for resnet50. An exported state dict loads in those with
// load_state_dict(strict=True).
package statedict

import (
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
)

// DType is the element type of a Tensor.
type DType int

// The element types a StateDict holds. Files with float16 or bfloat16 tensors are read as
// Float32.
const (
	Float32 DType = iota
	Float64
	Int64
	Int32
	Int16
	Int8
	Uint8
	Bool
)

var dtypeNames = [...]string{Float32: "float32", Float64: "float64", Int64: "int64", Int32: "int32", Int16: "int16", Int8: "int8", Uint8: "uint8", Bool: "bool"}
var dtypeSizes = [...]int{Float32: 4, Float64: 8, Int64: 8, Int32: 4, Int16: 2, Int8: 1, Uint8: 1, Bool: 1}

// String returns PyTorch's name of the dtype without "torch.": "float32", "int64", ...
func (d DType) String() string {
	if d < 0 || int(d) >= len(dtypeNames) {
		return fmt.Sprintf("DType(%d)", int(d))
	}
	return dtypeNames[d]
}

// Size is the size in bytes of one element.
func (d DType) Size() int { return dtypeSizes[d] }

// IsFloat reports whether d is Float32 or Float64.
func (d DType) IsFloat() bool { return d == Float32 || d == Float64 }

// Tensor is one entry of a state dict.
type Tensor struct {
	DType DType
	// Shape is PyTorch's shape; empty for a scalar.
	Shape []int
	// Data holds the elements in row-major (C) order, little-endian, NumElements*DType.Size()
	// bytes.
	Data []byte
}

// NumElements is the product of the shape (1 for a scalar).
func (t Tensor) NumElements() int { return numElements(t.Shape) }

// numElements is the number of elements of a shape (1 for a scalar).
func numElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// check reports a tensor whose data does not have the size its dtype and shape need.
func (t Tensor) check() error {
	if t.DType < 0 || int(t.DType) >= len(dtypeNames) {
		return fmt.Errorf("unknown dtype %d", int(t.DType))
	}
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("negative dimension in shape %v", t.Shape)
		}
	}
	if want := t.NumElements() * t.DType.Size(); len(t.Data) != want {
		return fmt.Errorf("%s %v needs %d bytes of data, has %d", t.DType, t.Shape, want, len(t.Data))
	}
	return nil
}

// Equal reports whether t and u have the same dtype, shape and bytes.
func (t Tensor) Equal(u Tensor) bool {
	return t.DType == u.DType && slices.Equal(t.Shape, u.Shape) && string(t.Data) == string(u.Data)
}

// String describes the tensor as "float32 [342 11]".
func (t Tensor) String() string { return fmt.Sprintf("%s %s", t.DType, shapeString(t.Shape)) }

// shapeString writes a shape as PyTorch's size would be listed: [11 342], [] for a scalar.
func shapeString(s []int) string { return fmt.Sprint(append([]int{}, s...)) }

// FromFloat32 makes a Float32 tensor; values are copied.
func FromFloat32(shape []int, values []float32) Tensor {
	b := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return Tensor{DType: Float32, Shape: slices.Clone(shape), Data: b}
}

// FromFloat64 makes a Float64 tensor; values are copied.
func FromFloat64(shape []int, values []float64) Tensor {
	b := make([]byte, 8*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return Tensor{DType: Float64, Shape: slices.Clone(shape), Data: b}
}

// FromInt64 makes an Int64 tensor; values are copied.
func FromInt64(shape []int, values []int64) Tensor {
	b := make([]byte, 8*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return Tensor{DType: Int64, Shape: slices.Clone(shape), Data: b}
}

// Float32s returns the values of a Float32 or Float64 tensor as float32 (rounded to nearest).
func (t Tensor) Float32s() ([]float32, error) { return floats[float32](t) }

// Float64s returns the values of a Float32 or Float64 tensor as float64.
func (t Tensor) Float64s() ([]float64, error) { return floats[float64](t) }

// floats returns the values of a Float32 or Float64 tensor converted to F.
func floats[F float32 | float64](t Tensor) ([]F, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	out := make([]F, t.NumElements())
	switch t.DType {
	case Float32:
		for i := range out {
			out[i] = F(math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:])))
		}
	case Float64:
		for i := range out {
			out[i] = F(math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:])))
		}
	default:
		return nil, fmt.Errorf("%s tensor, want a floating-point one", t.DType)
	}
	return out, nil
}

// Int64s returns the values of an integer or bool tensor as int64.
func (t Tensor) Int64s() ([]int64, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	n := t.NumElements()
	out := make([]int64, n)
	for i := range out {
		switch t.DType {
		case Int64:
			out[i] = int64(binary.LittleEndian.Uint64(t.Data[8*i:]))
		case Int32:
			out[i] = int64(int32(binary.LittleEndian.Uint32(t.Data[4*i:])))
		case Int16:
			out[i] = int64(int16(binary.LittleEndian.Uint16(t.Data[2*i:])))
		case Int8:
			out[i] = int64(int8(t.Data[i]))
		case Uint8, Bool:
			out[i] = int64(t.Data[i])
		default:
			return nil, fmt.Errorf("%s tensor, want an integer one", t.DType)
		}
	}
	return out, nil
}

// StateDict is a PyTorch state dict: tensors under keys, in order. The zero value is empty
// and ready to use.
type StateDict struct {
	keys    []string
	tensors map[string]Tensor
}

// Set adds t under key, at the end, or replaces the tensor of an existing key in place.
func (sd *StateDict) Set(key string, t Tensor) {
	if sd.tensors == nil {
		sd.tensors = map[string]Tensor{}
	}
	if _, ok := sd.tensors[key]; !ok {
		sd.keys = append(sd.keys, key)
	}
	sd.tensors[key] = t
}

// Get returns the tensor of key.
func (sd *StateDict) Get(key string) (Tensor, bool) {
	t, ok := sd.tensors[key]
	return t, ok
}

// Delete removes key, if present.
func (sd *StateDict) Delete(key string) {
	if _, ok := sd.tensors[key]; !ok {
		return
	}
	delete(sd.tensors, key)
	sd.keys = slices.DeleteFunc(sd.keys, func(k string) bool { return k == key })
}

// Keys returns the keys in order (a copy).
func (sd *StateDict) Keys() []string { return slices.Clone(sd.keys) }

// Len is the number of keys.
func (sd *StateDict) Len() int { return len(sd.keys) }

// TrimPrefix returns a state dict whose keys have prefix removed, if every key has it (as
// "module." for a network wrapped in torch.nn.DataParallel), or sd itself otherwise.
func (sd *StateDict) TrimPrefix(prefix string) *StateDict {
	if sd.Len() == 0 || prefix == "" {
		return sd
	}
	for _, k := range sd.keys {
		if !strings.HasPrefix(k, prefix) {
			return sd
		}
	}
	out := &StateDict{}
	for _, k := range sd.keys {
		out.Set(strings.TrimPrefix(k, prefix), sd.tensors[k])
	}
	return out
}

// Format of a state-dict file, from its extension.
type format int

const (
	formatPth format = iota
	formatSafetensors
)

func formatOf(path string) (format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".pth", ".pt", ".bin":
		return formatPth, nil
	case ".safetensors":
		return formatSafetensors, nil
	}
	return 0, fmt.Errorf("%s: unknown state-dict format: want a .pth, .pt or .bin file (torch.save) or a .safetensors file", path)
}

// Read reads a state dict from path by its extension: .pth, .pt or .bin as written by
// torch.save (the zip format of PyTorch >= 1.6 and the older legacy format), or
// .safetensors. float16 and bfloat16 tensors are converted to Float32.
//
// A .pth file may hold the state dict itself or a dict that holds it under "state_dict" (as
// the DOS and OE trainers save their checkpoints, next to the epoch and accuracy): the other
// entries are ignored.
func Read(path string) (*StateDict, error) {
	f, err := formatOf(path)
	if err != nil {
		return nil, err
	}
	if f == formatSafetensors {
		return readSafetensors(path)
	}
	return readPth(path)
}

// Write writes sd to path by its extension: .pth or .pt in torch.save's zip format (loadable
// by torch.load, also with weights_only=True, from PyTorch 1.6 on), or .safetensors. The file
// is replaced atomically.
func Write(path string, sd *StateDict) error {
	f, err := formatOf(path)
	if err != nil {
		return err
	}
	for _, k := range sd.keys {
		if err := sd.tensors[k].check(); err != nil {
			return fmt.Errorf("%s: key %q: %w", path, k, err)
		}
	}
	if f == formatSafetensors {
		return writeSafetensors(path, sd)
	}
	return writePth(path, sd)
}

package statedict

// Import and Export: state dicts to and from a network's variables in a GoMLX context.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/models/nn"
)

// KeyMismatch is a key whose tensor does not fit the network.
type KeyMismatch struct {
	Key string
	// The file's tensor.
	FileDType DType
	FileShape []int
	// What the network needs: a float tensor of WantShape (an integer scalar for a Counter).
	WantShape []int
	WantInt   bool
}

// MismatchError is a state dict that does not fit a network: the keys it lacks, the keys the
// network does not have, and the keys whose tensor has another shape (or kind).
type MismatchError struct {
	Network    string
	Outputs    int
	Missing    []string
	Unexpected []string
	Mismatched []KeyMismatch
}

// maxListed is how many keys of each kind the message lists (the fields hold them all).
const maxListed = 12

func listKeys(keys []string) string {
	shown := keys
	if len(shown) > maxListed {
		shown = shown[:maxListed]
	}
	s := strings.Join(shown, ", ")
	if len(keys) > len(shown) {
		s += fmt.Sprintf(", ... (%d more)", len(keys)-len(shown))
	}
	return s
}

func (e *MismatchError) Error() string {
	var parts []string
	for i, m := range e.Mismatched {
		if i == maxListed {
			parts = append(parts, fmt.Sprintf("... (%d more keys of another shape)", len(e.Mismatched)-i))
			break
		}
		want := "float " + shapeString(m.WantShape)
		if m.WantInt {
			want = "an integer scalar"
		}
		parts = append(parts, fmt.Sprintf("key %q: the state dict has %s %s, the network needs %s", m.Key, m.FileDType, shapeString(m.FileShape), want))
	}
	if len(e.Missing) > 0 {
		parts = append(parts, fmt.Sprintf("%d missing keys: %s", len(e.Missing), listKeys(e.Missing)))
	}
	if len(e.Unexpected) > 0 {
		parts = append(parts, fmt.Sprintf("%d unexpected keys: %s", len(e.Unexpected), listKeys(e.Unexpected)))
	}
	return fmt.Sprintf("state dict does not fit %s with %d outputs: %s", e.Network, e.Outputs, strings.Join(parts, "; "))
}

// absScope is a network variable's scope under ctx's.
func absScope(ctx *context.Context, rel string) string {
	if ctx.Scope() == context.RootScope {
		return rel
	}
	return ctx.Scope() + rel
}

// Import creates, or overwrites, the variables of network (numOutputs outputs) in ctx's scope
// with the tensors of sd, so that the network built afterwards in that scope (Arch.Build with
// ctx, e.g. ctx.In("model") as the trainer does) uses them. Keys may carry the "module." prefix
// of torch.nn.DataParallel. Float tensors are converted to the variables' dtype (float32).
//
// sd must hold exactly the network's keys with their shapes; otherwise the error is a
// *MismatchError and ctx is left untouched. Only num_batches_tracked may be absent.
func Import(ctx *context.Context, network string, numOutputs int, sd *StateDict) error {
	entries, err := Mapping(network, numOutputs)
	if err != nil {
		return err
	}
	sd = sd.TrimPrefix("module.")
	mm := &MismatchError{Network: network, Outputs: numOutputs}
	known := map[string]bool{}
	for _, e := range entries {
		known[e.Key] = true
		t, ok := sd.Get(e.Key)
		if !ok {
			if e.Layout != Counter {
				mm.Missing = append(mm.Missing, e.Key)
			}
			continue
		}
		if err := t.check(); err != nil {
			return fmt.Errorf("statedict: key %q: %w", e.Key, err)
		}
		if e.Layout == Counter {
			if len(t.Shape) != 0 || t.DType.IsFloat() || t.DType == Bool {
				mm.Mismatched = append(mm.Mismatched, KeyMismatch{e.Key, t.DType, t.Shape, e.Shape, true})
			}
		} else if !slices.Equal(t.Shape, e.Shape) || !t.DType.IsFloat() {
			mm.Mismatched = append(mm.Mismatched, KeyMismatch{e.Key, t.DType, t.Shape, e.Shape, false})
		}
	}
	for _, k := range sd.Keys() {
		if !known[k] {
			mm.Unexpected = append(mm.Unexpected, k)
		}
	}
	if len(mm.Missing)+len(mm.Unexpected)+len(mm.Mismatched) > 0 {
		return mm
	}

	// Convert everything and check the variables already in ctx before changing any.
	type update struct {
		e     Entry
		scope string
		v     *context.Variable
		value *tensors.Tensor
	}
	var updates []update
	for _, e := range entries {
		if e.Layout == Counter {
			continue
		}
		u := update{e: e, scope: absScope(ctx, e.Scope)}
		u.v = ctx.GetVariableByScopeAndName(u.scope, e.Name)
		dt := e.DType
		if u.v != nil {
			if !slices.Equal(u.v.Shape().Dimensions, e.VarShape) {
				return fmt.Errorf("statedict: variable %s/%s in the context has shape %v, %s with %d outputs needs %v",
					u.scope, e.Name, u.v.Shape().Dimensions, network, numOutputs, e.VarShape)
			}
			switch u.v.Shape().DType {
			case dtypes.Float32:
				dt = Float32
			case dtypes.Float64:
				dt = Float64
			default:
				return fmt.Errorf("statedict: variable %s/%s in the context has dtype %s", u.scope, e.Name, u.v.Shape().DType)
			}
		}
		t, _ := sd.Get(e.Key)
		var err error
		if dt == Float64 {
			u.value, err = varValue[float64](e, t)
		} else {
			u.value, err = varValue[float32](e, t)
		}
		if err != nil {
			return fmt.Errorf("statedict: key %q: %w", e.Key, err)
		}
		updates = append(updates, u)
	}
	for _, u := range updates {
		if u.v == nil {
			u.v = ctx.InAbsPath(u.scope).Checked(false).VariableWithValue(u.e.Name, u.value)
		} else if err := u.v.SetValue(u.value); err != nil {
			return fmt.Errorf("statedict: variable %s/%s: %w", u.scope, u.e.Name, err)
		}
		u.v.SetTrainable(u.e.Trainable)
	}
	return nil
}

// Export returns the state dict of network (numOutputs outputs) from the variables in ctx's
// scope (e.g. ctx.In("model")), with the official code's keys, layouts and order, ready for
// load_state_dict(strict=True). num_batches_tracked is written as 0.
func Export(ctx *context.Context, network string, numOutputs int) (*StateDict, error) {
	entries, err := Mapping(network, numOutputs)
	if err != nil {
		return nil, err
	}
	sd := &StateDict{}
	var missing, problems []string
	for _, e := range entries {
		if e.Layout == Counter {
			sd.Set(e.Key, FromInt64([]int{}, []int64{0}))
			continue
		}
		scope := absScope(ctx, e.Scope)
		v := ctx.GetVariableByScopeAndName(scope, e.Name)
		switch {
		case v == nil:
			missing = append(missing, scope+"/"+e.Name)
			continue
		case !slices.Equal(v.Shape().Dimensions, e.VarShape):
			problems = append(problems, fmt.Sprintf("variable %s/%s has shape %v, the network needs %v (key %q)", scope, e.Name, v.Shape().Dimensions, e.VarShape, e.Key))
			continue
		case !v.HasValue():
			problems = append(problems, fmt.Sprintf("variable %s/%s has no value (never initialised)", scope, e.Name))
			continue
		}
		value, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("statedict: variable %s/%s: %w", scope, e.Name, err)
		}
		switch value.DType() {
		case dtypes.Float32:
			vals, err := tensors.CopyFlatData[float32](value)
			if err != nil {
				return nil, fmt.Errorf("statedict: variable %s/%s: %w", scope, e.Name, err)
			}
			sd.Set(e.Key, FromFloat32(e.Shape, toTorchLayout(e, vals)))
		case dtypes.Float64:
			vals, err := tensors.CopyFlatData[float64](value)
			if err != nil {
				return nil, fmt.Errorf("statedict: variable %s/%s: %w", scope, e.Name, err)
			}
			sd.Set(e.Key, FromFloat64(e.Shape, toTorchLayout(e, vals)))
		default:
			problems = append(problems, fmt.Sprintf("variable %s/%s has dtype %s", scope, e.Name, value.DType()))
		}
	}
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("%d missing variables: %s", len(missing), listKeys(missing)))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("statedict: the context (scope %s) does not hold %s with %d outputs: %s", ctx.Scope(), network, numOutputs, strings.Join(problems, "; "))
	}
	return sd, nil
}

// classifierBias is the entry of the last layer's bias, whose length is the number of outputs.
func classifierBias(network string) (Entry, error) {
	entries, err := Mapping(network, 1)
	if err != nil {
		return Entry{}, err
	}
	for i := len(entries) - 1; i >= 0; i-- {
		if e := entries[i]; i > 0 && e.Name == nn.BiasesVar && entries[i-1].Layout == Dense && e.Scope == entries[i-1].Scope {
			return e, nil
		}
	}
	return Entry{}, fmt.Errorf("statedict: %s has no classifier bias", network)
}

// NumOutputs returns the number of outputs of network that sd holds: the length of its last
// layer's bias ("linear.bias" for densenet-bc-100).
func NumOutputs(network string, sd *StateDict) (int, error) {
	e, err := classifierBias(network)
	if err != nil {
		return 0, err
	}
	sd = sd.TrimPrefix("module.")
	t, ok := sd.Get(e.Key)
	if !ok || len(t.Shape) != 1 || t.Shape[0] < 1 {
		return 0, fmt.Errorf("statedict: cannot tell the number of outputs of %s: no 1-d key %q in the state dict", network, e.Key)
	}
	return t.Shape[0], nil
}

// ContextNumOutputs returns the number of outputs of network whose variables are in ctx's
// scope: the length of its last layer's bias.
func ContextNumOutputs(ctx *context.Context, network string) (int, error) {
	e, err := classifierBias(network)
	if err != nil {
		return 0, err
	}
	scope := absScope(ctx, e.Scope)
	v := ctx.GetVariableByScopeAndName(scope, e.Name)
	if v == nil || v.Shape().Rank() != 1 {
		return 0, fmt.Errorf("statedict: cannot tell the number of outputs of %s: no variable %s/%s of rank 1", network, scope, e.Name)
	}
	return v.Shape().Dimensions[0], nil
}

// varValue is the value of e's variable, of dtype F, from the state dict's tensor t.
func varValue[F float32 | float64](e Entry, t Tensor) (*tensors.Tensor, error) {
	vals, err := floats[F](t)
	if err != nil {
		return nil, err
	}
	return tensors.FromFlatDataAndDimensions(toVarLayout(e, vals), e.VarShape...), nil
}

// toVarLayout reorders a PyTorch tensor's elements into the variable's layout.
func toVarLayout[T float32 | float64](e Entry, src []T) []T {
	switch e.Layout {
	case Conv: // [o, i, h, w] -> [h, w, i, o]
		return permuteConv(src, e.Shape, true)
	case Dense: // [o, i] -> [i, o]
		return transpose(src, e.Shape[0], e.Shape[1])
	}
	return src
}

// toTorchLayout reorders a variable's elements into the PyTorch tensor's layout.
func toTorchLayout[T float32 | float64](e Entry, src []T) []T {
	switch e.Layout {
	case Conv: // [h, w, i, o] -> [o, i, h, w]
		return permuteConv(src, e.Shape, false)
	case Dense: // [i, o] -> [o, i]
		return transpose(src, e.VarShape[0], e.VarShape[1])
	}
	return src
}

// permuteConv moves a convolution kernel of PyTorch shape [o, i, h, w] between PyTorch's layout
// [o, i, h, w] and the variable's [h, w, i, o]: toVar from the first to the second, else back.
func permuteConv[T any](src []T, torchShape []int, toVar bool) []T {
	o, i, kh, kw := torchShape[0], torchShape[1], torchShape[2], torchShape[3]
	dst := make([]T, len(src))
	for a := 0; a < o; a++ {
		for b := 0; b < i; b++ {
			for h := 0; h < kh; h++ {
				for w := 0; w < kw; w++ {
					torch, variable := ((a*i+b)*kh+h)*kw+w, ((h*kw+w)*i+b)*o+a
					if toVar {
						dst[variable] = src[torch]
					} else {
						dst[torch] = src[variable]
					}
				}
			}
		}
	}
	return dst
}

// transpose returns the [cols, rows] transpose of a row-major [rows, cols] matrix.
func transpose[T any](src []T, rows, cols int) []T {
	dst := make([]T, len(src))
	for a := 0; a < rows; a++ {
		for b := 0; b < cols; b++ {
			dst[b*rows+a] = src[a*cols+b]
		}
	}
	return dst
}

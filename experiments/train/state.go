package train

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"os"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/experiments/store"
)

// checkpointMagic starts every checkpoint file, with the format version.
const checkpointMagic = "oodlab-checkpoint-v1\n"

// Position is where training stands: the next iteration to run is Iter of Epoch.
type Position struct {
	Epoch int `json:"epoch"`
	Iter  int `json:"iter"`
}

// Checkpoint is the whole training state: every context variable (weights, batch-norm
// statistics, momentum buffers, GoMLX's RNG state) and the host state. Together with the run
// seed it determines the rest of the run exactly: data order, augmentation and sampling
// randomness are derived from (seed, epoch, iteration), and the samplers' per-epoch choices are
// saved in SamplerState.
type Checkpoint struct {
	Position Position
	// SamplerState is the sampler's state at the start of Position.Epoch (e.g. NTOM's and
	// POEM's outlier choice for the epoch), opaque to the checkpoint.
	SamplerState []byte
	// Elapsed is the training wall time so far, in seconds.
	Elapsed float64
	Vars    []SavedVar
}

// SavedVar is one context variable.
type SavedVar struct {
	Scope, Name string
	DType       dtypes.DType
	Dims        []int
	Trainable   bool
	Data        []byte
}

// CaptureVariables copies every variable of ctx that has a value.
func CaptureVariables(ctx *context.Context) ([]SavedVar, error) {
	var out []SavedVar
	for v := range ctx.IterVariables() {
		if !v.HasValue() {
			continue
		}
		t, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", v.ScopeAndName(), err)
		}
		sv := SavedVar{Scope: v.Scope(), Name: v.Name(), DType: t.DType(), Dims: t.Shape().Dimensions, Trainable: v.Trainable}
		if err := t.ConstBytes(func(b []byte) { sv.Data = bytes.Clone(b) }); err != nil {
			return nil, fmt.Errorf("variable %s: %w", v.ScopeAndName(), err)
		}
		out = append(out, sv)
	}
	return out, nil
}

// RestoreVariables creates (or overwrites) the saved variables in ctx, so that graphs built
// afterwards reuse them instead of initialising new ones.
func RestoreVariables(ctx *context.Context, vars []SavedVar) error {
	for _, sv := range vars {
		t := tensors.FromShape(shapes.Make(sv.DType, sv.Dims...))
		var sizeErr error
		if err := t.MutableBytes(func(b []byte) {
			if len(b) != len(sv.Data) {
				sizeErr = fmt.Errorf("variable %s/%s: %d bytes saved, shape %v needs %d", sv.Scope, sv.Name, len(sv.Data), sv.Dims, len(b))
				return
			}
			copy(b, sv.Data)
		}); err != nil {
			return err
		}
		if sizeErr != nil {
			return sizeErr
		}
		v := ctx.GetVariableByScopeAndName(sv.Scope, sv.Name)
		if v == nil {
			v = ctx.InAbsPath(sv.Scope).Checked(false).VariableWithValue(sv.Name, t)
		} else if err := v.SetValue(t); err != nil {
			return fmt.Errorf("variable %s/%s: %w", sv.Scope, sv.Name, err)
		}
		v.SetTrainable(sv.Trainable)
	}
	return nil
}

// Save writes the checkpoint to path atomically: a temporary file in the same directory,
// synced, then renamed over path. On any error the previous checkpoint at path is untouched.
func (c *Checkpoint) Save(path string) error {
	var buf bytes.Buffer
	buf.WriteString(checkpointMagic)
	if err := gob.NewEncoder(&buf).Encode(c); err != nil {
		return fmt.Errorf("checkpoint %s: encoding: %w", path, err)
	}
	return store.WriteFileAtomic(path, buf.Bytes())
}

// LoadCheckpoint reads a checkpoint written by Save. A missing file returns (nil, nil).
func LoadCheckpoint(path string) (*Checkpoint, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if !bytes.HasPrefix(data, []byte(checkpointMagic)) {
		return nil, fmt.Errorf("checkpoint %s: not a checkpoint of this tool (want header %q)", path, checkpointMagic[:len(checkpointMagic)-1])
	}
	c := &Checkpoint{}
	if err := gob.NewDecoder(bytes.NewReader(data[len(checkpointMagic):])).Decode(c); err != nil {
		return nil, fmt.Errorf("checkpoint %s: truncated or corrupt: %w", path, err)
	}
	return c, nil
}

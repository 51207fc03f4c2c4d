package train

// The state of a training run: the checkpoint file (every context variable, the position, the
// sampler's state and the elapsed time) and the run's metrics records it must agree with.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/internal/atomicfile"
	"github.com/oodlab/dos/models/statedict"
)

// checkpointMagic starts every checkpoint file, with the format version. Version 2 follows it
// with the SHA-256 of the gob payload, verified on load; version 1 files (no checksum) are read
// as they are.
const (
	checkpointMagic   = "oodlab-checkpoint-v2\n"
	checkpointMagicV1 = "oodlab-checkpoint-v1\n"
)

// ErrCorruptCheckpoint marks a checkpoint file whose checksum or encoding is wrong.
var ErrCorruptCheckpoint = errors.New("corrupt checkpoint")

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
	// Epoch holds the running sums of the epoch under way when Position.Iter > 0, so that a run
	// resumed mid-epoch writes the same record for it as one that never stopped.
	Epoch *EpochProgress
}

// EpochProgress is what an epoch has accumulated up to a mid-epoch checkpoint.
type EpochProgress struct {
	// Steps and Images are the iterations run and the images trained on.
	Steps, Images int
	// Sums are the sums of the step outputs (loss, ID loss, outlier loss, accuracy), Diag those
	// of a sampler's diagnostics.
	Sums [numStepOutputs]float64
	Diag map[string]float64
	// Seconds is the epoch's wall time so far; LR the learning rate of its last iteration.
	Seconds, LR float64
	// Probe holds the outlier probe's sums so far (probe.go); nil before its first probe.
	Probe *ProbeProgress
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
// synced, then renamed over path. The checkpoint it replaces is kept as path + ".prev", so that a
// damaged checkpoint has a good one to fall back on.
func (c *Checkpoint) Save(path string) error {
	var payload bytes.Buffer
	if err := gob.NewEncoder(&payload).Encode(c); err != nil {
		return fmt.Errorf("checkpoint %s: encoding: %w", path, err)
	}
	sum := sha256.Sum256(payload.Bytes())
	if _, err := os.Stat(path); err == nil {
		// A hard link keeps the previous checkpoint at path as well until the new one replaces
		// it, so that a run killed while the new one is written resumes from it; a rename, the
		// fallback where links are not supported, leaves no checkpoint at path meanwhile.
		prev := path + prevSuffix
		if err := os.Remove(prev); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("checkpoint %s: keeping the previous one: %w", path, err)
		}
		if os.Link(path, prev) != nil {
			if err := os.Rename(path, prev); err != nil {
				return fmt.Errorf("checkpoint %s: keeping the previous one: %w", path, err)
			}
		}
	}
	if beforeCheckpointWrite != nil {
		beforeCheckpointWrite(path)
	}
	// Header, checksum and payload straight to the file: no second copy of the variables.
	return atomicfile.WriteFunc(path, func(w io.Writer) error {
		for _, b := range [][]byte{[]byte(checkpointMagic), sum[:], payload.Bytes()} {
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return nil
	})
}

// beforeCheckpointWrite, when set (by tests), is called by Save after the previous checkpoint is
// kept and before the new one is written: the moment a killed run would leave behind.
var beforeCheckpointWrite func(path string)

// prevSuffix names the previous checkpoint, kept beside the current one.
const prevSuffix = ".prev"

// LoadCheckpoint reads a checkpoint written by Save. A missing file returns (nil, nil); a
// damaged one an error wrapping ErrCorruptCheckpoint that names the file.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	var payload []byte
	switch {
	case bytes.HasPrefix(data, []byte(checkpointMagic)):
		rest := data[len(checkpointMagic):]
		if len(rest) < sha256.Size {
			return nil, fmt.Errorf("checkpoint %s: %w: truncated (%d bytes)", path, ErrCorruptCheckpoint, len(data))
		}
		payload = rest[sha256.Size:]
		if sum := sha256.Sum256(payload); !bytes.Equal(sum[:], rest[:sha256.Size]) {
			return nil, fmt.Errorf("checkpoint %s: %w: its SHA-256 does not match its content (damaged on disk, or truncated)", path, ErrCorruptCheckpoint)
		}
	case bytes.HasPrefix(data, []byte(checkpointMagicV1)):
		payload = data[len(checkpointMagicV1):]
	default:
		return nil, fmt.Errorf("checkpoint %s: %w: not a checkpoint of this tool (want header %q)", path, ErrCorruptCheckpoint,
			strings.TrimSpace(checkpointMagic))
	}
	c := &Checkpoint{}
	if err := gob.NewDecoder(bytes.NewReader(payload)).Decode(c); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w: %v", path, ErrCorruptCheckpoint, err)
	}
	return c, nil
}

// samplerState returns the sampler's own state, for samplers that keep one across epochs.
func (t *Trainer) samplerState() []byte {
	if s, ok := t.Sampler.(statefulSampler); ok {
		b, err := s.MarshalState()
		if err == nil {
			return b
		}
		t.logf("warning: sampler %s state not saved: %v", t.Sampler.Name(), err)
	}
	return nil
}

func (t *Trainer) restoreSampler(state []byte) error {
	if len(state) == 0 {
		return nil
	}
	_, own, err := decodeState(state)
	if err != nil {
		return err
	}
	if s, ok := t.Sampler.(statefulSampler); ok && len(own) > 0 {
		return s.UnmarshalState(own)
	}
	return nil
}

// encodeState packs the epoch's rows and the sampler's own state.
func encodeState(rows []int32, own []byte) []byte {
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, int64(len(rows)))
	binary.Write(&buf, binary.LittleEndian, rows)
	buf.Write(own)
	return buf.Bytes()
}

func decodeState(b []byte) (rows []int32, own []byte, err error) {
	r := bytes.NewReader(b)
	var n int64
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil || n < 0 || n > int64(len(b)) {
		return nil, nil, fmt.Errorf("corrupt sampler state")
	}
	rows = make([]int32, n)
	if err := binary.Read(r, binary.LittleEndian, rows); err != nil {
		return nil, nil, fmt.Errorf("corrupt sampler state: %w", err)
	}
	own = b[len(b)-r.Len():]
	return rows, own, nil
}

// checkpointPath is the run's checkpoint file.
func (t *Trainer) checkpointPath() string {
	return filepath.Join(t.Settings.Dir.File(store.CheckpointDir), "training.ckpt")
}

func (t *Trainer) save(pos Position, samplerState []byte, elapsed float64, progress *EpochProgress) error {
	if pos.Iter == 0 {
		// At an epoch boundary the next epoch's rows are chosen afresh; keep the sampler's own state.
		samplerState = encodeState(nil, t.samplerState())
		progress = nil
	}
	vars, err := CaptureVariables(t.ctx)
	if err != nil {
		return err
	}
	c := &Checkpoint{Position: pos, SamplerState: samplerState, Elapsed: elapsed, Vars: vars, Epoch: progress}
	if err := os.MkdirAll(t.Settings.Dir.File(store.CheckpointDir), 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return c.Save(t.checkpointPath())
}

// statefulSampler is a sampler whose choices depend on state it keeps across epochs (POEM's
// posterior buffer); the checkpoint saves that state so that a resumed run continues exactly.
type statefulSampler interface {
	MarshalState() ([]byte, error)
	UnmarshalState([]byte) error
}

// trimRecords keeps the records of the first epochs epochs in the run's metrics file: those of
// later epochs were written by a run that stopped before checkpointing them, and will be redone.
func trimRecords(dir *store.RunDir, epochs int) error {
	recs, err := dir.Epochs()
	if err != nil {
		return err
	}
	var keep bytes.Buffer
	dropped := false
	for _, r := range recs {
		if r.Epoch > epochs {
			dropped = true
			continue
		}
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		keep.Write(append(b, '\n'))
	}
	if !dropped {
		return nil
	}
	return atomicfile.Write(dir.File(store.MetricsFile), keep.Bytes())
}

// resume restores the checkpoint, if any: the variables into t.ctx and the sampler's state. It
// returns where training stands, the sampler state saved for that epoch and the training
// seconds so far, and drops the metrics records past the checkpoint.
func (t *Trainer) resume() (pos Position, samplerState []byte, progress *EpochProgress, elapsed float64, err error) {
	ckpt, err := t.loadGoodCheckpoint()
	if err != nil {
		return pos, nil, nil, 0, err
	}
	if ckpt != nil {
		if err := RestoreVariables(t.ctx, ckpt.Vars); err != nil {
			return pos, nil, nil, 0, fmt.Errorf("checkpoint %s: %w", t.checkpointPath(), err)
		}
		pos, samplerState, progress, elapsed = ckpt.Position, ckpt.SamplerState, ckpt.Epoch, ckpt.Elapsed
		if err := t.restoreSampler(samplerState); err != nil {
			return pos, nil, nil, 0, fmt.Errorf("checkpoint %s: sampler state: %w", t.checkpointPath(), err)
		}
		t.logf("resuming after epoch %d of %d, iteration %d (%s)", pos.Epoch, t.Epochs, pos.Iter, t.checkpointPath())
	} else if t.Model.Init != "" {
		if err := t.importInit(); err != nil {
			return pos, nil, nil, 0, err
		}
	}
	if err := trimRecords(t.Settings.Dir, pos.Epoch); err != nil {
		return pos, nil, nil, 0, err
	}
	return pos, samplerState, progress, elapsed, nil
}

// loadGoodCheckpoint returns the run's checkpoint, or nil for none. A damaged checkpoint is
// set aside (renamed with a ".corrupt-<time>" suffix, never deleted) and the previous one is used
// if it is good; with none good, the run starts again from scratch. Either way the log says
// what happened.
func (t *Trainer) loadGoodCheckpoint() (*Checkpoint, error) {
	path := t.checkpointPath()
	c, err := LoadCheckpoint(path)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, ErrCorruptCheckpoint) {
		return nil, err
	}
	aside := fmt.Sprintf("%s.corrupt-%s", path, time.Now().UTC().Format("20060102T150405Z"))
	if rerr := os.Rename(path, aside); rerr != nil {
		return nil, fmt.Errorf("%w; setting it aside failed: %v", err, rerr)
	}
	prev, perr := LoadCheckpoint(path + prevSuffix)
	if perr == nil && prev != nil {
		t.logf("warning: %v; kept as %s. Resuming from the previous checkpoint (%s: epoch %d, iteration %d)",
			err, filepath.Base(aside), filepath.Base(path+prevSuffix), prev.Position.Epoch, prev.Position.Iter)
		return prev, nil
	}
	t.logf("warning: %v; kept as %s. No good previous checkpoint: the run starts again from scratch "+
		"(to start from a copy you trust, put it at %s)", err, filepath.Base(aside), path)
	return nil, nil
}

// importInit fills the network's variables from the run's init file (a PyTorch state dict, or a
// checkpoint of this project whose network variables are taken), before the first step.
func (t *Trainer) importInit() error {
	path := t.Model.Init
	mctx := t.ctx.In(ModelScope)
	if strings.HasSuffix(path, ".ckpt") {
		c, err := LoadCheckpoint(path)
		if err != nil {
			return fmt.Errorf("init: %w", err)
		}
		if c == nil {
			return fmt.Errorf("init: %s: no such file", path)
		}
		var model []SavedVar
		for _, v := range c.Vars {
			if v.Scope == "/"+ModelScope || strings.HasPrefix(v.Scope, "/"+ModelScope+"/") {
				model = append(model, v)
			}
		}
		if len(model) == 0 {
			return fmt.Errorf("init: %s holds no network variables (scope /%s)", path, ModelScope)
		}
		if err := RestoreVariables(t.ctx, model); err != nil {
			return fmt.Errorf("init: %s: %w", path, err)
		}
		t.logf("initial weights from %s (%d network variables of a checkpoint)", path, len(model))
		return nil
	}
	sd, err := statedict.Read(path)
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if err := statedict.Import(mctx, t.Model.Arch.Name, t.Model.Outputs, sd); err != nil {
		// A K-class classifier's weights for a method with the absent class (K+1 outputs): the
		// classifier gains a zero row (statedict.AddAbsentClass).
		ext, keys, xerr := statedict.AddAbsentClass(sd, t.Model.Arch.Name, t.Model.Outputs)
		if t.Model.Outputs != t.Model.Classes+1 || xerr != nil {
			return fmt.Errorf("init: %s: %w", path, err)
		}
		if err := statedict.Import(mctx, t.Model.Arch.Name, t.Model.Outputs, ext); err != nil {
			return fmt.Errorf("init: %s: %w", path, err)
		}
		t.logf("initial weights from %s (%d tensors of a PyTorch state dict; %s extended by a zero row for the absent class)",
			path, sd.Len(), strings.Join(keys, ", "))
		return nil
	}
	t.logf("initial weights from %s (%d tensors of a PyTorch state dict)", path, sd.Len())
	return nil
}

package train

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph DSL reads better unqualified.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/models/backend"
	"github.com/oodlab/dos/sampling"
	"github.com/oodlab/dos/sampling/ondevice"
)

// The iteration of an in-graph sampler (DOS) on the pure-Go backend.
//
// On XLA a DOS iteration is one compiled graph (Model.StepInGraph): scoring, K-means, selection
// and training, with no host round trip. The pure-Go backend interprets a graph op by op, and the
// selection's thousands of small ops (restarts x unrolled Lloyd iterations, ranks as [N, N]
// comparisons) made a DOS iteration 30 to 50 times slower than a random-sampling one there. So on
// that backend the trainer splits the iteration in three: the scoring graph returns the values
// the selection reads (for DOS: p_abs and the features to cluster), the sampler's host selection
// (ondevice.HostSelector; for DOS, ondevice.HostSelectDOS) picks on the host, and the picked
// rows of the candidate block go to the training step of the epoch-level samplers
// (Model.StepOutliers). The host selection computes in the pure-Go backend's float32 order, so
// the picks, the diagnostics and hence the whole run are bit for bit those of the one-graph
// step (tested in hostselect_test.go); Settings.SelectionInGraph keeps the one graph.

// HostSelection returns the host selection the trainer uses for the in-graph sampler s on backend
// be: s's ondevice.HostSelector on the project's pure-Go backend, none (false) elsewhere or when s
// has none.
func HostSelection(be backends.Backend, s sampling.InGraph) (ondevice.HostSelector, bool) {
	if s == nil {
		return ondevice.HostSelector{}, false
	}
	if _, ok := be.(*backend.GoBackend); !ok {
		return ondevice.HostSelector{}, false
	}
	return ondevice.LookupHost(s)
}

// HostStep runs an in-graph sampler's iteration as the scoring graph, the host selection and the
// training step. Its Exec takes the arguments of the one-graph step (Model.StepInGraph, or
// StepInGraphClean for a sampler that scores without augmentation) and returns the same outputs:
// the step outputs, then the selection's diagnostics.
type HostStep struct {
	sampler      sampling.InGraph
	host         ondevice.HostSelector
	score, train *context.Exec
	// diags is the number of the sampler's diagnostics (len(sampler.Diagnostics())).
	diags int
}

// NewHostStep builds the host-selection step of m's in-graph sampler with its host selection h.
// exec returns the compiled executable of a graph function, by name (the trainer's cache, or a
// caller's own; the caller finalises them).
func NewHostStep(m *Model, h ondevice.HostSelector, exec func(name string, fn any) (*context.Exec, error)) (*HostStep, error) {
	s := m.InGraph
	score, err := exec("host-selection-inputs", func(ctx *context.Context, scoreOn *Node) []*Node {
		scored := m.forward(ctx, scoreOn, false)
		return h.Inputs(s, StopGradient(scored.Logits), StopGradient(scored.Features))
	})
	if err != nil {
		return nil, err
	}
	train, err := exec("outliers", m.StepOutliers)
	if err != nil {
		return nil, err
	}
	return &HostStep{sampler: s, host: h, score: score, train: train, diags: len(s.Diagnostics())}, nil
}

// Exec runs one iteration: args are x, labels, [the clean block,] the candidate block, the
// uniforms and the learning rate, each a *tensors.Tensor.
func (h *HostStep) Exec(args ...any) ([]*tensors.Tensor, error) {
	n := len(args)
	if n != 5 && n != 6 {
		return nil, fmt.Errorf("host selection step: %d arguments, want 5 or 6", n)
	}
	ts := make([]*tensors.Tensor, n)
	for i, a := range args {
		t, ok := a.(*tensors.Tensor)
		if !ok {
			return nil, fmt.Errorf("host selection step: argument %d is a %T, want a tensor", i, a)
		}
		ts[i] = t
	}
	scoreOn, block, uniforms := ts[2], ts[n-3], ts[n-2]
	indices, diags, err := h.Select(scoreOn, uniforms)
	if err != nil {
		return nil, err
	}
	picked, err := gatherRows(block, indices)
	if err != nil {
		return nil, err
	}
	out, err := h.train.Exec(ts[0], ts[1], picked, ts[n-1])
	if err != nil {
		return nil, err
	}
	for _, d := range diags {
		out = append(out, tensors.FromScalar(d))
	}
	return out, nil
}

// Select scores the block scoreOn and returns the selection's picks (rows of the block) and
// diagnostics, for the uniforms of the iteration.
func (h *HostStep) Select(scoreOn, uniforms *tensors.Tensor) ([]int32, []float32, error) {
	in, err := h.score.Exec(scoreOn)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		for _, t := range in {
			_ = t.FinalizeAll()
		}
	}()
	u, err := tensors.CopyFlatData[float32](uniforms)
	if err != nil {
		return nil, nil, fmt.Errorf("host selection: uniforms: %w", err)
	}
	indices, diags, err := h.host.Select(h.sampler, in, u)
	if err != nil {
		return nil, nil, fmt.Errorf("host selection of %s: %w", h.sampler.Name(), err)
	}
	if len(diags) != h.diags {
		return nil, nil, fmt.Errorf("host selection of %s returned %d diagnostics, its Diagnostics() names %d",
			h.sampler.Name(), len(diags), h.diags)
	}
	return indices, diags, nil
}

// gatherRows returns the rows idx of the block [C, ...] as a tensor [len(idx), ...].
func gatherRows(block *tensors.Tensor, idx []int32) (*tensors.Tensor, error) {
	dims := block.Shape().Dimensions
	rowSize := block.Shape().Size() / dims[0]
	out := make([]float32, len(idx)*rowSize)
	var bad error
	err := block.ConstFlatData(func(flat any) {
		f, ok := flat.([]float32)
		if !ok {
			bad = fmt.Errorf("candidate block of %s, want float32", block.DType())
			return
		}
		for i, r := range idx {
			if r < 0 || int(r) >= dims[0] {
				bad = fmt.Errorf("selection picked row %d of a block of %d", r, dims[0])
				return
			}
			copy(out[i*rowSize:(i+1)*rowSize], f[int(r)*rowSize:(int(r)+1)*rowSize])
		}
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, fmt.Errorf("host selection: %w", err)
	}
	return tensors.FromFlatDataAndDimensions(out, append([]int{len(idx)}, dims[1:]...)...), nil
}

// stepExecutor is a train step: a compiled graph (*context.Exec) or a HostStep.
type stepExecutor interface {
	Exec(args ...any) ([]*tensors.Tensor, error)
}

// hostStep returns the trainer's host-selection step for the in-graph sampler (see above), or
// nil when it runs the selection inside the step graph.
func (t *Trainer) hostStep(s sampling.InGraph) (*HostStep, error) {
	if t.Settings.SelectionInGraph {
		return nil, nil
	}
	h, ok := HostSelection(t.Backend, s)
	if !ok {
		return nil, nil
	}
	return NewHostStep(t.Model, h, t.exec)
}

package ondevice

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph DSL reads better unqualified.
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/oodlab/dos/internal/registry"
	"github.com/oodlab/dos/sampling"
)

// HostSelector is an in-graph sampler's selection computed on the host, for backends that run a
// graph of many small operations slowly (the pure-Go backend; see the package documentation). It
// must give the same picks and diagnostics as the sampler's graph (Register) on such a backend.
type HostSelector struct {
	// Inputs adds to the graph of the scoring pass the values Select reads, from the model's
	// outputs on the block of candidates in inference mode (logits [C, outputs], features [C, D]).
	Inputs func(s sampling.InGraph, logits, features *Node) []*Node
	// Select picks from the values of Inputs, in their order, and the iteration's uniforms
	// (s.StepUniforms): the rows of the block, as Selection.Indices, and the diagnostics, in the
	// order of s.Diagnostics().
	Select func(s sampling.InGraph, inputs []*tensors.Tensor, uniforms []float32) (indices []int32, diagnostics []float32, err error)
}

// hostSelectors holds the host selection of the in-graph samplers that have one, by name.
var hostSelectors = registry.New[HostSelector]("host selection")

// RegisterHost adds the host selection of the in-graph sampler called name; call it from an init
// function.
func RegisterHost(name string, h HostSelector) { hostSelectors.Register(name, h) }

// LookupHost returns the host selection of s, if it has one.
func LookupHost(s sampling.InGraph) (HostSelector, bool) {
	h, err := hostSelectors.Lookup(s.Name())
	return h, err == nil
}

func init() {
	RegisterHost("dos", HostSelector{
		Inputs: func(s sampling.InGraph, logits, features *Node) []*Node {
			pAbs, feats := DOSHostInputs(logits, features, s.(*sampling.DOS).Config())
			return []*Node{pAbs, feats}
		},
		Select: func(s sampling.InGraph, in []*tensors.Tensor, uniforms []float32) ([]int32, []float32, error) {
			if len(in) != 2 || in[1].Rank() != 2 {
				return nil, nil, fmt.Errorf("ondevice: dos host selection: want p_abs [C] and features [C, D], got %d inputs", len(in))
			}
			pAbs, err := tensors.CopyFlatData[float32](in[0])
			if err != nil {
				return nil, nil, fmt.Errorf("ondevice: dos host selection: p_abs: %w", err)
			}
			feats, err := tensors.CopyFlatData[float32](in[1])
			if err != nil {
				return nil, nil, fmt.Errorf("ondevice: dos host selection: features: %w", err)
			}
			sel, err := HostSelectDOS(pAbs, feats, in[1].Shape().Dimensions[1], uniforms, s.(*sampling.DOS).Config())
			if err != nil {
				return nil, nil, err
			}
			// The order of (*sampling.DOS).Diagnostics, as the graph's (ingraph.go).
			return sel.Indices, []float32{sel.Inertia, float32(sel.EmptyClusters), sel.MeanPAbsPicked, sel.MeanPAbsAll}, nil
		},
	})
}

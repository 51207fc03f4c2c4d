package ondevice

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph DSL reads better unqualified.

	"github.com/oodlab/dos/internal/registry"
	"github.com/oodlab/dos/sampling"
)

// Selection is what the graph of an in-graph sampler returns for one block of candidates.
type Selection struct {
	// Indices [OOD batch] int32 are the selected rows of the block.
	Indices *Node
	// Diagnostics are float32 scalars, in the order of the sampler's Diagnostics().
	Diagnostics []*Node
}

// Builder adds an in-graph sampler's selection to the graph: logits [C, outputs] and features
// [C, D] are the model's outputs on the block of C = s.BlockSize() candidates in inference
// mode, uniforms [s.UniformsSize()] float32 are s.StepUniforms of the iteration.
type Builder func(s sampling.InGraph, logits, features, uniforms *Node) Selection

// builders holds the graph of each in-graph sampler, by sampler name.
var builders = registry.New[Builder]("in-graph sampler")

// Register adds the graph of the in-graph sampler called name; call it from an init function.
func Register(name string, b Builder) { builders.Register(name, b) }

// Check reports whether an in-graph sampler has a registered graph.
func Check(s sampling.InGraph) error {
	if _, err := builders.Lookup(s.Name()); err != nil {
		return fmt.Errorf("ondevice: sampler %s selects inside the graph but has no graph: %w", s.Name(), err)
	}
	return nil
}

// Build adds s's selection to the graph. A sampler without a registered graph is a bug (Check
// first) and panics.
func Build(s sampling.InGraph, logits, features, uniforms *Node) Selection {
	b, err := builders.Lookup(s.Name())
	if err != nil {
		panic(fmt.Errorf("ondevice.Build: %w", err))
	}
	sel := b(s, logits, features, uniforms)
	if len(sel.Diagnostics) != len(s.Diagnostics()) {
		panic(fmt.Errorf("ondevice.Build: sampler %s's graph returned %d diagnostics, its Diagnostics() names %d",
			s.Name(), len(sel.Diagnostics), len(s.Diagnostics())))
	}
	return sel
}

func init() {
	Register("dos", func(s sampling.InGraph, logits, features, uniforms *Node) Selection {
		sel := SelectDOS(logits, features, uniforms, s.(*sampling.DOS).Config())
		// The order of (*sampling.DOS).Diagnostics.
		return Selection{Indices: sel.Indices, Diagnostics: []*Node{
			sel.Inertia, ConvertDType(sel.EmptyClusters, dtypes.Float32), sel.MeanPAbsPicked, sel.MeanPAbsAll}}
	})
}

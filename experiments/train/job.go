package train

import (
	"github.com/oodlab/dos/data"
)

// TestSet is one OOD test set of a run.
type TestSet struct {
	Name   string
	Images data.Source
}

// TrainSet is the ID training split: a Source (in memory for small sets; decoded on demand from
// its files for ImageNet, whose images a random resized crop reads as stored) and its labels.
type TrainSet struct {
	data.Source
	// N is Source.Len().
	N int
	// Labels holds one class index per image.
	Labels []int32
}

// Job is one run with its data resolved: what Train needs besides the configuration.
type Job struct {
	// Train and Test are the in-distribution splits, labels remapped to 0..Classes-1.
	Train *TrainSet
	Test  *data.Images
	// Pool is the auxiliary outlier pool (nil for methods without outliers).
	Pool data.Source
	// Tests are the OOD test sets, in report order.
	Tests []TestSet
	// Classes is K, the number of in-distribution classes.
	Classes int
	// Norm is the ID mean/std normalisation applied to every image the model sees.
	Norm data.Normalize
	// Aug is the training augmentation of ID and outlier batches (nil: none).
	Aug *data.Augment
}

// subset is a Source restricted to some rows of another.
type subset struct {
	src  data.Source
	rows []int32
}

func (s subset) Len() int                       { return len(s.rows) }
func (s subset) Dims() (h, w, c int)            { return s.src.Dims() }
func (s subset) Image(i int, dst []uint8) error { return s.src.Image(int(s.rows[i]), dst) }

// listOrder visits the rows a sampler chose for one epoch (its loader serves only that epoch).
type listOrder struct {
	rows []int32
}

func (o listOrder) Indices(int) []int {
	out := make([]int, len(o.rows))
	for i, r := range o.rows {
		out[i] = int(r)
	}
	return out
}

package data

import "fmt"

// rowsSource is some rows of another Source, in a given order. It gives images as stored too
// when the source does (RawSource), so that a subset of an image folder can still be
// augmented with a random resized crop.
type rowsSource struct {
	src  Source
	rows []int
}

func (r *rowsSource) Len() int              { return len(r.rows) }
func (r *rowsSource) Dims() (int, int, int) { return r.src.Dims() }
func (r *rowsSource) Image(i int, dst []uint8) error {
	if i < 0 || i >= len(r.rows) {
		return fmt.Errorf("image %d out of range [0, %d)", i, len(r.rows))
	}
	return r.src.Image(r.rows[i], dst)
}

type rawRows struct{ rowsSource }

func (r *rawRows) Raw(i int) ([]uint8, int, int, error) {
	if i < 0 || i >= len(r.rows) {
		return nil, 0, 0, fmt.Errorf("image %d out of range [0, %d)", i, len(r.rows))
	}
	return r.src.(RawSource).Raw(r.rows[i])
}

// Rows returns the Source made of rows of src, in that order; it is a RawSource when src is.
func Rows(src Source, rows []int) Source {
	rs := rowsSource{src: src, rows: rows}
	if _, ok := src.(RawSource); ok {
		return &rawRows{rs}
	}
	return &rs
}

// Head returns the first n images of src (all of them when n <= 0 or n >= its length),
// keeping RawSource.
func Head(src Source, n int) Source {
	if n <= 0 || n >= src.Len() {
		return src
	}
	if m, ok := src.(*Images); ok {
		return &Images{N: n, H: m.H, W: m.W, C: m.C, Pix: m.Pix[:n*m.ImageSize()], Labels: headLabels(m.Labels, n)}
	}
	rows := make([]int, n)
	for i := range rows {
		rows[i] = i
	}
	return Rows(src, rows)
}

func headLabels(l []int32, n int) []int32 {
	if l == nil {
		return nil
	}
	return l[:n]
}

// SourceLabels returns the labels of a Source that has them (in-memory sets, image folders,
// packed shards), else nil.
func SourceLabels(src Source) []int32 {
	switch s := src.(type) {
	case *Images:
		return s.Labels
	case interface{ Labels() []int32 }:
		return s.Labels()
	}
	return nil
}

// SelectSource is Select for any Source: the images of ref's classes (all when ref has none),
// at most max (0: no cap), in order, with their labels (remapped to positions in ref.Classes
// when remap). In-memory sets stay in memory; other sources are not read (image folders and
// shards keep decoding on demand, and keep giving images as stored).
func (ref Ref) SelectSource(src Source, max int, remap bool) (Source, []int32, error) {
	if m, ok := src.(*Images); ok {
		out, err := ref.Select(m, max, remap)
		if err != nil {
			return nil, nil, err
		}
		return out, out.Labels, nil
	}
	labels := SourceLabels(src)
	if ref.Classes == nil {
		s := Head(src, max)
		return s, headLabels(labels, s.Len()), nil
	}
	if labels == nil {
		return nil, nil, fmt.Errorf("data set %s: has no labels, so classes %v cannot be selected", ref.Name, ref.Classes)
	}
	pos := map[int32]int32{}
	for i, c := range ref.Classes {
		pos[c] = int32(i)
	}
	var rows []int
	var out []int32
	for i, l := range labels {
		if max > 0 && len(rows) >= max {
			break
		}
		p, ok := pos[l]
		if !ok {
			continue
		}
		rows = append(rows, i)
		if remap {
			l = p
		}
		out = append(out, l)
	}
	if len(rows) == 0 {
		return nil, nil, fmt.Errorf("data set %s: no image of classes %v", ref.Name, ref.Classes)
	}
	return Rows(src, rows), out, nil
}

// ComputeNormalizeSource is ComputeNormalize for any Source, read image by image (in memory
// for in-memory sets).
func ComputeNormalizeSource(src Source) (Normalize, error) {
	if m, ok := src.(*Images); ok {
		return ComputeNormalize(m), nil
	}
	h, w, c := src.Dims()
	s := newChannelSums(c)
	buf := make([]uint8, h*w*c)
	for i := range src.Len() {
		if err := src.Image(i, buf); err != nil {
			return Normalize{}, err
		}
		s.add(buf)
	}
	return statsNormalize(s.stats()), nil
}

// TrainLoaderSource is TrainLoader for any Source with its labels: a fresh shuffle each epoch,
// the last partial batch dropped, the training augmentation.
func TrainLoaderSource(src Source, labels []int32, batch int, seed uint64, aug Augment, norm Normalize) *Loader {
	return &Loader{Src: src, Labels: labels, BatchSize: batch, Order: Shuffled{N: src.Len(), Seed: mix64(seed, 0x1d)},
		Aug: &aug, Norm: norm, Seed: seed, Stream: 0x1d, DropLast: true}
}

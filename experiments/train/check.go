package train

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/models"
	"github.com/oodlab/dos/sampling"
)

// Check runs, before anything is written, the checks a run's configuration can only pass
// against its data: every set and split opens (sizes and headers of its files checked; a
// checksum mismatch found by data.ChecksumStatus is an error), class selections hold images, the
// sets share the ID images' shape, the batches fit the data, every epoch runs at least one
// iteration, the sampler accepts the sizes, the network exists and the init file reads. Each
// data set is opened once for all runs. It returns, per run (same order), the problems found
// (nil for a run without any).
func Check(runs []*config.Run, dataDir string) [][]error {
	c := &checker{dir: dataDir, sets: map[string]*setInfo{}}
	out := make([][]error, len(runs))
	for i, r := range runs {
		out[i] = c.run(r)
	}
	return out
}

// setInfo is what Check learned of one split of one data set.
type setInfo struct {
	n       int
	h, w, c int
	labels  []int32 // nil when the source gives none cheaply
	err     error
	checked bool // checksum status looked at
}

type checker struct {
	dir  string
	sets map[string]*setInfo
}

// open returns (once per set and split) the size, shape and labels of a split.
func (c *checker) open(name, split string, needLabels bool) *setInfo {
	key := name + "|" + split
	if si, ok := c.sets[key]; ok && (si.labels != nil || !needLabels || si.err != nil) {
		return si
	}
	si := &setInfo{}
	c.sets[key] = si
	var src data.Source
	if needLabels {
		m, err := data.Load(name, c.dir, split)
		if err != nil {
			si.err = err
			return si
		}
		src, si.labels = m, m.Labels
	} else {
		s, err := data.Open(name, c.dir, split)
		if err != nil {
			si.err = err
			return si
		}
		defer data.CloseSource(s)
		src = s
		if l, ok := s.(interface{ Labels() []int32 }); ok {
			si.labels = l.Labels()
		} else if m, ok := s.(*data.Images); ok {
			si.labels = m.Labels
		}
	}
	si.n = src.Len()
	si.h, si.w, si.c = src.Dims()
	if status, details := data.ChecksumStatus(name, c.dir); status == "mismatch" {
		si.err = fmt.Errorf("%s: checksum mismatch: %s", name, strings.Join(details, "; "))
	}
	return si
}

// selected returns the number of images of ref's split after its class selection and the cap
// (and the set's info).
func (c *checker) selected(field, refStr, split string, limit int) (int, *setInfo, error) {
	ref, err := data.ParseRef(refStr)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", field, err)
	}
	si := c.open(ref.Name, split, ref.Classes != nil)
	if si.err != nil {
		return 0, nil, fmt.Errorf("%s %s (%s split): %w", field, refStr, split, si.err)
	}
	n := si.n
	if ref.Classes != nil {
		want := map[int32]bool{}
		for _, k := range ref.Classes {
			want[k] = true
		}
		n = 0
		for _, l := range si.labels {
			if want[l] {
				n++
			}
		}
		if n == 0 {
			return 0, nil, fmt.Errorf("%s %s (%s split): no image of classes %v", field, refStr, split, ref.Classes)
		}
	}
	if limit > 0 && limit < n {
		n = limit
	}
	return n, si, nil
}

// run checks one run.
func (c *checker) run(r *config.Run) []error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	b := r.Benchmark
	if _, err := models.Lookup(r.Network); err != nil {
		add(fmt.Errorf("network: %w", err))
	}
	if r.Init != "" {
		if f, err := os.Open(r.Init); err != nil {
			add(fmt.Errorf("init: %w", err))
		} else {
			f.Close()
		}
	}
	train, idInfo, err := c.selected("benchmark.id", b.ID, "train", r.Caps.MaxTrain)
	add(err)
	_, _, err = c.selected("benchmark.id", b.ID, "test", r.Caps.MaxTest)
	add(err)
	shape := func(field, name string, si *setInfo) {
		if idInfo != nil && si != nil {
			add(shapeErr(field, name, [3]int{si.h, si.w, si.c}, [3]int{idInfo.h, idInfo.w, idInfo.c}))
		}
	}
	for i, t := range b.Tests {
		_, si, err := c.selected(fmt.Sprintf("benchmark.tests[%d]", i), t, "test", r.Caps.MaxTest)
		add(err)
		shape(fmt.Sprintf("benchmark.tests[%d]", i), t, si)
	}
	if train == 0 {
		return errs
	}
	if r.Batch.ID > train {
		add(fmt.Errorf("batch.id: %d is larger than the %d training images of %s", r.Batch.ID, train, b.ID))
	}
	iters := train / r.Batch.ID
	if !r.Batch.DropLast && train%r.Batch.ID != 0 {
		iters++
	}
	if r.Method.Sampler == config.SamplerNone {
		if iters == 0 {
			add(fmt.Errorf("an epoch would run no iteration: %d training images in batches of %d (batch.drop_last)", train, r.Batch.ID))
		}
		return errs
	}
	pool, poolInfo, err := c.selected("benchmark.pool", b.Pool, "train", r.Caps.MaxPool)
	add(err)
	shape("benchmark.pool", b.Pool, poolInfo)
	if pool == 0 {
		return errs
	}
	env := samplerEnv(r, train, pool)
	s, err := sampling.New(r.Method.Sampler, env, r.Method.SamplerOptions())
	if err != nil {
		add(fmt.Errorf("method.sampler %s with %d ID training images and a pool of %d: %w", r.Method.Sampler, train, pool, err))
		return errs
	}
	var oodIters int
	var what string
	if ig, ok := s.(sampling.InGraph); ok {
		rows, err := s.Select(0, sampling.Scores{})
		if err != nil {
			add(err)
			return errs
		}
		oodIters, what = len(rows)/ig.BlockSize(), fmt.Sprintf("%d candidate blocks of %d in a pool of %d", len(rows)/ig.BlockSize(), ig.BlockSize(), pool)
	} else {
		per := env.OutliersPerEpoch
		oodIters = per / r.Batch.OOD
		if !r.Batch.DropLast && per%r.Batch.OOD != 0 {
			oodIters++
		}
		what = fmt.Sprintf("%d outliers per epoch in batches of %d (batch.drop_last %v)", per, r.Batch.OOD, r.Batch.DropLast)
	}
	if min(iters, oodIters) == 0 {
		add(fmt.Errorf("an epoch would run no iteration: %d training images in batches of %d, %s", train, r.Batch.ID, what))
	}
	return errs
}

// CheckErr joins the problems Check found for the runs named by names (same order) into one
// error, or nil.
func CheckErr(problems [][]error, names []string) error {
	var all []error
	for i, ps := range problems {
		for _, p := range ps {
			all = append(all, fmt.Errorf("%s: %w", names[i], p))
		}
	}
	return errors.Join(all...)
}

// Package harness measures the cost of a DOS training iteration against a random-sampling
// iteration on synthetic CIFAR-shaped data, splits the DOS iteration into its parts (scoring,
// clustering, selection, training step), and measures the data pipeline's throughput. The
// command benchmarks/perf wraps it; the PyTorch peer (benchmarks/peer/dos_peer.py) writes the
// same Result fields so the two can be compared with Compare.
//
// Every part is its own compiled executable (on the pure-Go backend, the DOS iteration and the
// selection parts run the selection on the host, as the trainer does: Config.Selection),
// compiled once per shape and reused for all iterations; each iteration creates fresh host tensors for its inputs, so the inputs are
// transferred to the device once per iteration, as in training. Each iteration reads a scalar
// output back, which waits for the device to finish.
package harness

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/train"
	"github.com/oodlab/dos/models"
	"github.com/oodlab/dos/models/backend"
	"github.com/oodlab/dos/models/optim"
	"github.com/oodlab/dos/sampling"
	"github.com/oodlab/dos/sampling/ondevice"
)

// Methods accepted by Config.Method.
const (
	MethodRandom = "random" // the random-sampling iteration only
	MethodDOS    = "dos"    // the DOS iteration (and its split, with Config.Split)
	MethodBoth   = "both"   // random and DOS
	MethodKMeans = "kmeans" // the clustering part alone (no network is compiled)
	MethodNone   = "none"   // nothing but the pipeline (with Config.Pipeline)
)

// Config selects what to measure and at which shapes.
type Config struct {
	// Network is a models registry name (models.Lookup).
	Network string
	// Method is one of MethodRandom, MethodDOS, MethodBoth, MethodKMeans, MethodMatmul,
	// MethodNone.
	Method string
	// IDBatch, Candidates and OODBatch are the ID batch, the DOS candidate block and the
	// outlier batch (= K-means clusters). Official: 64, 384, 64.
	IDBatch, Candidates, OODBatch int
	// Classes is K; the network has K+1 outputs (the absent class).
	Classes int
	// Image is the height and width of the 3-channel images.
	Image int
	// Iters timed iterations after Warmup untimed ones (the first call, which compiles, is
	// always extra and reported as FirstMS).
	Iters, Warmup int
	// Backend is a backend name for backend.New ("" = GOMLX_BACKEND or automatic).
	Backend string
	// NInit and KMeansIters configure the K-means (restarts, unrolled Lloyd iterations);
	// 0 keeps sampling.DefaultKMeansConfig's values.
	NInit, KMeansIters int
	// KeepEmpty turns off scikit-learn's empty-cluster relocation in the K-means (see
	// sampling.KMeansConfig.KeepEmpty), to measure what the relocation costs.
	KeepEmpty bool
	// FeatureDim overrides the feature size of the clustering part (0 = the network's).
	FeatureDim int
	// Split also times the parts of a DOS iteration as separate executables.
	Split bool
	// Pipeline also measures the data pipeline's throughput.
	Pipeline bool
	// PipelineBatches is the least number of ID batches (and candidate blocks) timed per pipeline
	// measurement, which also lasts at least one second (0 = 20).
	PipelineBatches int
	// LR is the learning rate fed to the train steps.
	LR float64
	// Seed seeds the weights, the synthetic data and the uniforms.
	Seed uint64
	// Programs replaces the measurement of the model parts: each part's graph is built through
	// the XLA backend's StableHLO translation (no plugin needed, nothing runs) and its operations
	// are counted (Result.Programs). ProgramsDir, if set, receives each program as <part>.mlir.
	Programs    bool
	ProgramsDir string
	// Selection is where the DOS selection runs: SelectionGraph (inside the step graph, as on
	// XLA), SelectionHost (on the host, as the trainer runs it on the pure-Go backend: see
	// train.HostStep), or "" for the trainer's choice on the backend.
	Selection string
	// MatmulShapes are the products MethodMatmul times (DefaultConfig: DenseNetIm2Col(64)).
	MatmulShapes []MatmulShape
	// Progress, if set, receives a copy of the result, marked Partial, each time a part has been
	// measured, so a caller can save what is done before a slow part (a long compilation on a
	// time-limited machine) and keep it if the process is killed.
	Progress func(*Result)
}

// Values of Config.Selection.
const (
	SelectionGraph = "graph"
	SelectionHost  = "host"
)

// DefaultConfig returns the official shapes: DenseNet-BC-100, CIFAR-100 (100 classes, 101
// outputs), ID batch 64, 384 candidates, OOD batch 64, 32x32 images, both methods with the split.
func DefaultConfig() Config {
	return Config{
		Network: "densenet-bc-100", Method: MethodBoth,
		IDBatch: 64, Candidates: 384, OODBatch: 64, Classes: 100, Image: 32,
		Iters: 20, Warmup: 3, Split: true, PipelineBatches: 20, LR: 0.1, Seed: 42,
		MatmulShapes: DenseNetIm2Col(64),
	}
}

// Validate checks the configuration; errors name the field, what was expected and what was found.
func (c Config) Validate() error {
	switch c.Method {
	case MethodRandom, MethodDOS, MethodBoth, MethodKMeans, MethodNone:
	case MethodMatmul:
		if len(c.MatmulShapes) == 0 {
			return fmt.Errorf("method: matmul needs at least one product shape")
		}
		if c.Programs {
			return fmt.Errorf("programs: not available with method matmul")
		}
	default:
		return fmt.Errorf("method: expected random, dos, both, kmeans, matmul or none, got %q", c.Method)
	}
	if _, err := models.Lookup(c.Network); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	for _, f := range []struct {
		name string
		v    int
		min  int
	}{{"id-batch", c.IDBatch, 1}, {"candidates", c.Candidates, 1}, {"ood-batch", c.OODBatch, 1},
		{"classes", c.Classes, 1}, {"image", c.Image, 1}, {"iters", c.Iters, 1}, {"warmup", c.Warmup, 0},
		{"n-init", c.NInit, 0}, {"kmeans-iters", c.KMeansIters, 0}, {"feature-dim", c.FeatureDim, 0},
		{"pipeline-batches", c.PipelineBatches, 0}} {
		if f.v < f.min {
			return fmt.Errorf("%s: expected an integer >= %d, got %d", f.name, f.min, f.v)
		}
	}
	if c.OODBatch > c.Candidates {
		return fmt.Errorf("ood-batch: expected at most candidates (%d) since it is the number of clusters, got %d", c.Candidates, c.OODBatch)
	}
	switch c.Selection {
	case "", SelectionGraph:
	case SelectionHost:
		if c.Programs {
			return fmt.Errorf("selection: host has no program to emit; --programs shows the graph selection")
		}
	default:
		return fmt.Errorf("selection: expected graph, host or empty (the trainer's choice), got %q", c.Selection)
	}
	if c.Method == MethodNone && !c.Pipeline {
		return fmt.Errorf("method: none measures nothing without pipeline")
	}
	if _, err := c.dosConfig(); err != nil {
		return err
	}
	return nil
}

func (c Config) dosConfig() (sampling.DOSConfig, error) {
	d := sampling.DefaultDOSConfig(c.Candidates, c.OODBatch)
	if c.NInit > 0 {
		d.KMeans.NInit = c.NInit
	}
	if c.KMeansIters > 0 {
		d.KMeans.Iters = c.KMeansIters
	}
	d.KMeans.KeepEmpty = c.KeepEmpty
	if err := d.Validate(); err != nil {
		return d, fmt.Errorf("DOS configuration: %w", err)
	}
	return d, nil
}

func (c Config) hasRandom() bool { return c.Method == MethodRandom || c.Method == MethodBoth }
func (c Config) hasDOS() bool    { return c.Method == MethodDOS || c.Method == MethodBoth }

// runner holds what the measurements share.
type runner struct {
	cfg     Config
	be      backends.Backend
	model   *train.Model
	dos     sampling.DOSConfig
	host    *ondevice.HostSelector // the DOS selection's host form, when it runs on the host
	rng     *rand.Rand
	featDim int
	heap    uint64
	log     io.Writer
	res     *Result
	// Host inputs, two sets used alternately.
	idX, cand, ood [2][]float32
	idY            [2][]int32
}

// Run measures what cfg asks for and returns the result; progress lines go to log (may be nil).
func Run(cfg Config, log io.Writer) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = io.Discard
	}
	arch, _ := models.Lookup(cfg.Network)
	dcfg, _ := cfg.dosConfig()
	r := &runner{cfg: cfg, dos: dcfg, log: log, rng: rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15))}
	r.featDim = arch.FeatureSize(cfg.Classes + 1)
	if cfg.FeatureDim > 0 {
		r.featDim = cfg.FeatureDim
	}
	res := &Result{
		Tool: "gomlx", Date: time.Now().Format(time.RFC3339), Network: cfg.Network,
		Iters: cfg.Iters, Warmup: cfg.Warmup, Versions: versions(),
		Shapes: Shapes{IDBatch: cfg.IDBatch, Candidates: cfg.Candidates, OODBatch: cfg.OODBatch,
			Classes: cfg.Classes, Outputs: cfg.Classes + 1, Image: cfg.Image, Channels: 3, FeatureDim: r.featDim,
			NInit: dcfg.KMeans.NInit, KMeansIters: dcfg.KMeans.Iters},
	}
	r.res = res
	if cfg.Method == MethodMatmul {
		if err := r.openBackend(cfg.Backend, log, res); err != nil {
			return nil, err
		}
		defer r.be.Finalize()
		if err := r.measureMatmul(res); err != nil {
			return nil, err
		}
	} else if cfg.Method != MethodNone {
		n, err := models.CountParams(arch, cfg.Classes+1, [3]int{cfg.Image, cfg.Image, 3})
		if err != nil {
			return nil, err
		}
		res.Params = n
		opt, err := optim.New(train.OptimizerConfig(config.PaperOptim()))
		if err != nil {
			return nil, err
		}
		dosSampler, err := sampling.NewDOSWithConfig(cfg.Seed, cfg.Candidates, r.dos)
		if err != nil {
			return nil, err
		}
		r.model = &train.Model{Arch: arch, Classes: cfg.Classes, Outputs: cfg.Classes + 1,
			Loss: train.Loss{Kind: "absent", Weight: 1}, Score: "absent", Opt: opt, InGraph: dosSampler}
		if cfg.Programs {
			res.Backend, res.Device = "stablehlo", "none: programs emitted, not compiled or run"
			if err := r.emitPrograms(res); err != nil {
				return nil, err
			}
		} else {
			if err := r.openBackend(cfg.Backend, log, res); err != nil {
				return nil, err
			}
			defer r.be.Finalize()
			if err := r.chooseSelection(res); err != nil {
				return nil, err
			}
			if err := r.makeInputs(); err != nil {
				return nil, err
			}
			if err := r.measureModels(res); err != nil {
				return nil, err
			}
		}
	}
	if cfg.Pipeline {
		r.progress()
		p, err := measurePipeline(cfg, log)
		if err != nil {
			return nil, err
		}
		if res.DOS != nil && res.DOS.MedianMS > 0 {
			p.OverDOSConsumption = p.DOSItersPerSAll / (1000 / res.DOS.MedianMS)
		}
		res.Pipeline = p
	}
	r.setMemory()
	return res, nil
}

// openBackend starts the backend the measurements run on (r.be, which the caller finalises),
// prints its notice to log and records its name and devices in res.
func (r *runner) openBackend(name string, log io.Writer, res *Result) error {
	be, info, err := backend.New(name)
	if err != nil {
		return err
	}
	if info.Notice != "" {
		fmt.Fprintln(log, info.Notice)
	}
	r.be = be
	res.Backend, res.Device = info.Name, strings.Join(info.Devices, ", ")
	if info.Config != "" {
		res.Backend += ":" + info.Config
	}
	return nil
}

// chooseSelection decides where the DOS selection runs (Config.Selection) and records it.
func (r *runner) chooseSelection(res *Result) error {
	h, ok := train.HostSelection(r.be, r.model.InGraph)
	switch r.cfg.Selection {
	case SelectionGraph:
		ok = false
	case SelectionHost:
		if !ok {
			return fmt.Errorf("selection: host: the DOS selection runs on the host on the pure-Go backend only, not on %s", r.be.Name())
		}
	}
	res.Selection = SelectionGraph
	if ok {
		r.host, res.Selection = &h, SelectionHost
	}
	return nil
}

// setMemory fills r.res.Memory with the peaks so far.
func (r *runner) setMemory() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.heap = max(r.heap, ms.HeapInuse)
	r.res.Memory = Memory{MaxRSSMB: maxRSSMB(), GoHeapPeakMB: float64(r.heap) / (1 << 20), GoSysMB: float64(ms.Sys) / (1 << 20)}
}

// progress hands a partial copy of the result to Config.Progress, if set.
func (r *runner) progress() {
	if r.cfg.Progress == nil {
		return
	}
	r.setMemory()
	cp := *r.res
	if cp.Split != nil {
		split := *cp.Split
		cp.Split = &split
	}
	cp.Partial = true
	r.cfg.Progress(&cp)
}

// makeInputs prepares two sets of augmented, normalised synthetic batches with the data pipeline.
func (r *runner) makeInputs() error {
	c := r.cfg
	id := data.Synthetic(data.SyntheticConfig{N: 2 * c.IDBatch, H: c.Image, W: c.Image, C: 3, Classes: c.Classes, Look: c.Seed, Draw: c.Seed + 1})
	pool := data.Synthetic(data.SyntheticConfig{N: 2 * max(c.Candidates, c.OODBatch), H: c.Image, W: c.Image, C: 3, Look: c.Seed + 2, Draw: c.Seed + 3})
	norm, _ := data.OfficialNormalize("cifar100")
	idL := data.TrainLoader(id, c.IDBatch, c.Seed, data.PaperAugment(), norm)
	candL := data.CandidateStream(pool, c.Candidates, 2, c.Seed, data.PaperAugment(), norm)
	oodL := data.UniformOutliers(pool, 2*c.OODBatch, c.OODBatch, c.Seed, data.PaperAugment(), norm)
	for i := range 2 {
		b, err := idL.Batch(0, i)
		if err != nil {
			return fmt.Errorf("synthetic ID batch: %w", err)
		}
		r.idX[i], r.idY[i] = b.X, b.Labels
		if b, err = candL.Batch(0, i); err != nil {
			return fmt.Errorf("synthetic candidate block: %w", err)
		}
		r.cand[i] = b.X
		if b, err = oodL.Batch(0, i); err != nil {
			return fmt.Errorf("synthetic outlier batch: %w", err)
		}
		r.ood[i] = b.X
	}
	return nil
}

func (r *runner) images(x []float32, n int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(x, n, r.cfg.Image, r.cfg.Image, 3)
}

// call is one execution: it returns the outputs to read (a scalar first) or an error.
type call func(i int) ([]*tensors.Tensor, error)

// timeIt runs fn once (compiling), Warmup more times, then Iters timed times.
// Before starting it hands what is measured so far to Config.Progress.
func (r *runner) timeIt(name string, images int, fn call) (*Timing, error) {
	r.progress()
	run := func(i int) (float64, error) {
		start := time.Now()
		outs, err := fn(i)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		v := outs[0].Value() // waits for the device
		elapsed := float64(time.Since(start).Microseconds()) / 1000
		for _, o := range outs {
			_ = o.FinalizeAll()
		}
		if f, ok := v.(float32); ok && (math.IsNaN(float64(f)) || math.IsInf(float64(f), 0)) {
			fmt.Fprintf(r.log, "warning: %s: output %v at iteration %d\n", name, f, i)
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		r.heap = max(r.heap, ms.HeapInuse)
		return elapsed, nil
	}
	first, err := run(0)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(r.log, "%s: first call %.0f ms\n", name, first)
	for i := range r.cfg.Warmup {
		if _, err := run(1 + i); err != nil {
			return nil, err
		}
	}
	times := make([]float64, r.cfg.Iters)
	for i := range times {
		if times[i], err = run(1 + r.cfg.Warmup + i); err != nil {
			return nil, err
		}
	}
	t := Summarize(first, times, images)
	fmt.Fprintf(r.log, "%s: median %.2f ms (p10 %.2f, p90 %.2f)\n", name, t.MedianMS, t.P10MS, t.P90MS)
	return &t, nil
}

// part is one executable of a measurement: its graph, the shapes of its inputs, and the host
// inputs of its i-th call.
type part struct {
	name   string
	images int // images one call processes, for the rate
	inputs []shapes.Shape
	fn     func(ctx *context.Context, in []*graph.Node) []*graph.Node
	args   func(i int) []any
	// host, if set, replaces fn and args when the selection runs on the host: it prepares the
	// part's executables in ctx and returns its call and what finalises them.
	host func(ctx *context.Context) (call, func(), error)
}

// Names of the parts, in the order they are measured.
const (
	partRandom     = "random"
	partDOS        = "dos"
	partScoring    = "scoring"
	partSelection  = "selection"
	partClustering = "clustering"
)

// partNames lists the parts cfg measures, in order.
func (c Config) partNames() []string {
	var names []string
	split := c.hasDOS() && c.Split
	if c.hasRandom() || split {
		names = append(names, partRandom)
	}
	if c.hasDOS() {
		names = append(names, partDOS)
	}
	if split {
		names = append(names, partScoring, partSelection)
	}
	if split || c.Method == MethodKMeans {
		names = append(names, partClustering)
	}
	return names
}

// part returns the executable called name (one of partNames).
func (r *runner) part(name string) part {
	c := r.cfg
	f32 := func(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }
	img := func(n int) shapes.Shape { return f32(n, c.Image, c.Image, 3) }
	lr := tensors.FromScalar(float32(c.LR))
	trainImages := c.IDBatch + c.OODBatch
	switch name {
	case partRandom:
		return part{name: "random iteration", images: trainImages,
			inputs: []shapes.Shape{img(c.IDBatch), shapes.Make(dtypes.Int32, c.IDBatch), img(c.OODBatch), f32()},
			fn: func(ctx *context.Context, in []*graph.Node) []*graph.Node {
				return r.model.StepOutliers(ctx, in[0], in[1], in[2], in[3])
			},
			args: func(i int) []any {
				return []any{r.images(r.idX[i%2], c.IDBatch), tensors.FromFlatDataAndDimensions(r.idY[i%2], c.IDBatch),
					r.images(r.ood[i%2], c.OODBatch), lr}
			}}
	case partDOS:
		return part{name: "DOS iteration", images: trainImages,
			inputs: []shapes.Shape{img(c.IDBatch), shapes.Make(dtypes.Int32, c.IDBatch), img(c.Candidates),
				f32(r.dos.UniformsSize()), f32()},
			fn: func(ctx *context.Context, in []*graph.Node) []*graph.Node {
				return r.model.StepInGraph(ctx, in[0], in[1], in[2], in[3], in[4])
			},
			args: func(i int) []any {
				return []any{r.images(r.idX[i%2], c.IDBatch), tensors.FromFlatDataAndDimensions(r.idY[i%2], c.IDBatch),
					r.images(r.cand[i%2], c.Candidates), r.uniforms(), lr}
			},
			host: r.hostPart(func(ctx *context.Context, exec func(string, any) (*context.Exec, error)) (call, error) {
				step, err := train.NewHostStep(r.model, *r.host, exec)
				if err != nil {
					return nil, err
				}
				return func(i int) ([]*tensors.Tensor, error) {
					return step.Exec(r.images(r.idX[i%2], c.IDBatch), tensors.FromFlatDataAndDimensions(r.idY[i%2], c.IDBatch),
						r.images(r.cand[i%2], c.Candidates), r.uniforms(), lr)
				}, nil
			})}
	case partScoring:
		return part{name: "scoring", images: c.Candidates, inputs: []shapes.Shape{img(c.Candidates)},
			fn: func(ctx *context.Context, in []*graph.Node) []*graph.Node {
				logits, feats := r.model.Infer(ctx, in[0])
				// One scalar depending on every output, so nothing is pruned and only 4 bytes return.
				return []*graph.Node{graph.Add(graph.ReduceAllSum(logits), graph.ReduceAllSum(feats))}
			},
			args: func(i int) []any { return []any{r.images(r.cand[i%2], c.Candidates)} }}
	case partSelection:
		logits, feats := r.hostFeatures(c.Candidates, r.featDim, c.Classes+1)
		return part{name: "selection", images: c.Candidates,
			inputs: []shapes.Shape{f32(c.Candidates, c.Classes+1), f32(c.Candidates, r.featDim), f32(r.dos.UniformsSize())},
			fn: func(_ *context.Context, in []*graph.Node) []*graph.Node {
				s := ondevice.SelectDOS(in[0], in[1], in[2], r.dos)
				return []*graph.Node{s.Inertia, s.Indices}
			},
			args: func(i int) []any {
				return []any{tensors.FromFlatDataAndDimensions(logits[i%2], c.Candidates, c.Classes+1),
					tensors.FromFlatDataAndDimensions(feats[i%2], c.Candidates, r.featDim), r.uniforms()}
			},
			// On the host: the graph of the selection's inputs (p_abs, normalised features) and
			// ondevice.HostSelectDOS, as train.HostStep runs them.
			host: r.hostPart(func(ctx *context.Context, exec func(string, any) (*context.Exec, error)) (call, error) {
				in, err := exec("selection inputs", func(_ *context.Context, l, f *graph.Node) []*graph.Node {
					p, x := ondevice.DOSHostInputs(l, f, r.dos)
					return []*graph.Node{p, x}
				})
				if err != nil {
					return nil, err
				}
				return func(i int) ([]*tensors.Tensor, error) {
					outs, err := in.Exec(tensors.FromFlatDataAndDimensions(logits[i%2], c.Candidates, c.Classes+1),
						tensors.FromFlatDataAndDimensions(feats[i%2], c.Candidates, r.featDim))
					if err != nil {
						return nil, err
					}
					p, x := tensors.MustCopyFlatData[float32](outs[0]), tensors.MustCopyFlatData[float32](outs[1])
					for _, o := range outs {
						_ = o.FinalizeAll()
					}
					s, err := ondevice.HostSelectDOS(p, x, r.featDim, r.dos.HostUniforms(r.rng), r.dos)
					if err != nil {
						return nil, err
					}
					return []*tensors.Tensor{tensors.FromScalar(s.Inertia), tensors.FromFlatDataAndDimensions(s.Indices, len(s.Indices))}, nil
				}, nil
			})}
	case partClustering:
		// ondevice.KMeans alone on [Candidates, featDim] unit vectors.
		km := r.dos.KMeans
		km.K = c.OODBatch
		_, feats := r.hostFeatures(c.Candidates, r.featDim, 1)
		return part{name: "clustering", images: c.Candidates,
			inputs: []shapes.Shape{f32(c.Candidates, r.featDim), ondevice.UniformsShape(km)},
			fn: func(_ *context.Context, in []*graph.Node) []*graph.Node {
				res := ondevice.KMeans(in[0], in[1], km)
				return []*graph.Node{res.Inertia, res.Assign}
			},
			args: func(i int) []any {
				return []any{tensors.FromFlatDataAndDimensions(feats[i%2], c.Candidates, r.featDim),
					tensors.FromFlatDataAndDimensions(km.HostUniforms(r.rng), km.NInit, km.UniformsPerRestart())}
			},
			host: r.hostPart(func(*context.Context, func(string, any) (*context.Exec, error)) (call, error) {
				return func(i int) ([]*tensors.Tensor, error) {
					res, err := ondevice.HostKMeans(feats[i%2], c.Candidates, r.featDim, km.HostUniforms(r.rng), km)
					if err != nil {
						return nil, err
					}
					return []*tensors.Tensor{tensors.FromScalar(res.Inertia), tensors.FromFlatDataAndDimensions(res.Assign, len(res.Assign))}, nil
				}, nil
			})}
	}
	panic(fmt.Sprintf("harness: unknown part %q", name))
}

// hostPart returns a part's host form when the selection runs on the host (nil otherwise): build
// gets an executable factory whose executables it finalises with the part.
func (r *runner) hostPart(build func(ctx *context.Context, exec func(name string, fn any) (*context.Exec, error)) (call, error)) func(*context.Context) (call, func(), error) {
	if r.host == nil {
		return nil
	}
	return func(ctx *context.Context) (call, func(), error) {
		var execs []*context.Exec
		done := func() {
			for _, e := range execs {
				e.Finalize()
			}
		}
		fn, err := build(ctx, func(_ string, fn any) (*context.Exec, error) {
			e, err := context.NewExecAny(r.be, ctx, fn)
			if err == nil {
				execs = append(execs, e)
			}
			return e, err
		})
		if err != nil {
			done()
			return nil, nil, err
		}
		return fn, done, nil
	}
}

// emitPrograms builds every part cfg selects through the XLA backend's StableHLO translation
// (backend.StableHLO: no PJRT plugin, nothing compiled or run), counts the operations of each
// program into res.Programs and, with Config.ProgramsDir, writes each to <dir>/<part>.mlir.
func (r *runner) emitPrograms(res *Result) error {
	res.Programs = map[string]map[string]int{}
	for _, name := range r.cfg.partNames() {
		p := r.part(name)
		prog, err := backend.StableHLO(name, func(g *graph.Graph) []*graph.Node {
			in := make([]*graph.Node, len(p.inputs))
			for i, sh := range p.inputs {
				in[i] = graph.Parameter(g, fmt.Sprintf("in%d", i), sh)
			}
			return p.fn(context.New(), in)
		})
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		counts := map[string]int{}
		total := 0
		for _, c := range backend.CountOps(prog) {
			counts[c.Op] = c.Count
			total += c.Count
		}
		counts["total"] = total
		res.Programs[name] = counts
		fmt.Fprintf(r.log, "%s: %d StableHLO operations\n", p.name, total)
		if dir := r.cfg.ProgramsDir; dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("programs-dir: %w", err)
			}
			if err := os.WriteFile(filepath.Join(dir, name+".mlir"), []byte(prog), 0o644); err != nil {
				return fmt.Errorf("programs-dir: %w", err)
			}
		}
	}
	return nil
}

func (r *runner) measureModels(res *Result) error {
	c := r.cfg
	ctx := context.New()
	ctx.SetParam(context.ParamInitialSeed, int64(c.Seed))
	for _, name := range c.partNames() {
		p := r.part(name)
		var fn call
		var done func()
		if p.host != nil {
			var err error
			if fn, done, err = p.host(ctx); err != nil {
				return err
			}
		} else {
			e, err := context.NewExecAny(r.be, ctx, p.fn)
			if err != nil {
				return err
			}
			fn, done = func(i int) ([]*tensors.Tensor, error) { return e.Exec(p.args(i)...) }, e.Finalize
		}
		t, err := r.timeIt(p.name, p.images, fn)
		done()
		if err != nil {
			return err
		}
		if name != partRandom && name != partDOS && res.Split == nil {
			res.Split = &Split{}
		}
		switch name {
		case partRandom:
			if c.hasRandom() {
				res.Random = t
			}
			if c.hasDOS() && c.Split {
				// The training part of a DOS iteration is the same executable shape: [ID ; OOD batch].
				res.Split = &Split{Training: t}
			}
		case partDOS:
			res.DOS = t
			if res.Random != nil && res.Random.MedianMS > 0 {
				res.DOSOverRandom = t.MedianMS / res.Random.MedianMS
			}
		case partScoring:
			res.Split.Scoring = t
		case partSelection:
			res.Split.Selection = t
		case partClustering:
			res.Split.Clustering = t
		}
	}
	return nil
}

// uniforms draws a fresh uniforms input of the DOS selection.
func (r *runner) uniforms() *tensors.Tensor {
	u := r.dos.HostUniforms(r.rng)
	return tensors.FromFlatDataAndDimensions(u, len(u))
}

// hostFeatures returns two sets of host logits ([n, outputs], N(0,1)) and unit feature vectors
// ([n, dim], |N(0,1)| normalised, non-negative like features after ReLU and pooling).
func (r *runner) hostFeatures(n, dim, outputs int) (logits, feats [2][]float32) {
	for s := range 2 {
		logits[s] = make([]float32, n*outputs)
		for i := range logits[s] {
			logits[s][i] = float32(r.rng.NormFloat64())
		}
		feats[s] = make([]float32, n*dim)
		for i := range n {
			row := feats[s][i*dim : (i+1)*dim]
			var ss float64
			for j := range row {
				v := math.Abs(r.rng.NormFloat64())
				row[j] = float32(v)
				ss += v * v
			}
			for j := range row {
				row[j] = float32(float64(row[j]) / math.Sqrt(ss))
			}
		}
	}
	return
}

// measurePipeline times the data pipeline: ID batches and candidate blocks of augmented,
// normalised synthetic 32x32 (cfg.Image) images, with one goroutine and with GOMAXPROCS.
func measurePipeline(cfg Config, log io.Writer) (*Pipeline, error) {
	nb := cfg.PipelineBatches
	if nb == 0 {
		nb = 20
	}
	poolN := max(4096, cfg.Candidates*2, cfg.IDBatch*2)
	pool := data.Synthetic(data.SyntheticConfig{N: poolN, H: cfg.Image, W: cfg.Image, C: 3, Classes: cfg.Classes, Look: cfg.Seed, Draw: cfg.Seed + 1})
	norm, _ := data.OfficialNormalize("cifar100")
	p := &Pipeline{PoolImages: poolN, Workers: runtime.GOMAXPROCS(0)}
	rate := func(l *data.Loader, workers int) (float64, error) {
		l.Workers = workers
		per := l.ItersPerEpoch()
		if _, err := l.Batch(0, 0); err != nil { // warm-up
			return 0, err
		}
		// At least nb batches and at least one second, so fast loaders are not timed on a few ms.
		start := time.Now()
		n := 0
		for ; n < nb || time.Since(start) < time.Second; n++ {
			if _, err := l.Batch(1+n/per, n%per); err != nil {
				return 0, err
			}
		}
		return float64(n) / time.Since(start).Seconds(), nil
	}
	var err error
	idL := data.TrainLoader(pool, cfg.IDBatch, cfg.Seed, data.PaperAugment(), norm)
	candL := data.CandidateStream(pool, cfg.Candidates, poolN/cfg.Candidates, cfg.Seed, data.PaperAugment(), norm)
	if p.IDBatchesPerS1, err = rate(idL, 1); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	if p.IDBatchesPerSAll, err = rate(idL, p.Workers); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	if p.CandidateBlocksPerS1, err = rate(candL, 1); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	if p.CandidateBlocksPerSAll, err = rate(candL, p.Workers); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	p.ImagesPerS1 = p.IDBatchesPerS1 * float64(cfg.IDBatch)
	p.ImagesPerSAll = p.IDBatchesPerSAll * float64(cfg.IDBatch)
	p.DOSItersPerSAll = 1 / (1/p.IDBatchesPerSAll + 1/p.CandidateBlocksPerSAll)
	fmt.Fprintf(log, "pipeline: %.1f ID batches/s (1), %.1f (%d); %.1f candidate blocks/s (1), %.1f\n",
		p.IDBatchesPerS1, p.IDBatchesPerSAll, p.Workers, p.CandidateBlocksPerS1, p.CandidateBlocksPerSAll)
	return p, nil
}

// versions reports the Go toolchain and the GoMLX and go-xla module versions of the binary.
func versions() map[string]string {
	v := map[string]string{"go": runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/gomlx/gomlx":
				v["gomlx"] = d.Version
			case "github.com/gomlx/go-xla":
				v["go-xla"] = d.Version
			}
		}
	}
	return v
}

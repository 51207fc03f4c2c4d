package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
)

// Timing summarises the wall-clock times of one executable over the timed iterations.
// The same JSON fields are written by the PyTorch peer (benchmarks/peer/dos_peer.py).
type Timing struct {
	// N is the number of timed iterations (after warm-up).
	N int `json:"n"`
	// MedianMS, P10MS, P90MS, MinMS and MaxMS are milliseconds per iteration.
	MedianMS float64 `json:"median_ms"`
	P10MS    float64 `json:"p10_ms"`
	P90MS    float64 `json:"p90_ms"`
	MinMS    float64 `json:"min_ms"`
	MaxMS    float64 `json:"max_ms"`
	// FirstMS is the first call (graph building, compilation and one execution).
	FirstMS float64 `json:"first_ms"`
	// CompileMS is FirstMS minus MedianMS: the one-off cost of building and compiling.
	CompileMS float64 `json:"compile_ms"`
	// ImagesPerS is the training-batch images (ID + outliers) per second at the median, for the
	// full iterations; the images the executable consumes per second for the split parts
	// (candidates for scoring, points for clustering and selection). Zero when not meaningful.
	ImagesPerS float64 `json:"images_per_s"`
}

// Summarize turns per-iteration times (milliseconds) and the first call's time into a Timing;
// images is the number of images one iteration processes (0: no rate).
func Summarize(firstMS float64, ms []float64, images int) Timing {
	t := Timing{N: len(ms), FirstMS: firstMS}
	if len(ms) == 0 {
		return t
	}
	s := append([]float64(nil), ms...)
	sort.Float64s(s)
	t.MedianMS = Quantile(s, 0.5)
	t.P10MS = Quantile(s, 0.1)
	t.P90MS = Quantile(s, 0.9)
	t.MinMS, t.MaxMS = s[0], s[len(s)-1]
	t.CompileMS = math.Max(0, firstMS-t.MedianMS)
	if images > 0 && t.MedianMS > 0 {
		t.ImagesPerS = float64(images) / (t.MedianMS / 1000)
	}
	return t
}

// Quantile returns the q-quantile (0 <= q <= 1) of sorted values by linear interpolation between
// closest ranks (NumPy's default method); NaN for no values.
func Quantile(sorted []float64, q float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	pos := q * float64(n-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	frac := pos - float64(lo)
	return sorted[lo] + (sorted[hi]-sorted[lo])*frac
}

// Shapes are the problem sizes of a measurement.
type Shapes struct {
	IDBatch     int `json:"id_batch"`
	Candidates  int `json:"candidates"`
	OODBatch    int `json:"ood_batch"`
	Classes     int `json:"classes"`
	Outputs     int `json:"outputs"`
	Image       int `json:"image"`
	Channels    int `json:"channels"`
	FeatureDim  int `json:"feature_dim"`
	NInit       int `json:"n_init"`
	KMeansIters int `json:"kmeans_iters"`
}

// Split is the decomposition of a DOS iteration into separately compiled and timed parts.
type Split struct {
	// Scoring: an inference-only pass over the candidate block.
	Scoring *Timing `json:"scoring,omitempty"`
	// Clustering: K-means alone on [candidates, feature_dim] unit vectors.
	Clustering *Timing `json:"clustering,omitempty"`
	// Selection: the whole DOS selection given logits and features (includes the clustering).
	Selection *Timing `json:"selection,omitempty"`
	// Training: one train step on [ID ; picks], the same executable shape as random sampling.
	Training *Timing `json:"training,omitempty"`
}

// Pipeline holds the data pipeline's throughput on augmented, normalised batches.
type Pipeline struct {
	// PoolImages is the size of the synthetic pool the loaders read.
	PoolImages int `json:"pool_images"`
	// Workers is the goroutine count of the "all cores" measurement (GOMAXPROCS).
	Workers int `json:"workers"`
	// IDBatchesPerS1 and IDBatchesPerSAll: ID training batches (id_batch images) per second, one
	// goroutine and all cores.
	IDBatchesPerS1   float64 `json:"id_batches_per_s_1"`
	IDBatchesPerSAll float64 `json:"id_batches_per_s_all"`
	// CandidateBlocksPerS1 and CandidateBlocksPerSAll: DOS candidate blocks (candidates images).
	CandidateBlocksPerS1   float64 `json:"candidate_blocks_per_s_1"`
	CandidateBlocksPerSAll float64 `json:"candidate_blocks_per_s_all"`
	// ImagesPerS1 and ImagesPerSAll: augmented images per second (ID loader).
	ImagesPerS1   float64 `json:"images_per_s_1"`
	ImagesPerSAll float64 `json:"images_per_s_all"`
	// DOSItersPerSAll is how many DOS iterations per second (one ID batch plus one candidate
	// block each) the pipeline feeds on all cores.
	DOSItersPerSAll float64 `json:"dos_iters_per_s_all"`
	// OverDOSConsumption is DOSItersPerSAll divided by the DOS step's iterations per second, when
	// DOS was timed in the same run (target on a GPU: >= 10).
	OverDOSConsumption float64 `json:"over_dos_consumption,omitempty"`
}

// Memory is the process's peak memory.
type Memory struct {
	// MaxRSSMB is getrusage's maximum resident set size, MiB.
	MaxRSSMB float64 `json:"max_rss_mb"`
	// GoHeapPeakMB is the largest Go heap in use sampled between iterations, MiB (0 for the peer).
	GoHeapPeakMB float64 `json:"go_heap_peak_mb"`
	// GoSysMB is the memory the Go runtime obtained from the OS at the end, MiB (0 for the peer).
	GoSysMB float64 `json:"go_sys_mb"`
}

// Result is one measurement; Table prints it and its JSON form is one line.
type Result struct {
	// Tool is "gomlx" for this harness, "pytorch" for the peer.
	Tool string `json:"tool"`
	// Date is the measurement time, RFC 3339.
	Date string `json:"date"`
	// Backend and Device describe where the graphs ran.
	Backend string `json:"backend"`
	Device  string `json:"device"`
	// Network is the architecture name; Params its parameter count with Shapes.Outputs outputs.
	Network string `json:"network"`
	Params  int    `json:"params"`
	Shapes  Shapes `json:"shapes"`
	// Iters and Warmup are the timed and untimed iterations per executable.
	Iters  int `json:"iters"`
	Warmup int `json:"warmup"`
	// Random is the random-sampling iteration (train step on [ID ; outliers]).
	Random *Timing `json:"random,omitempty"`
	// DOS is the full DOS iteration (score, select, train), one executable.
	DOS *Timing `json:"dos,omitempty"`
	// Selection is where the DOS selection ran: "graph" (inside the step graph) or "host" (on the
	// host, as the trainer runs it on the pure-Go backend); empty for the peer.
	Selection string `json:"selection,omitempty"`
	// DOSOverRandom is DOS.MedianMS / Random.MedianMS.
	DOSOverRandom float64 `json:"dos_over_random,omitempty"`
	// Split decomposes the DOS iteration.
	Split *Split `json:"split,omitempty"`
	// Matmul holds the products of MethodMatmul, in the order measured.
	Matmul   []MatmulTiming `json:"matmul,omitempty"`
	Pipeline *Pipeline      `json:"pipeline,omitempty"`
	Memory   Memory         `json:"memory"`
	// Versions of the toolchain and libraries.
	Versions map[string]string `json:"versions"`
	// Programs holds, with Config.Programs, the StableHLO operation counts of each part's program
	// ("total" and one entry per operation), keyed by part: random, dos, scoring, selection,
	// clustering.
	Programs map[string]map[string]int `json:"programs,omitempty"`
	// Partial marks a result saved while the measurement was still running (Config.Progress):
	// the parts it holds are complete, later parts are missing.
	Partial bool `json:"partial,omitempty"`
}

// JSON returns the result as one line of JSON.
func (r *Result) JSON() ([]byte, error) {
	return json.Marshal(r)
}

// ReadResult reads a result written by this harness (--json) or by the peer (--json).
// The file may hold other lines (logs): the last line that parses as a result is used.
func ReadResult(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r Result
		if err := json.Unmarshal([]byte(line), &r); err == nil && r.Tool != "" {
			return &r, nil
		}
	}
	return nil, fmt.Errorf("%s: expected a JSON result line with a \"tool\" field, found none", path)
}

func fmtTiming(t *Timing) []string {
	if t == nil {
		return nil
	}
	rate := "-"
	if t.ImagesPerS > 0 {
		rate = fmt.Sprintf("%.1f", t.ImagesPerS)
	}
	return []string{
		fmt.Sprintf("%.2f", t.MedianMS),
		fmt.Sprintf("%.2f", t.P10MS),
		fmt.Sprintf("%.2f", t.P90MS),
		rate,
		fmt.Sprintf("%.0f", t.CompileMS),
		fmt.Sprint(t.N),
	}
}

// Table prints the result as an aligned text table.
func (r *Result) Table(w io.Writer) {
	if r.Programs != nil {
		r.programsTable(w)
		return
	}
	if len(r.Matmul) > 0 {
		r.matmulTable(w)
		return
	}
	if r.Random == nil && r.DOS == nil && r.Split == nil {
		fmt.Fprintf(w, "%s: pipeline only, %dx%dx3 images\n", r.Tool, r.Shapes.Image, r.Shapes.Image)
		r.tail(w)
		return
	}
	fmt.Fprintf(w, "%s on %s (%s), %s, %d params\n", r.Tool, r.Backend, r.Device, r.Network, r.Params)
	if r.Partial {
		fmt.Fprintln(w, "partial: the measurement stopped before its last part")
	}
	s := r.Shapes
	fmt.Fprintf(w, "shapes: id %d, candidates %d, ood %d, %d outputs, %dx%dx%d, features %d, k-means n_init %d iters %d; %d timed after %d warm-up\n",
		s.IDBatch, s.Candidates, s.OODBatch, s.Outputs, s.Image, s.Image, s.Channels, s.FeatureDim, s.NInit, s.KMeansIters, r.Iters, r.Warmup)
	if r.Selection != "" {
		fmt.Fprintf(w, "DOS selection: %s\n", r.Selection)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "part\tmedian ms\tp10 ms\tp90 ms\timages/s\tcompile ms\tn\t")
	row := func(name string, t *Timing) {
		if t != nil {
			fmt.Fprintln(tw, name+"\t"+strings.Join(fmtTiming(t), "\t")+"\t")
		}
	}
	row("random iteration", r.Random)
	row("DOS iteration", r.DOS)
	if r.Split != nil {
		row("  scoring", r.Split.Scoring)
		row("  clustering", r.Split.Clustering)
		row("  selection (incl. clustering)", r.Split.Selection)
		row("  training step", r.Split.Training)
	}
	tw.Flush()
	if r.DOSOverRandom > 0 {
		fmt.Fprintf(w, "DOS / random: %.2fx\n", r.DOSOverRandom)
	}
	r.tail(w)
}

// matmulTable prints the products of MethodMatmul.
func (r *Result) matmulTable(w io.Writer) {
	fmt.Fprintf(w, "%s on %s (%s): matrix products, %d timed after %d warm-up\n", r.Tool, r.Backend, r.Device, r.Iters, r.Warmup)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "product\tM x K x N\tmedian ms\tp10 ms\tp90 ms\tGFLOP/s\t")
	for _, m := range r.Matmul {
		s, t := m.Shape, m.Timing
		fmt.Fprintf(tw, "%s\t%dx%dx%d\t%.2f\t%.2f\t%.2f\t%.1f\t\n", s.Name, s.M, s.K, s.N, t.MedianMS, t.P10MS, t.P90MS, m.GFLOPs)
	}
	tw.Flush()
	r.tail(w)
}

// programsTable prints the StableHLO operation counts of Config.Programs.
func (r *Result) programsTable(w io.Writer) {
	fmt.Fprintf(w, "%s StableHLO programs (XLA backend's translation, not compiled), %s, %d params\n", r.Tool, r.Network, r.Params)
	s := r.Shapes
	fmt.Fprintf(w, "shapes: id %d, candidates %d, ood %d, %d outputs, %dx%dx%d, features %d, k-means n_init %d iters %d\n",
		s.IDBatch, s.Candidates, s.OODBatch, s.Outputs, s.Image, s.Image, s.Channels, s.FeatureDim, s.NInit, s.KMeansIters)
	cols := []string{"total", "convolution", "dot_general", "reduce", "gather", "scatter"}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "part\t"+strings.Join(cols, "\t")+"\t")
	for _, name := range []string{"random", "dos", "scoring", "selection", "clustering"} {
		c, ok := r.Programs[name]
		if !ok {
			continue
		}
		fmt.Fprint(tw, name)
		for _, col := range cols {
			fmt.Fprintf(tw, "\t%d", c[col])
		}
		fmt.Fprintln(tw, "\t")
	}
	tw.Flush()
	r.tail(w)
}

// tail prints the pipeline and memory lines of Table.
func (r *Result) tail(w io.Writer) {
	if p := r.Pipeline; p != nil {
		fmt.Fprintf(w, "pipeline (pool %d): ID batches/s %.1f (1 goroutine), %.1f (%d); candidate blocks/s %.1f, %.1f; images/s %.0f, %.0f; DOS iterations fed/s %.1f",
			p.PoolImages, p.IDBatchesPerS1, p.IDBatchesPerSAll, p.Workers, p.CandidateBlocksPerS1, p.CandidateBlocksPerSAll, p.ImagesPerS1, p.ImagesPerSAll, p.DOSItersPerSAll)
		if p.OverDOSConsumption > 0 {
			fmt.Fprintf(w, " (%.1fx the DOS step's consumption)", p.OverDOSConsumption)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "memory: max RSS %.0f MiB", r.Memory.MaxRSSMB)
	if r.Memory.GoHeapPeakMB > 0 {
		fmt.Fprintf(w, ", Go heap peak %.0f MiB, Go sys %.0f MiB", r.Memory.GoHeapPeakMB, r.Memory.GoSysMB)
	}
	fmt.Fprintln(w)
}

// Compare prints the peer's median times divided by ours, part by part (values above 1 mean
// this implementation is faster). It reports shape mismatches instead of a ratio.
func Compare(w io.Writer, ours, peer *Result) {
	// The K-means iteration counts differ by design: this harness unrolls a fixed number of Lloyd
	// iterations, scikit-learn stops at convergence or max_iter.
	a, b := ours.Shapes, peer.Shapes
	a.KMeansIters, b.KMeansIters = 0, 0
	if a != b || ours.Network != peer.Network {
		fmt.Fprintf(w, "warning: shapes differ: %s %+v vs %s %+v\n", ours.Network, ours.Shapes, peer.Network, peer.Shapes)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "part\t%s ms\t%s ms\t%s / %s\t\n", ours.Tool, peer.Tool, peer.Tool, ours.Tool)
	row := func(name string, a, b *Timing) {
		if a == nil || b == nil || a.MedianMS <= 0 {
			return
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2fx\t\n", name, a.MedianMS, b.MedianMS, b.MedianMS/a.MedianMS)
	}
	row("random iteration", ours.Random, peer.Random)
	row("DOS iteration", ours.DOS, peer.DOS)
	if ours.Split != nil && peer.Split != nil {
		row("  scoring", ours.Split.Scoring, peer.Split.Scoring)
		row("  clustering", ours.Split.Clustering, peer.Split.Clustering)
		row("  selection", ours.Split.Selection, peer.Split.Selection)
		row("  training step", ours.Split.Training, peer.Split.Training)
	}
	for _, m := range ours.Matmul {
		for _, pm := range peer.Matmul {
			if pm.Shape == m.Shape {
				row(fmt.Sprintf("matmul %s %dx%dx%d", m.Shape.Name, m.Shape.M, m.Shape.K, m.Shape.N), &m.Timing, &pm.Timing)
			}
		}
	}
	tw.Flush()
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/oodlab/dos/benchmarks/perf/harness"
	"github.com/oodlab/dos/internal/cli"
	"github.com/oodlab/dos/internal/gemm"
)

// The CPU suite (--suite cpu) sets this project's pure-Go backend against PyTorch on the CPU,
// workload by workload, each measured by this harness and then at once by the PyTorch peer
// with the same shapes and the same number of threads, so that both see the same machine load:
//
//   - the training step of WRN-10-1 (the random-sampling iteration at benchmarks/README.md
//     section 1's shapes: 32x32, ID and OOD batches of 8, 101 outputs);
//   - the training step of the quick grid's MLP (ID and OOD batches of 64, 6 outputs, 28x28
//     images with 3 channels);
//   - the matrix products of DenseNet-BC-100's im2col convolutions (harness.DenseNetIm2Col).
//
// with one thread (GOMAXPROCS=1 for Go, torch.set_num_threads(1)) and with every core. The
// ratio is PyTorch's median time over ours: the pure-Go backend's speed as a fraction of
// PyTorch's, higher is better (issue 17's target: at least 0.33).

// suiteRow is one line of the comparison.
type suiteRow struct {
	Part    string  `json:"part"`
	Threads int     `json:"threads"`
	GoMS    float64 `json:"go_ms"`
	TorchMS float64 `json:"torch_ms"`
	// Ratio is TorchMS / GoMS: the pure-Go backend over PyTorch, higher is better.
	Ratio float64 `json:"ratio"`
	// GoGFLOPs and TorchGFLOPs: for the matrix products.
	GoGFLOPs    float64 `json:"go_gflop_per_s,omitempty"`
	TorchGFLOPs float64 `json:"torch_gflop_per_s,omitempty"`
}

// suiteResult is the JSON line of the suite.
type suiteResult struct {
	Tool string `json:"tool"`
	Date string `json:"date"`
	// LoadBefore and LoadAfter are the 1-minute load averages (/proc/loadavg) around the run.
	LoadBefore float64    `json:"load_before"`
	LoadAfter  float64    `json:"load_after"`
	CPUs       int        `json:"cpus"`
	Kernels    []string   `json:"kernels"`
	Rows       []suiteRow `json:"rows"`
	// Go and Peer are the full results, in the order measured.
	Go   []*harness.Result `json:"go"`
	Peer []*harness.Result `json:"peer"`
}

type suiteOptions struct {
	threads      []int
	python       string
	script       string
	iters        int
	warmup       int
	matmulShapes []harness.MatmulShape
	// workloads limits the suite to some of "wrn", "mlp", "matmul" (empty: all).
	workloads []string
}

// parseThreads reads "1,all" or "1,2" into thread counts ("all" = runtime.NumCPU()).
func parseThreads(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f == "all" {
			out = append(out, runtime.NumCPU())
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--suite-threads: expected positive integers or \"all\", separated by commas, got %q", s)
		}
		out = append(out, n)
	}
	return out, nil
}

type workload struct {
	key  string
	part string // row label
	cfg  harness.Config
}

func suiteWorkloads(o suiteOptions) []workload {
	d := harness.DefaultConfig()
	d.Backend, d.Iters, d.Warmup, d.Split = "go", o.iters, o.warmup, false
	wrn := d
	wrn.Network, wrn.Method, wrn.Image, wrn.IDBatch, wrn.Candidates, wrn.OODBatch, wrn.Classes = "wrn-10-1", harness.MethodRandom, 32, 8, 48, 8, 100
	mlp := d
	mlp.Network, mlp.Method, mlp.Image, mlp.IDBatch, mlp.Candidates, mlp.OODBatch, mlp.Classes = "mlp", harness.MethodRandom, 28, 64, 128, 64, 5
	mm := d
	mm.Method, mm.MatmulShapes = harness.MethodMatmul, o.matmulShapes
	all := []workload{
		{"wrn", "WRN-10-1 training step", wrn},
		{"mlp", "MLP training step (quick grid)", mlp},
		{"matmul", "", mm},
	}
	if len(o.workloads) == 0 {
		return all
	}
	var out []workload
	for _, w := range all {
		for _, k := range o.workloads {
			if w.key == k {
				out = append(out, w)
			}
		}
	}
	return out
}

// peerArgs are the peer's flags for cfg.
func peerArgs(cfg harness.Config, threads int, jsonPath string) []string {
	args := []string{"--network", cfg.Network, "--method", cfg.Method,
		"--id-batch", strconv.Itoa(cfg.IDBatch), "--candidates", strconv.Itoa(cfg.Candidates),
		"--ood-batch", strconv.Itoa(cfg.OODBatch), "--classes", strconv.Itoa(cfg.Classes),
		"--image", strconv.Itoa(cfg.Image), "--iters", strconv.Itoa(cfg.Iters), "--warmup", strconv.Itoa(cfg.Warmup),
		"--no-split", "--threads", strconv.Itoa(threads), "--json", jsonPath}
	if cfg.Method == harness.MethodMatmul {
		args = append(args, "--matmul-shapes", harness.FormatMatmulShapes(cfg.MatmulShapes))
	}
	return args
}

func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// runSuite measures every workload with each thread count, ours then the peer's, and prints the
// ratio table and the JSON line.
func runSuite(ctx context.Context, o suiteOptions, stdout, stderr io.Writer, jsonPath string) error {
	if _, err := os.Stat(o.script); err != nil {
		return cli.Usagef("--peer-script: %v (run from the repository root, or name the script)", err)
	}
	tmp, err := os.MkdirTemp("", "perf-suite-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	res := &suiteResult{Tool: "perf-suite", Date: time.Now().Format(time.RFC3339), LoadBefore: loadAverage(), CPUs: runtime.NumCPU()}
	procs := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(procs)
	for _, threads := range o.threads {
		for wi, w := range suiteWorkloads(o) {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("suite stopped: %w", err)
			}
			fmt.Fprintf(stderr, "suite: %s, %d thread(s): pure-Go backend\n", w.key, threads)
			runtime.GOMAXPROCS(threads)
			ours, err := measure(ctx, w.cfg, stderr, "")
			runtime.GOMAXPROCS(procs)
			if err != nil {
				return fmt.Errorf("%s, %d threads: %w", w.key, threads, err)
			}
			fmt.Fprintf(stderr, "suite: %s, %d thread(s): PyTorch\n", w.key, threads)
			pj := filepath.Join(tmp, fmt.Sprintf("peer-%d-%d.json", threads, wi))
			cmd := exec.CommandContext(ctx, o.python, append([]string{o.script}, peerArgs(w.cfg, threads, pj)...)...)
			cmd.Stdout, cmd.Stderr = io.Discard, stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s, %d threads: the PyTorch peer (%s %s) failed: %w", w.key, threads, o.python, o.script, err)
			}
			peer, err := harness.ReadResult(pj)
			if err != nil {
				return fmt.Errorf("%s, %d threads: %w", w.key, threads, err)
			}
			res.Go, res.Peer = append(res.Go, ours), append(res.Peer, peer)
			res.Rows = append(res.Rows, suiteRows(w, threads, ours, peer)...)
		}
	}
	res.LoadAfter = loadAverage()
	res.Kernels = gemm.KernelNames()
	printSuite(stdout, res)
	line, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, string(line))
	if jsonPath != "" {
		return writeJSON(jsonPath, line)
	}
	return nil
}

func suiteRows(w workload, threads int, ours, peer *harness.Result) []suiteRow {
	row := func(part string, a, b *harness.Timing) suiteRow {
		r := suiteRow{Part: part, Threads: threads, GoMS: a.MedianMS, TorchMS: b.MedianMS}
		if a.MedianMS > 0 {
			r.Ratio = b.MedianMS / a.MedianMS
		}
		return r
	}
	if w.cfg.Method != harness.MethodMatmul {
		if ours.Random == nil || peer.Random == nil {
			return nil
		}
		return []suiteRow{row(w.part, ours.Random, peer.Random)}
	}
	var rows []suiteRow
	for _, m := range ours.Matmul {
		for _, pm := range peer.Matmul {
			if pm.Shape == m.Shape {
				r := row(fmt.Sprintf("DenseNet %s (%dx%dx%d)", m.Shape.Name, m.Shape.M, m.Shape.K, m.Shape.N), &m.Timing, &pm.Timing)
				r.GoGFLOPs, r.TorchGFLOPs = m.GFLOPs, pm.GFLOPs
				rows = append(rows, r)
			}
		}
	}
	return rows
}

func printSuite(w io.Writer, r *suiteResult) {
	fmt.Fprintf(w, "pure-Go backend against PyTorch on the CPU (%d CPUs, load average %.2f before, %.2f after; kernels %s)\n",
		r.CPUs, r.LoadBefore, r.LoadAfter, strings.Join(r.Kernels, ", "))
	fmt.Fprintln(w, "ratio = PyTorch ms / pure-Go ms: the pure-Go backend's speed as a fraction of PyTorch's, higher is better")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "part\tthreads\tpure-Go ms\tPyTorch ms\tratio\tpure-Go GFLOP/s\tPyTorch GFLOP/s\t")
	for _, row := range r.Rows {
		g, t := "-", "-"
		if row.GoGFLOPs > 0 {
			g, t = fmt.Sprintf("%.1f", row.GoGFLOPs), fmt.Sprintf("%.1f", row.TorchGFLOPs)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t%s\t%s\t\n", row.Part, row.Threads, row.GoMS, row.TorchMS, row.Ratio, g, t)
	}
	tw.Flush()
}

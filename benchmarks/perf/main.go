// Command perf measures a DOS training iteration against a random-sampling iteration on
// synthetic CIFAR-shaped data, the parts of the DOS iteration, and the data pipeline; it prints a
// table and one line of JSON (see benchmarks/README.md).
//
//	go run ./benchmarks/perf --network densenet-bc-100 --method both --iters 20
//	go run ./benchmarks/perf --backend go --network small-cnn --id-batch 16 --candidates 96 --ood-batch 16 --iters 3
//	go run ./benchmarks/perf --method kmeans --candidates 384 --ood-batch 64 --feature-dim 342
//	go run ./benchmarks/perf --method none --pipeline
//	go run ./benchmarks/perf --programs --programs-dir /tmp/hlo   # StableHLO op counts, nothing runs
//	go run ./benchmarks/perf ... --compare peer.json   # ratio against benchmarks/peer/dos_peer.py
//	go run ./benchmarks/perf --load ours.json --compare peer.json
//	go run ./benchmarks/perf --backend go --method matmul          # DenseNet-BC-100's im2col products
//	go run ./benchmarks/perf --suite cpu --json suite.json         # pure-Go backend against PyTorch on the CPU
//
// A bad command line (a flag error, an extra argument, a configuration the harness rejects) exits
// with status 2, a failed measurement or an unreadable --load or --compare file with 1. The first
// SIGINT or SIGTERM (timeout(1)'s) stops the measurement at once with status 130; --json then
// holds the parts measured so far.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/oodlab/dos/benchmarks/perf/harness"
	"github.com/oodlab/dos/internal/atomicfile"
	"github.com/oodlab/dos/internal/cli"
	"github.com/oodlab/dos/models/backend"
)

func main() { cli.Main("perf", run) }

// run parses args, measures, and prints the table and the JSON line to stdout; progress goes to
// stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	d := harness.DefaultConfig()
	fs := flag.NewFlagSet("perf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := d
	fs.StringVar(&cfg.Network, "network", d.Network, "network (models registry name)")
	fs.StringVar(&cfg.Method, "method", d.Method, "random, dos, both, kmeans (clustering alone), matmul (matrix products alone) or none (pipeline only)")
	fs.IntVar(&cfg.IDBatch, "id-batch", d.IDBatch, "ID batch size")
	fs.IntVar(&cfg.Candidates, "candidates", d.Candidates, "DOS candidates scored per iteration")
	fs.IntVar(&cfg.OODBatch, "ood-batch", d.OODBatch, "outlier batch size (= K-means clusters)")
	fs.IntVar(&cfg.Classes, "classes", d.Classes, "ID classes K (the network has K+1 outputs)")
	fs.IntVar(&cfg.Image, "image", d.Image, "image height and width (3 channels)")
	fs.IntVar(&cfg.Iters, "iters", d.Iters, "timed iterations per executable")
	fs.IntVar(&cfg.Warmup, "warmup", d.Warmup, "untimed iterations after the first (compiling) call")
	fs.IntVar(&cfg.NInit, "n-init", d.NInit, "K-means restarts (0 = default 5)")
	fs.IntVar(&cfg.KMeansIters, "kmeans-iters", d.KMeansIters, "K-means Lloyd iterations unrolled in the graph (0 = default)")
	fs.BoolVar(&cfg.KeepEmpty, "kmeans-keep-empty", d.KeepEmpty, "K-means without scikit-learn's empty-cluster relocation (what it costs)")
	fs.IntVar(&cfg.FeatureDim, "feature-dim", d.FeatureDim, "feature size for the clustering part (0 = the network's)")
	fs.BoolVar(&cfg.Split, "split", d.Split, "also time the parts of a DOS iteration (scoring, clustering, selection, training)")
	fs.BoolVar(&cfg.Pipeline, "pipeline", d.Pipeline, "also measure the data pipeline (augmented batches per second, 1 goroutine and all cores)")
	fs.IntVar(&cfg.PipelineBatches, "pipeline-batches", d.PipelineBatches, "batches timed per pipeline measurement")
	fs.Float64Var(&cfg.LR, "lr", d.LR, "learning rate fed to the train steps")
	fs.Uint64Var(&cfg.Seed, "seed", d.Seed, "seed of weights, data and uniforms")
	fs.BoolVar(&cfg.Programs, "programs", false, "emit each part's StableHLO program (XLA backend's translation, no plugin) and count its operations instead of timing it")
	fs.StringVar(&cfg.ProgramsDir, "programs-dir", "", "with --programs, also write each program to DIR/<part>.mlir")
	fs.StringVar(&cfg.Selection, "selection", "", "where the DOS selection runs: graph (in the step graph), host (pure-Go backend only) or empty for the trainer's choice (host on the pure-Go backend)")
	matmulShapes := fs.String("matmul-shapes", "", `products for --method matmul, "name:M:K:N,..." (default: DenseNet-BC-100's im2col convolutions at --matmul-batch)`)
	matmulBatch := fs.Int("matmul-batch", 64, "batch of DenseNet-BC-100's im2col products (--method matmul, --suite)")
	suite := fs.String("suite", "", "cpu: the pure-Go backend against the PyTorch peer on the CPU, workload by workload, one thread and all cores (benchmarks/README.md)")
	suiteThreads := fs.String("suite-threads", "1,all", "thread counts of --suite, comma-separated (all = every CPU)")
	suiteWorkloads := fs.String("suite-workloads", "", "limit --suite to some of wrn,mlp,matmul (default: all)")
	peerPython := fs.String("peer-python", "/usr/bin/python3", "Python with torch for --suite's peer")
	peerScript := fs.String("peer-script", "benchmarks/peer/dos_peer.py", "the PyTorch peer for --suite")
	be := backend.Flag(fs)
	jsonPath := fs.String("json", "", "also write the JSON line to this file")
	compare := fs.String("compare", "", "a JSON result of the PyTorch peer (or of this harness) to compare with")
	load := fs.String("load", "", "print this stored JSON result (and --compare) instead of measuring")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return cli.Usagef("unexpected arguments %q", fs.Args())
	}
	cfg.Backend = *be
	if *matmulBatch < 1 {
		return cli.Usagef("--matmul-batch: expected an integer >= 1, got %d", *matmulBatch)
	}
	cfg.MatmulShapes = harness.DenseNetIm2Col(*matmulBatch)
	if *matmulShapes != "" {
		shapes, err := harness.ParseMatmulShapes(*matmulShapes)
		if err != nil {
			return cli.Usagef("--matmul-shapes: %v", err)
		}
		cfg.MatmulShapes = shapes
	}
	if *suite != "" {
		if *suite != "cpu" {
			return cli.Usagef("--suite: expected cpu, got %q", *suite)
		}
		threads, err := parseThreads(*suiteThreads)
		if err != nil {
			return cli.Usage(err)
		}
		var workloads []string
		if *suiteWorkloads != "" {
			workloads = strings.Split(*suiteWorkloads, ",")
			for _, w := range workloads {
				if w != "wrn" && w != "mlp" && w != "matmul" {
					return cli.Usagef("--suite-workloads: expected wrn, mlp or matmul, got %q", w)
				}
			}
		}
		if cfg.Iters < 1 || cfg.Warmup < 0 {
			return cli.Usagef("--iters and --warmup: expected >= 1 and >= 0, got %d and %d", cfg.Iters, cfg.Warmup)
		}
		return runSuite(ctx, suiteOptions{threads: threads, python: *peerPython, script: *peerScript, iters: cfg.Iters,
			warmup: cfg.Warmup, matmulShapes: cfg.MatmulShapes, workloads: workloads}, stdout, stderr, *jsonPath)
	}
	if *load == "" {
		if err := cfg.Validate(); err != nil {
			return cli.Usage(err)
		}
	}
	if *jsonPath != "" {
		// Keep what is measured if the process is killed during a later part (a slow compile on
		// a time-limited GPU machine): the file holds the partial result until the final one.
		cfg.Progress = func(r *harness.Result) {
			if line, err := r.JSON(); err == nil {
				if err := writeJSON(*jsonPath, line); err != nil {
					fmt.Fprintln(stderr, "perf:", err)
				}
			}
		}
	}
	var peer *harness.Result
	if *compare != "" {
		var err error
		if peer, err = harness.ReadResult(*compare); err != nil {
			return fmt.Errorf("--compare: %w", err)
		}
	}
	var res *harness.Result
	var err error
	if *load != "" {
		if res, err = harness.ReadResult(*load); err != nil {
			return fmt.Errorf("--load: %w", err)
		}
	} else if res, err = measure(ctx, cfg, stderr, *jsonPath); err != nil {
		return err
	}
	line, err := res.JSON()
	if err != nil {
		return err
	}
	res.Table(stdout)
	if peer != nil {
		harness.Compare(stdout, res, peer)
	}
	fmt.Fprintln(stdout, string(line))
	if *jsonPath != "" {
		return writeJSON(*jsonPath, line)
	}
	return nil
}

// measure runs harness.Run, which has no way to stop midway, in a goroutine: a cancelled ctx
// returns at once, with an error wrapping ctx's, and the process exits with the harness
// unfinished (jsonPath, "" for none, is only ever replaced whole, and holds the parts measured).
func measure(ctx context.Context, cfg harness.Config, log io.Writer, jsonPath string) (*harness.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("not measured: %w", err)
	}
	type result struct {
		res *harness.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := harness.Run(cfg, log)
		done <- result{res, err}
	}()
	select {
	case r := <-done:
		return r.res, r.err
	case <-ctx.Done():
		if jsonPath != "" {
			return nil, fmt.Errorf("measurement stopped (the parts measured so far are in %s): %w", jsonPath, ctx.Err())
		}
		return nil, fmt.Errorf("measurement stopped: %w", ctx.Err())
	}
}

// writeJSON writes the JSON line to --json's file.
func writeJSON(path string, line []byte) error {
	if err := atomicfile.Write(path, append(line, '\n')); err != nil {
		return fmt.Errorf("--json: %w", err)
	}
	return nil
}

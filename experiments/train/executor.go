package train

import (
	stdctx "context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"

	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/models/backend"
)

// Executor trains and evaluates the runs of a grid: it implements store.Executor.
type Executor struct {
	// DataDir is where the data sets are (--data).
	DataDir string
	// Backend is the --backend value; empty defers to each run's backend field, then to
	// GOMLX_BACKEND and the automatic choice.
	Backend string
	// Progress receives the live progress bar (nil: none).
	Progress io.Writer
	// CheckpointEvery writes a mid-epoch checkpoint every so many iterations (0: 500).
	CheckpointEvery int

	mu       sync.Mutex
	backends map[string]backendEntry
}

type backendEntry struct {
	b    backends.Backend
	info backend.Info
}

// New returns the executor of the experiments command.
func New(dataDir, backendName string, progress io.Writer) *Executor {
	return &Executor{DataDir: dataDir, Backend: backendName, Progress: progress}
}

// backendFor returns (and caches) the backend a run executes on.
func (e *Executor) backendFor(run *config.Run) (backendEntry, error) {
	name := e.Backend
	if name == "" {
		name = run.Backend
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if be, ok := e.backends[name]; ok {
		return be, nil
	}
	b, info, err := backend.New(name)
	if err != nil {
		return backendEntry{}, err
	}
	if e.backends == nil {
		e.backends = map[string]backendEntry{}
	}
	e.backends[name] = backendEntry{b, info}
	return e.backends[name], nil
}

// Execute trains run (resuming from its checkpoint), evaluates it and writes results.json.
func (e *Executor) Execute(ctx stdctx.Context, run *config.Run, dir *store.RunDir, log io.Writer) error {
	be, err := e.backendFor(run)
	if err != nil {
		return err
	}
	if be.info.Notice != "" {
		fmt.Fprintln(log, be.info.Notice)
	}
	fmt.Fprintf(log, "%s (%s)\n", be.info.String(), be.b.Description())
	for _, name := range dataNames(run) {
		if elsewhere, used, _ := data.Fallback(name, e.DataDir); used {
			fmt.Fprintf(log, "%s: not in the data directory %s: using the copy in %s\n", name, e.DataDir, elsewhere)
		}
	}
	job, err := LoadJob(run, e.DataDir)
	if err != nil {
		return err
	}
	defer closeJob(job)
	every := e.CheckpointEvery
	if every == 0 {
		every = 500
	}
	knnK := run.KNNK // 0: Sun et al.'s k for the benchmark
	if knnK == 0 {
		knnK = DefaultKNNK(run.Benchmark.ID)
	}
	tr, err := NewTrainer(be.b, run, job, Settings{Dir: dir, EvalEvery: run.EvalEvery, Log: log,
		Progress: e.Progress, CheckpointEvery: every, Measures: Measures{KNNK: knnK}})
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "run %s: %s on %s, %d ID classes, %d train / %d test images, pool %d, %d test sets\n",
		dir.ID, run.Method.Name, run.Network, job.Classes, job.Train.N, job.Test.N, poolLen(job), len(job.Tests))
	out, err := tr.Run(ctx)
	if errors.Is(err, ErrInterrupted) {
		return ctx.Err()
	}
	if err != nil {
		return err
	}
	res := store.NewResults(dir.ID)
	res.Method, res.Seed = run.Method.Name, run.Seed
	res.Sets = out.PerSet
	res.Score, res.Scores, res.KNNK, res.KNNTrain = out.Score, out.Scores, out.KNNK, out.KNNTrain
	res.IDAccuracy = out.IDAccuracy
	res.Epochs = out.Epochs
	res.WallSeconds = out.Seconds + out.EvalSeconds
	res.Backend = be.info.Name
	if be.info.Plugin != "" {
		res.Backend += ":" + be.info.Plugin
	}
	res.BackendDescription = be.b.Description()
	res.Device = strings.Join(be.info.Devices, ", ")
	if run.Init != "" {
		if res.InitSHA256, err = data.FileChecksum(run.Init, "sha256"); err != nil {
			return fmt.Errorf("init: %w", err)
		}
	}
	res.DataChecksums = map[string]string{}
	for _, name := range dataNames(run) {
		status, _ := data.ChecksumStatus(name, e.DataDir)
		res.DataChecksums[name] = status
	}
	return dir.WriteResults(res)
}

func poolLen(job *Job) int {
	if job.Pool == nil {
		return 0
	}
	return job.Pool.Len()
}

// closeJob releases memory-mapped or file-backed sources.
func closeJob(job *Job) {
	if job.Pool != nil {
		data.CloseSource(job.Pool)
	}
}

// dataNames lists the data sets a run reads, without class selections.
func dataNames(run *config.Run) []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		ref, err := data.ParseRef(s)
		if err == nil && !seen[ref.Name] && ref.Name != "" {
			seen[ref.Name] = true
			out = append(out, ref.Name)
		}
	}
	add(run.Benchmark.ID)
	if run.Method.Sampler != config.SamplerNone {
		add(run.Benchmark.Pool)
	}
	for _, t := range run.Benchmark.Tests {
		add(t)
	}
	return out
}

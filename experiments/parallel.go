package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/launch"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/internal/cli"
)

// runParallel runs the grid's pending runs in up to --parallel worker processes at once, each
// the per-run worker command (--run) pinned to one device: a GPU (--devices, or the ones this
// machine lists for an XLA backend) through CUDA_VISIBLE_DEVICES, else an equal share of the
// CPUs (bound on Linux, and GOMAXPROCS). Each run's log is in its run directory; the display
// has one line per worker, and a summary and the results table at the end.
func runParallel(ctx context.Context, stdout io.Writer, g *config.Grid, runs []*config.Run, loc locations, sf *scaleFlags) error {
	if err := store.Writable(loc.outDir); err != nil {
		return err
	}
	st, err := store.Open(loc.outDir)
	if err != nil {
		return err
	}
	devices, why := gpuDevices(sf.devices, loc.backend)
	n := sf.parallel
	var slots []launch.Slot
	if len(devices) > 0 {
		if sf.devices != "" && n == 1 {
			n = len(devices)
		}
		slots, err = launch.PlanGPU(n, devices)
	} else {
		slots, err = launch.PlanCPU(n)
	}
	if err != nil {
		return cli.Usage(err)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("parallel: finding this program to start its workers: %w", err)
	}
	p, err := findPending(st, g.Name, runs)
	if err != nil {
		return err
	}
	live := isTerminalWriter(stdout)
	fmt.Fprintf(stdout, "grid %s: %d runs (%d done, %d held by another runner, %d to run), store %s\n",
		g.Name, len(runs), p.done, len(p.locked), len(p.todo), filepath.Join(loc.outDir, g.Name))
	for _, s := range p.corrupt {
		fmt.Fprintf(stdout, "  left out, unreadable: %s\n", s)
	}
	for _, s := range p.locked {
		fmt.Fprintf(stdout, "  busy elsewhere: %s\n", s)
	}
	var pins []string
	for _, s := range slots {
		pins = append(pins, s.Label+" "+s.Device)
	}
	fmt.Fprintf(stdout, "%d workers: %s%s\n", len(slots), strings.Join(pins, ", "), why)

	jobs := make([]launch.Job, len(p.todo))
	for i, d := range p.todo {
		args := append(loc.workerArgs(), "--run", d.ID)
		if live {
			args = append(args, "--progress")
		}
		jobs[i] = launch.Job{Name: filepath.Base(d.Path), Args: args}
	}
	byName := map[string]*store.RunDir{}
	for _, d := range p.todo {
		byName[filepath.Base(d.Path)] = d
	}
	var (
		mu                      sync.Mutex
		ran, failed, busy, left = 0, 0, 0, len(jobs)
		failures                []error
		start                   = time.Now()
	)
	pool := &launch.Pool{
		Command: self, Slots: slots, Out: stdout, Live: live, Width: terminalWidth(stdout),
		HandleSignals: true,
		Header: func() string {
			mu.Lock()
			defer mu.Unlock()
			return fmt.Sprintf("grid %s: %d/%d done, %d failed, %d to go, %s", g.Name, p.done+ran, len(runs), failed, left,
				time.Since(start).Round(time.Second))
		},
		Finished: func(r launch.Result) string {
			mu.Lock()
			defer mu.Unlock()
			left--
			d := byName[r.Job.Name]
			s, serr := d.Status(store.LockOptions{})
			switch {
			case serr == nil && s.State == store.Done:
				ran++
				return "done in " + r.Elapsed.Round(time.Second).String()
			case serr == nil && s.State == store.Locked:
				busy++
				return "busy: " + s.String()
			case ctx.Err() != nil || interrupted(r.Err):
				return "stopped after its checkpoint: " + s.String()
			}
			failed++
			msg := workerFailure(r, s)
			failures = append(failures, fmt.Errorf("%s: %s", d.Path, msg))
			line, _, _ := strings.Cut(msg, "\n")
			return "FAILED: " + line
		},
	}
	_, err = pool.Run(ctx, jobs)
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w; %d/%d runs done; run the same command again to resume", cli.ErrInterrupted, p.done+ran, len(runs))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "grid %s: %d/%d done, %d run now by %d workers in %s, %d busy in another runner, %d failed\n",
		g.Name, p.done+ran, len(runs), ran, len(slots), time.Since(start).Round(time.Second), busy+len(p.locked), failed)
	if err := printTable(stdout, st, g.Name, runs); err != nil {
		fmt.Fprintln(stdout, "results table:", err)
	}
	if failed > 0 {
		return fmt.Errorf("%d runs failed:\n%v", failed, errors.Join(failures...))
	}
	return nil
}

// interrupted reports whether a worker exited with the interrupted status (after its
// checkpoint).
func interrupted(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.ExitCode() == cli.ExitInterrupted
}

// workerFailure says why a worker's run failed: the run's error.txt, else the worker's last
// output lines.
func workerFailure(r launch.Result, s store.Status) string {
	if s.Failure != "" {
		return s.Failure
	}
	msg := "the worker exited"
	if r.Err != nil {
		msg = r.Err.Error()
	}
	if len(r.Tail) > 0 {
		tail := r.Tail[max(0, len(r.Tail)-5):]
		msg += "; its last lines:\n  " + strings.Join(tail, "\n  ")
	}
	return msg
}

// gpuDevices returns the GPUs that --parallel pins workers to, and a note saying where they
// came from: --devices when given; otherwise, unless the backend is the pure-Go one or XLA's
// CPU plugin, the GPUs in CUDA_VISIBLE_DEVICES or those nvidia-smi lists. None: the workers
// share the CPUs.
func gpuDevices(flagValue, backendName string) ([]string, string) {
	split := func(s string) []string {
		var out []string
		for _, f := range strings.Split(s, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
		return out
	}
	if flagValue != "" {
		return split(flagValue), ""
	}
	b := backendName
	if b == "" {
		b = os.Getenv("GOMLX_BACKEND")
	}
	if b == "go" || strings.HasPrefix(b, "go:") || b == "simplego" || strings.HasPrefix(b, "xla:cpu") {
		return nil, ""
	}
	if v, ok := os.LookupEnv("CUDA_VISIBLE_DEVICES"); ok && strings.TrimSpace(v) != "" {
		return split(v), " (the GPUs of CUDA_VISIBLE_DEVICES)"
	}
	if _, err := exec.LookPath("nvidia-smi"); err != nil {
		return nil, ""
	}
	out, err := exec.Command("nvidia-smi", "--query-gpu=index", "--format=csv,noheader").Output()
	if err != nil {
		return nil, ""
	}
	if ids := split(strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", ",")); len(ids) > 0 {
		return ids, " (the GPUs nvidia-smi lists)"
	}
	return nil, ""
}

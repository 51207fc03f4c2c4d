package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/grids"
	"github.com/oodlab/dos/experiments/launch"
	"github.com/oodlab/dos/experiments/store"
)

// scaleFlags are the flags that run a grid elsewhere than in this process: worker processes
// on this machine's devices (--parallel, --devices), a Slurm array job (--slurm,
// --slurm-print), a Kubernetes Indexed Job (--k8s-print), the state of all of them (--status),
// and the per-run worker command that all of them start (--run).
type scaleFlags struct {
	parallel int
	devices  string

	run         string
	runIndexEnv string
	requeue     bool
	progress    bool

	slurm, slurmPrint bool
	slurmOpts         launch.SlurmOptions
	gpusPerRun        int
	cpusPerRun        int
	mem               string
	parallelismCap    int

	k8sPrint bool
	k8sOpts  launch.K8sOptions

	status bool
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// addScaleFlags defines the scale-out flags on fs.
func addScaleFlags(fs *flag.FlagSet) *scaleFlags {
	sf := &scaleFlags{}
	fs.IntVar(&sf.parallel, "parallel", 1, "run up to `N` runs at once, each in a worker process pinned to one device (a GPU of --devices, else a share of the CPUs)")
	fs.StringVar(&sf.devices, "devices", "", "NVIDIA GPUs for --parallel, e.g. 0,1,2,3 (default: those CUDA_VISIBLE_DEVICES or nvidia-smi list, for an XLA backend)")

	fs.StringVar(&sf.run, "run", "", "worker: run only the run with this `ID` (a comma-separated list with --run-index-env)")
	fs.StringVar(&sf.runIndexEnv, "run-index-env", "", "worker: pick the run of --run's list at the index in this environment `variable` (SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX)")
	fs.BoolVar(&sf.requeue, "requeue", false, "worker in a Slurm task: on USR1 or SIGTERM from preemption, checkpoint and requeue the task")
	fs.BoolVar(&sf.progress, "progress", false, "worker: draw the progress bar on stdout even when it is not a terminal")

	fs.BoolVar(&sf.slurm, "slurm", false, "submit the grid's pending runs as one Slurm array job (a task per run)")
	fs.BoolVar(&sf.slurmPrint, "slurm-print", false, "write and print the sbatch script of --slurm without submitting it")
	fs.StringVar(&sf.slurmOpts.Partition, "partition", "", "Slurm partition")
	fs.StringVar(&sf.slurmOpts.Time, "time", "", "Slurm time limit of each task, e.g. 24:00:00")
	fs.StringVar(&sf.slurmOpts.Account, "account", "", "Slurm account")
	fs.StringVar(&sf.slurmOpts.QOS, "qos", "", "Slurm quality of service")
	fs.IntVar(&sf.slurmOpts.SignalSeconds, "signal-seconds", launch.DefaultSignalSeconds, "Slurm: send USR1 this many `seconds` before the time limit (checkpoint and requeue)")
	fs.Var((*stringList)(&sf.slurmOpts.Extra), "sbatch-arg", "a further sbatch option, e.g. --constraint=a100 (repeatable)")
	fs.IntVar(&sf.gpusPerRun, "gpus-per-run", -1, "GPUs of each Slurm task or Kubernetes pod (default: none for Slurm, 1 for Kubernetes)")
	fs.IntVar(&sf.cpusPerRun, "cpus-per-run", 0, "CPUs of each Slurm task or Kubernetes pod")
	fs.StringVar(&sf.mem, "mem", "", "memory of each Slurm task or Kubernetes pod, e.g. 32G")
	fs.IntVar(&sf.parallelismCap, "array-parallelism", 0, "at most `N` Slurm tasks or Kubernetes pods at once (0: no cap)")

	fs.BoolVar(&sf.k8sPrint, "k8s-print", false, "write and print a Kubernetes Indexed Job manifest for the grid's pending runs")
	fs.StringVar(&sf.k8sOpts.Image, "k8s-image", "", "Kubernetes: the container `image` with the experiments binary")
	fs.StringVar(&sf.k8sOpts.PVC, "k8s-pvc", "", "Kubernetes: the PersistentVolumeClaim holding the run store and the data")
	fs.StringVar(&sf.k8sOpts.Mount, "k8s-mount", "/workspace", "Kubernetes: where the claim is mounted; relative --out and --data are read under it")
	fs.StringVar(&sf.k8sOpts.Command, "k8s-command", "experiments", "Kubernetes: the experiments binary in the image")
	fs.IntVar(&sf.k8sOpts.RetriesPerIndex, "k8s-retries", 3, "Kubernetes: backoffLimitPerIndex, failed pods per run before it is given up (preemption not counted)")
	fs.IntVar(&sf.k8sOpts.GraceSeconds, "k8s-grace", 120, "Kubernetes: seconds a pod has after SIGTERM to write its checkpoint")

	fs.BoolVar(&sf.status, "status", false, "show each run's state in the store, and its Slurm task and state for runs submitted with --slurm")
	return sf
}

// check refuses flag combinations that do not go together.
func (sf *scaleFlags) check(fs *flag.FlagSet, dry bool) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var modes []string
	for _, m := range []struct {
		name string
		on   bool
	}{{"--dry-run", dry}, {"--status", sf.status}, {"--slurm", sf.slurm}, {"--slurm-print", sf.slurmPrint},
		{"--k8s-print", sf.k8sPrint}, {"--run", sf.run != ""}, {"--parallel", set["parallel"] && sf.parallel != 1 || set["devices"]}} {
		if m.on {
			modes = append(modes, m.name)
		}
	}
	if len(modes) > 1 {
		return fmt.Errorf("%s do not go together: choose one", strings.Join(modes, " and "))
	}
	if sf.parallel < 1 {
		return fmt.Errorf("--parallel %d: want 1 or more", sf.parallel)
	}
	if sf.run == "" {
		for _, name := range []string{"run-index-env", "requeue", "progress"} {
			if set[name] {
				return fmt.Errorf("--%s is a flag of the worker command (--run)", name)
			}
		}
	}
	slurmOnly := []string{"partition", "time", "account", "qos", "signal-seconds", "sbatch-arg"}
	k8sOnly := []string{"k8s-image", "k8s-pvc", "k8s-mount", "k8s-command", "k8s-retries", "k8s-grace"}
	both := []string{"gpus-per-run", "cpus-per-run", "mem", "array-parallelism"}
	slurmMode, k8sMode := sf.slurm || sf.slurmPrint, sf.k8sPrint
	for _, name := range slurmOnly {
		if set[name] && !slurmMode {
			return fmt.Errorf("--%s goes with --slurm or --slurm-print", name)
		}
	}
	for _, name := range k8sOnly {
		if set[name] && !k8sMode {
			return fmt.Errorf("--%s goes with --k8s-print", name)
		}
	}
	for _, name := range both {
		if set[name] && !slurmMode && !k8sMode {
			return fmt.Errorf("--%s goes with --slurm, --slurm-print or --k8s-print", name)
		}
	}
	gpus := sf.gpusPerRun
	if gpus < 0 {
		gpus = 0
		if k8sMode {
			gpus = 1 // the "one GPU per pod"
		}
	}
	sf.slurmOpts.GPUsPerRun, sf.k8sOpts.GPUsPerRun = gpus, gpus
	sf.slurmOpts.CPUsPerRun, sf.k8sOpts.CPUsPerRun = sf.cpusPerRun, sf.cpusPerRun
	sf.slurmOpts.Mem, sf.k8sOpts.Mem = sf.mem, sf.mem
	sf.slurmOpts.ArrayParallelism, sf.k8sOpts.Parallelism = sf.parallelismCap, sf.parallelismCap
	return nil
}

// selectRun returns the run of --run: the one ID given, or the one at the index that
// --run-index-env's variable holds.
func (sf *scaleFlags) selectRun(g *config.Grid, runs []*config.Run) (*config.Run, error) {
	ids := strings.Split(sf.run, ",")
	id := ids[0]
	switch {
	case sf.runIndexEnv != "":
		v, ok := os.LookupEnv(sf.runIndexEnv)
		if !ok {
			return nil, fmt.Errorf("--run-index-env %s: the variable is not set (is this a Slurm array task or a Kubernetes Indexed Job pod?)", sf.runIndexEnv)
		}
		var i int
		if _, err := fmt.Sscan(v, &i); err != nil || i < 0 || i >= len(ids) || fmt.Sprint(i) != strings.TrimSpace(v) {
			return nil, fmt.Errorf("--run-index-env %s=%q: want an index from 0 to %d (--run lists %d runs)", sf.runIndexEnv, v, len(ids)-1, len(ids))
		}
		id = ids[i]
	case len(ids) > 1:
		return nil, fmt.Errorf("--run lists %d runs: name the environment variable holding the index with --run-index-env", len(ids))
	}
	for _, r := range runs {
		rid, err := r.ID()
		if err != nil {
			return nil, err
		}
		if rid == id {
			return r, nil
		}
	}
	return nil, fmt.Errorf("--run %s: no run of grid %s (%s) has this ID; the grid file may have changed since the runs were listed (see --dry-run)", id, g.Name, g.File)
}

// embeddedGrid reports whether --grid names an embedded grid (rather than a file).
func embeddedGrid(arg string) bool { return slices.Contains(grids.Names(), arg) }

// pendingRuns sorts runs by their state in the store: those to launch (new, partial, or
// failed before), and counts of those done, held by a live runner, or unreadable (with the
// reason, printed by the caller).
type pendingRuns struct {
	todo    []*store.RunDir
	done    int
	locked  []string
	corrupt []string
}

func findPending(st *store.Store, grid string, runs []*config.Run) (pendingRuns, error) {
	var p pendingRuns
	for _, r := range runs {
		d, s, err := runStatus(st, grid, r)
		if err != nil {
			return p, err
		}
		switch s.State {
		case store.Done:
			p.done++
		case store.Locked:
			p.locked = append(p.locked, fmt.Sprintf("%s: %s", filepath.Base(d.Path), s))
		case store.Corrupt:
			p.corrupt = append(p.corrupt, fmt.Sprintf("%s: %s", filepath.Base(d.Path), s))
		default:
			p.todo = append(p.todo, d)
		}
	}
	return p, nil
}

// tasks numbers run directories as array tasks 0..n-1.
func tasks(dirs []*store.RunDir) []launch.Task {
	out := make([]launch.Task, len(dirs))
	for i, d := range dirs {
		out[i] = launch.Task{Index: i, RunID: d.ID, Name: filepath.Base(d.Path)}
	}
	return out
}

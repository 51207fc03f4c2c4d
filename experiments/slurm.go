package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/launch"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/internal/atomicfile"
	"github.com/oodlab/dos/internal/cli"
)

// slurmDir is the folder of a grid's Slurm submissions in the store: runs/GRID/slurm, with one
// folder per submission (its script job.sh, its record submission.json and its tasks' logs/)
// and bin/, the copies of the experiments binary that the tasks run.
func slurmDir(outDir, grid string) string { return filepath.Join(outDir, grid, "slurm") }

// sharedStoreNeed says what a Slurm cluster needs of the run store.
const sharedStoreNeed = "the run store must be a folder that this machine and every node of the cluster can write, on a file system they share"

// submitSlurm writes an sbatch script for the grid's pending runs into the store and submits
// it as one array job (print: writes and prints it only).
func submitSlurm(ctx context.Context, stdout, stderr io.Writer, g *config.Grid, runs []*config.Run, loc locations,
	opts launch.SlurmOptions, print bool) error {
	outAbs, err := filepath.Abs(loc.outDir)
	if err != nil {
		return err
	}
	if err := store.Writable(outAbs); err != nil {
		return fmt.Errorf("%w: %s", err, sharedStoreNeed)
	}
	st, err := store.Open(outAbs)
	if err != nil {
		return err
	}
	if name, shared, known := launch.FileSystem(outAbs); known && !shared {
		fmt.Fprintf(stderr, "experiments: note: the run store %s is on a local file system (%s); every node that runs a task must see this same folder (NFS, Lustre, GPFS, ...), which holds only on a one-machine cluster\n", outAbs, name)
	}
	p, err := findPending(st, g.Name, runs)
	if err != nil {
		return err
	}
	for _, s := range p.corrupt {
		fmt.Fprintf(stderr, "experiments: left out, unreadable (move it away to run it again): %s\n", s)
	}
	// Runs that an earlier submission's tasks will still run are not submitted again.
	queued := map[string]string{}
	if !print && launch.HaveSlurm() {
		if queued, err = queuedRuns(ctx, slurmDir(outAbs, g.Name)); err != nil {
			fmt.Fprintf(stderr, "experiments: could not ask Slurm which runs are queued already: %v\n", err)
		}
	}
	var todo []*store.RunDir
	var inQueue []string
	for _, d := range p.todo {
		if task, ok := queued[d.ID]; ok {
			inQueue = append(inQueue, fmt.Sprintf("%s (task %s)", filepath.Base(d.Path), task))
			continue
		}
		todo = append(todo, d)
	}
	if len(todo) == 0 {
		fmt.Fprintf(stdout, "grid %s: nothing to submit: %d of %d runs are done", g.Name, p.done, len(runs))
		if n := len(p.locked) + len(inQueue); n > 0 {
			fmt.Fprintf(stdout, ", %d running or queued already", n)
		}
		if len(p.corrupt) > 0 {
			fmt.Fprintf(stdout, ", %d unreadable", len(p.corrupt))
		}
		fmt.Fprintln(stdout)
		for _, s := range append(p.locked, inQueue...) {
			fmt.Fprintf(stdout, "  %s\n", s)
		}
		return nil
	}
	if !print && !launch.HaveSlurm() {
		return errors.New("--slurm: sbatch and squeue are not on PATH (is this a Slurm login node?); --slurm-print writes the script without submitting it")
	}

	base := slurmDir(outAbs, g.Name)
	sub, err := newSubmissionDir(base)
	if err != nil {
		return err
	}
	logs := filepath.Join(sub, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return err
	}
	bin, err := copyExecutable(filepath.Join(base, "bin"))
	if err != nil {
		return err
	}
	worker := loc // the tasks' locations: absolute paths
	worker.outDir = outAbs
	if !embeddedGrid(loc.gridArg) {
		// The tasks read the grid as it is now, wherever the file goes meanwhile.
		b, err := os.ReadFile(loc.gridArg)
		if err != nil {
			return err
		}
		worker.gridArg = filepath.Join(sub, "grid.yaml")
		if err := atomicfile.Write(worker.gridArg, b); err != nil {
			return err
		}
	}
	cwd, err := os.Getwd()
	if err != nil {
		return err
	}
	if loc.dataGiven {
		if worker.dataDir, err = filepath.Abs(loc.dataDir); err != nil {
			return err
		}
	}
	cmd := append([]string{bin}, worker.workerArgs()...)
	now := time.Now()
	tk := tasks(todo)
	script, err := launch.SlurmScript(launch.ScriptSpec{Grid: g.Name, Options: opts, Tasks: tk, Command: cmd,
		LogDir: logs, WorkDir: cwd, Written: now})
	if err != nil {
		return cli.Usage(err)
	}
	scriptPath := filepath.Join(sub, "job.sh")
	if err := atomicfile.Write(scriptPath, []byte(script)); err != nil {
		return err
	}
	if err := os.Chmod(scriptPath, 0o755); err != nil {
		return err
	}
	rec := launch.Submission{Submitted: now, Script: scriptPath, Tasks: tk}
	if print {
		if err := launch.WriteSubmission(sub, rec); err != nil {
			return err
		}
		fmt.Fprint(stdout, script)
		fmt.Fprintf(stdout, "\n# written to %s (not submitted): sbatch %s\n", scriptPath, scriptPath)
		return nil
	}
	job, err := launch.Submit(ctx, scriptPath)
	if err != nil {
		return fmt.Errorf("submitting %s: %w", scriptPath, err)
	}
	rec.JobID = job
	if err := launch.WriteSubmission(sub, rec); err != nil {
		return fmt.Errorf("job %s was submitted, but its record could not be written: %w", job, err)
	}
	fmt.Fprintf(stdout, "grid %s: submitted %d runs as Slurm array job %s (%d done before", g.Name, len(todo), job, p.done)
	if n := len(p.locked) + len(inQueue); n > 0 {
		fmt.Fprintf(stdout, ", %d running or queued already", n)
	}
	fmt.Fprintf(stdout, ")\n  script    %s\n  follow    squeue -r -j %s; go run ./experiments --grid %s --status\n", scriptPath, job, loc.gridArg)
	fmt.Fprintf(stdout, "  logs      %s (a task's output), %s (a run's log)\n",
		filepath.Join(logs, job+"_<task>.out"), filepath.Join(outAbs, g.Name, "<run>", store.LogFile))
	fmt.Fprintf(stdout, "  cancel    scancel %s (a cancelled task keeps its checkpoint: submit again to resume)\n", job)
	return nil
}

// newSubmissionDir creates a new folder for a submission under base, named by the time.
func newSubmissionDir(base string) (string, error) {
	stamp := time.Now().UTC().Format("20060102T150405Z")
	for i := 0; i < 100; i++ {
		name := stamp
		if i > 0 {
			name = fmt.Sprintf("%s-%d", stamp, i)
		}
		dir := filepath.Join(base, name)
		if err := os.MkdirAll(base, 0o755); err != nil {
			return "", err
		}
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("%s: could not create a new submission folder", base)
}

// copyExecutable copies this program into dir, named by its content's SHA-256, and returns the
// copy's path. The tasks run the copy: `go run` deletes its binary when it exits, and a binary
// rebuilt meanwhile must not change what queued tasks run.
func copyExecutable(dir string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding this program to copy it for the tasks: %w", err)
	}
	f, err := os.Open(self)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", self, err)
	}
	dst := filepath.Join(dir, "experiments-"+hex.EncodeToString(h.Sum(nil))[:16])
	if fi, err := os.Stat(dst); err == nil && fi.Mode()&0o100 != 0 {
		return dst, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	if err := atomicfile.WriteFunc(dst, func(w io.Writer) error { _, err := io.Copy(w, f); return err }); err != nil {
		return "", err
	}
	return dst, os.Chmod(dst, 0o755)
}

// queuedRuns maps the IDs of runs whose task of an earlier submission Slurm may still run
// (pending, running, requeued, ...) to that task.
func queuedRuns(ctx context.Context, dir string) (map[string]string, error) {
	subs, _, err := launch.ReadSubmissions(dir)
	if err != nil || len(subs) == 0 {
		return map[string]string{}, err
	}
	var jobs []string
	for _, s := range subs {
		if s.JobID != "" {
			jobs = append(jobs, s.JobID)
		}
	}
	states, err := launch.Queue(ctx, jobs)
	if err != nil {
		return map[string]string{}, err
	}
	out := map[string]string{}
	for _, s := range subs {
		for _, t := range s.Tasks {
			id := fmt.Sprintf("%s_%d", s.JobID, t.Index)
			if st, ok := states[id]; ok && launch.ActiveState(st.State) {
				out[t.RunID] = id
			}
		}
	}
	return out, nil
}

// slurmTasks maps each run ID to its task in the latest submission that holds it, and that
// task's state as Slurm reports it (empty when Slurm does not know it, or is not here).
func slurmTasks(ctx context.Context, dir string) (map[string]launch.TaskState, []string, error) {
	subs, warnings, err := launch.ReadSubmissions(dir)
	if err != nil || len(subs) == 0 {
		return nil, warnings, err
	}
	latest := map[string]string{}
	jobs := map[string]bool{}
	for _, s := range subs {
		if s.JobID == "" {
			continue
		}
		jobs[s.JobID] = true
		for _, t := range s.Tasks {
			latest[t.RunID] = fmt.Sprintf("%s_%d", s.JobID, t.Index)
		}
	}
	var states map[string]launch.TaskState
	if launch.HaveSlurm() {
		ids := make([]string, 0, len(jobs))
		for j := range jobs {
			ids = append(ids, j)
		}
		sort.Strings(ids)
		if states, err = launch.Queue(ctx, ids); err != nil {
			warnings = append(warnings, "squeue: "+err.Error())
		}
	} else {
		warnings = append(warnings, "squeue is not on PATH: Slurm's states are not shown")
	}
	out := map[string]launch.TaskState{}
	for run, task := range latest {
		st, ok := states[task]
		if !ok {
			st = launch.TaskState{ID: task}
		}
		out[run] = st
	}
	return out, warnings, nil
}

// describeTask is the Slurm column of --status.
func describeTask(t launch.TaskState) string {
	switch {
	case t.ID == "":
		return ""
	case t.State == "":
		return t.ID + " (not known to Slurm any more)"
	case t.Reason != "":
		return fmt.Sprintf("%s %s (%s)", t.ID, t.State, t.Reason)
	}
	return t.ID + " " + t.State
}

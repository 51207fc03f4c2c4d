package launch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/oodlab/dos/internal/atomicfile"
)

// SlurmOptions are the resources and settings of a grid's array job (the --slurm flags).
type SlurmOptions struct {
	// Partition, Time, Mem, Account and QOS are passed to sbatch as they are (empty: not
	// given, the cluster's defaults apply).
	Partition, Time, Mem, Account, QOS string
	// GPUsPerRun is the GPUs of each task (--gres=gpu:N; 0: none requested).
	GPUsPerRun int
	// CPUsPerRun is the CPUs of each task (--cpus-per-task; 0: the cluster's default).
	CPUsPerRun int
	// ArrayParallelism caps the tasks running at once (the %N of --array; 0: no cap).
	ArrayParallelism int
	// SignalSeconds is how long before the time limit Slurm sends USR1 to the task, which then
	// checkpoints and requeues itself (0: DefaultSignalSeconds).
	SignalSeconds int
	// Extra are further sbatch options, one per #SBATCH line (--sbatch-arg).
	Extra []string
}

// DefaultSignalSeconds is SlurmOptions.SignalSeconds's default. Slurm may send the signal up to
// a minute earlier than asked; a checkpoint takes seconds.
const DefaultSignalSeconds = 120

// Task is one array task: one run of the grid.
type Task struct {
	// Index is the array index (SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX).
	Index int `json:"index"`
	// RunID and Name identify the run (store.RunDir.ID and the directory's name).
	RunID string `json:"run_id"`
	Name  string `json:"name"`
}

// ScriptSpec is what an sbatch script is written from.
type ScriptSpec struct {
	// Grid is the grid's name.
	Grid string
	// Options are the sbatch settings.
	Options SlurmOptions
	// Tasks are the runs, one per array index 0..len-1.
	Tasks []Task
	// Command is the worker command without the run selection: the binary and its flags
	// (grid, store, data, backend), absolute paths.
	Command []string
	// LogDir receives one output file per task (absolute).
	LogDir string
	// WorkDir is the tasks' working directory (absolute).
	WorkDir string
	// Written is the time printed in the script's header.
	Written time.Time
}

// IndexEnvSlurm is the variable a Slurm array task reads its index from.
const IndexEnvSlurm = "SLURM_ARRAY_TASK_ID"

// SlurmScript returns the sbatch script of an array job with one task per run. Each task runs
// the worker command with --run (the list of run IDs) and --run-index-env (the variable that
// holds its index), and --requeue: on USR1 before the time limit, or SIGTERM from preemption,
// the worker checkpoints and requeues its own task.
func SlurmScript(s ScriptSpec) (string, error) {
	if len(s.Tasks) == 0 {
		return "", errors.New("slurm: no run to submit")
	}
	if len(s.Command) == 0 || !filepath.IsAbs(s.Command[0]) {
		return "", fmt.Errorf("slurm: the worker command must start with an absolute path, got %q", s.Command)
	}
	if err := checkTasks(s.Tasks); err != nil {
		return "", fmt.Errorf("slurm: %w", err)
	}
	o := s.Options
	if o.SignalSeconds == 0 {
		o.SignalSeconds = DefaultSignalSeconds
	}
	for _, v := range []struct{ flag, value string }{{"--partition", o.Partition}, {"--time", o.Time}, {"--mem", o.Mem},
		{"--account", o.Account}, {"--qos", o.QOS}, {"--log dir", s.LogDir}, {"--chdir", s.WorkDir}} {
		if strings.ContainsAny(v.value, "\n\r") || strings.TrimSpace(v.value) != v.value {
			return "", fmt.Errorf("slurm: %s %q: a single word without line breaks or surrounding spaces is expected", v.flag, v.value)
		}
	}
	for _, v := range []struct {
		flag  string
		value int
	}{{"--gpus-per-run", o.GPUsPerRun}, {"--cpus-per-run", o.CPUsPerRun}, {"--array-parallelism", o.ArrayParallelism}, {"--signal-seconds", o.SignalSeconds}} {
		if v.value < 0 {
			return "", fmt.Errorf("slurm: %s %d: want 0 or more", v.flag, v.value)
		}
	}
	for _, x := range o.Extra {
		if !strings.HasPrefix(x, "-") || strings.ContainsAny(x, "\n\r") {
			return "", fmt.Errorf("slurm: --sbatch-arg %q: an sbatch option on one line, starting with -, is expected", x)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/bash\n")
	fmt.Fprintf(&b, "# Grid %s: %d runs, one per task of this Slurm array job.\n", s.Grid, len(s.Tasks))
	fmt.Fprintf(&b, "# Written by `experiments --slurm` on %s. Each task runs one run through the run\n", s.Written.Format(time.RFC3339))
	fmt.Fprintf(&b, "# store's runner; its lock files keep any run from executing twice. On USR1 (sent before the\n")
	fmt.Fprintf(&b, "# time limit) or SIGTERM from preemption a task writes its checkpoint and requeues itself;\n")
	fmt.Fprintf(&b, "# the requeued task resumes the run exactly. A run that fails is not requeued.\n")
	array := fmt.Sprintf("0-%d", len(s.Tasks)-1)
	if len(s.Tasks) == 1 {
		array = "0"
	}
	if o.ArrayParallelism > 0 {
		array += "%" + strconv.Itoa(o.ArrayParallelism)
	}
	line := func(format string, args ...any) { fmt.Fprintf(&b, "#SBATCH "+format+"\n", args...) }
	line("--job-name=%s", jobName(s.Grid))
	line("--array=%s", array)
	line("--chdir=%s", s.WorkDir)
	line("--output=%s", filepath.Join(s.LogDir, "%A_%a.out"))
	line("--open-mode=append")
	line("--requeue")
	line("--signal=B:USR1@%d", o.SignalSeconds)
	if o.Partition != "" {
		line("--partition=%s", o.Partition)
	}
	if o.Time != "" {
		line("--time=%s", o.Time)
	}
	if o.CPUsPerRun > 0 {
		line("--cpus-per-task=%d", o.CPUsPerRun)
	}
	if o.GPUsPerRun > 0 {
		line("--gres=gpu:%d", o.GPUsPerRun)
	}
	if o.Mem != "" {
		line("--mem=%s", o.Mem)
	}
	if o.Account != "" {
		line("--account=%s", o.Account)
	}
	if o.QOS != "" {
		line("--qos=%s", o.QOS)
	}
	for _, x := range o.Extra {
		line("%s", x)
	}
	fmt.Fprintf(&b, "#\n# task  run\n")
	for _, t := range s.Tasks {
		fmt.Fprintf(&b, "# %4d  %s\n", t.Index, t.Name)
	}
	args := append(append([]string(nil), s.Command[1:]...), "--run", runList(s.Tasks), "--run-index-env", IndexEnvSlurm, "--requeue")
	// One flag and its value per line.
	lines := []string{"exec " + ShellQuote(s.Command[0])}
	for _, a := range args {
		if strings.HasPrefix(a, "-") || len(lines) == 1 {
			lines = append(lines, ShellQuote(a))
		} else {
			lines[len(lines)-1] += " " + ShellQuote(a)
		}
	}
	fmt.Fprintf(&b, "%s\n", strings.Join(lines, " \\\n  "))
	return b.String(), nil
}

// runIDPattern is the shape of a run ID (config.Run.ID).
var runIDPattern = regexp.MustCompile(`^[0-9a-f]{12}$`)

// checkTasks checks that tasks are numbered 0..len-1 and hold run IDs.
func checkTasks(tasks []Task) error {
	for i, t := range tasks {
		if t.Index != i {
			return fmt.Errorf("task %d has index %d", i, t.Index)
		}
		if !runIDPattern.MatchString(t.RunID) {
			return fmt.Errorf("task %d: %q is not a run ID", i, t.RunID)
		}
	}
	return nil
}

// runList is the worker's --run for tasks: their run IDs in index order, comma-separated.
func runList(tasks []Task) string {
	ids := make([]string, len(tasks))
	for i, t := range tasks {
		ids[i] = t.RunID
	}
	return strings.Join(ids, ",")
}

// jobName is the Slurm job name of a grid: "dos-" and the grid's name with anything but
// letters, digits, '.', '_' and '-' replaced.
func jobName(grid string) string {
	return "dos-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, grid)
}

// ShellQuote quotes s for a POSIX shell (unchanged when it needs no quotes).
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@%+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Submission is the record of one sbatch submission, kept next to its script.
type Submission struct {
	// JobID is the array job's ID ("" for a script written but not submitted).
	JobID string `json:"job_id"`
	// Submitted is when it was written or submitted.
	Submitted time.Time `json:"submitted"`
	// Script is the sbatch script's path.
	Script string `json:"script"`
	// Tasks are the array's tasks.
	Tasks []Task `json:"tasks"`
}

// SubmissionFile is the record's name inside a submission's folder.
const SubmissionFile = "submission.json"

// WriteSubmission writes sub into dir (atomically).
func WriteSubmission(dir string, sub Submission) error {
	b, err := json.MarshalIndent(sub, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, SubmissionFile), append(b, '\n'))
}

// ReadSubmissions reads the records of the submission folders under dir (runs/GRID/slurm),
// oldest first. Folders without a record, or with an unreadable one, are skipped and named in
// the returned warnings.
func ReadSubmissions(dir string) ([]Submission, []string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var subs []Submission
	var warnings []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name(), SubmissionFile)
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		var s Submission
		if err == nil {
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			err = dec.Decode(&s)
		}
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("%s: %v", path, err))
			continue
		}
		subs = append(subs, s)
	}
	sort.SliceStable(subs, func(i, j int) bool { return subs[i].Submitted.Before(subs[j].Submitted) })
	return subs, warnings, nil
}

// Submit submits script with `sbatch --parsable` and returns the job ID.
func Submit(ctx context.Context, script string) (string, error) {
	out, err := slurmCommand(ctx, "sbatch", "--parsable", script)
	if err != nil {
		return "", err
	}
	id, _, _ := strings.Cut(strings.TrimSpace(out), ";") // "ID" or "ID;cluster"
	if _, err := strconv.Atoi(id); err != nil {
		return "", fmt.Errorf("sbatch printed %q, not a job ID", strings.TrimSpace(out))
	}
	return id, nil
}

// slurmCommand runs a Slurm command and returns its output; its error carries the command's
// own message.
func slurmCommand(ctx context.Context, name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return stdout.String(), fmt.Errorf("%s %s: %s", name, strings.Join(args, " "), msg)
	}
	return stdout.String(), nil
}

// HaveSlurm reports whether Slurm's commands are on PATH (sbatch and squeue).
func HaveSlurm() bool {
	for _, c := range []string{"sbatch", "squeue"} {
		if _, err := exec.LookPath(c); err != nil {
			return false
		}
	}
	return true
}

// TaskState is what Slurm says of one array task.
type TaskState struct {
	// ID is "JOB_INDEX".
	ID string
	// State is Slurm's state (PENDING, RUNNING, COMPLETED, ...).
	State string
	// Reason is why it is pending ("" when Slurm gives none).
	Reason string
}

// Queue asks Slurm for the tasks of the given array jobs: squeue for those the controller
// still knows, then sacct (where accounting is enabled) for the others. Tasks neither knows
// are absent from the map. An error is returned only when squeue itself cannot run.
func Queue(ctx context.Context, jobIDs []string) (map[string]TaskState, error) {
	out := map[string]TaskState{}
	if _, err := exec.LookPath("squeue"); err != nil {
		return nil, err
	}
	for _, job := range jobIDs {
		// One job per call: squeue rejects the whole list when one ID is no longer known.
		text, err := slurmCommand(ctx, "squeue", "-h", "-r", "--states=all", "-j", job, "-o", "%i|%T|%r")
		if err != nil && !strings.Contains(err.Error(), "Invalid job id") {
			return nil, err
		}
		parseStates(text, out)
		if _, err := exec.LookPath("sacct"); err == nil {
			// Accounting may be disabled ("Slurm accounting storage is disabled"): then squeue
			// alone answers, for as long as the controller remembers the job (MinJobAge).
			if text, err := slurmCommand(ctx, "sacct", "-n", "-P", "-X", "-j", job, "-o", "JobID,State"); err == nil {
				acct := map[string]TaskState{}
				parseStates(text, acct)
				for id, st := range acct {
					if _, ok := out[id]; !ok {
						out[id] = st
					}
				}
			}
		}
	}
	return out, nil
}

// parseStates reads "ID|STATE|REASON" lines (REASON optional) into m.
func parseStates(text string, m map[string]TaskState) {
	for _, line := range strings.Split(text, "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) < 2 || f[0] == "" {
			continue
		}
		st := TaskState{ID: f[0], State: strings.Fields(f[1] + " ")[0]} // sacct: "CANCELLED by 0"
		if len(f) > 2 && f[2] != "None" && f[2] != "(null)" {
			st.Reason = f[2]
		}
		m[st.ID] = st
	}
}

// ActiveState reports whether a task in state s may still run (pending, running, requeued,
// suspended, completing, ...): a new submission should not submit its run again.
func ActiveState(s string) bool {
	switch s {
	case "PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SUSPENDED", "CONFIGURING",
		"COMPLETING", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD":
		return true
	}
	return false
}

// ThisTask is the Slurm task this process runs in ("JOB_INDEX" for an array task, else the job
// ID), or "" outside Slurm.
func ThisTask() string {
	if a, i := os.Getenv("SLURM_ARRAY_JOB_ID"), os.Getenv("SLURM_ARRAY_TASK_ID"); a != "" && i != "" {
		return a + "_" + i
	}
	return os.Getenv("SLURM_JOB_ID")
}

// TermReason says why Slurm sent SIGTERM to this job, from `scontrol show job`: "preempted"
// (PreemptTime is set) or "time limit" (its run time reached its limit), and "" otherwise (a
// user's scancel, which must not be undone by a requeue).
func TermReason(ctx context.Context) (string, error) {
	job := os.Getenv("SLURM_JOB_ID")
	if job == "" {
		return "", errors.New("SLURM_JOB_ID is not set: not inside a Slurm job")
	}
	out, err := slurmCommand(ctx, "scontrol", "show", "job", "-o", job)
	if err != nil {
		return "", err
	}
	fields := map[string]string{}
	for _, f := range strings.Fields(out) {
		if k, v, ok := strings.Cut(f, "="); ok {
			fields[k] = v
		}
	}
	if p := fields["PreemptTime"]; p != "" && p != "None" && p != "Unknown" {
		return "preempted", nil
	}
	limit, lok := slurmDuration(fields["TimeLimit"])
	run, rok := slurmDuration(fields["RunTime"])
	if lok && rok && run >= limit {
		return "time limit", nil
	}
	return "", nil
}

// slurmDuration parses the [days-]hours:minutes:seconds that scontrol prints for RunTime and
// TimeLimit (ok false for UNLIMITED and anything else).
func slurmDuration(s string) (time.Duration, bool) {
	days := 0
	if d, rest, ok := strings.Cut(s, "-"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, false
		}
		days, s = n, rest
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, false
	}
	total := 0
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return 0, false
		}
		total = total*60 + n
	}
	return time.Duration(days)*24*time.Hour + time.Duration(total)*time.Second, true
}

// Requeue requeues the Slurm task this process runs in (`scontrol requeue`) and returns its
// ID. Call it after the run's checkpoint is written and its lock released.
func Requeue(ctx context.Context) (string, error) {
	task := ThisTask()
	if task == "" {
		return "", errors.New("not inside a Slurm job (SLURM_JOB_ID is not set)")
	}
	_, err := slurmCommand(ctx, "scontrol", "requeue", task)
	return task, err
}

package launch

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeCommands puts shell scripts named like Slurm's commands first on PATH; each prints its
// text (bodies are shell code).
func fakeCommands(t *testing.T, bodies map[string]string) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range bodies {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

func TestSlurmScript(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is needed to run the script")
	}
	dir := t.TempDir()
	// A stand-in for the experiments binary: prints its arguments, one per line.
	fake := filepath.Join(dir, "bin dir", "experiments")
	os.MkdirAll(filepath.Dir(fake), 0o755)
	os.WriteFile(fake, []byte("#!/bin/sh\nfor a in \"$@\"; do echo \"[$a]\"; done\n"), 0o755)
	spec := ScriptSpec{
		Grid: "my grid", Tasks: testTasks(3), Written: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC),
		Command: []string{fake, "--grid", "/store/it's.yaml", "--out", "/store/runs", "--backend", "xla:cuda"},
		LogDir:  "/store/runs/g/slurm/x/logs", WorkDir: "/home/me/dos",
		Options: SlurmOptions{Partition: "gpu", Time: "1-00:00:00", GPUsPerRun: 1, CPUsPerRun: 8, Mem: "32G",
			Account: "lab", QOS: "normal", ArrayParallelism: 2, Extra: []string{"--constraint=a100", "--exclusive"}},
	}
	text, err := SlurmScript(spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"#!/bin/bash\n",
		"#SBATCH --job-name=dos-my_grid\n",
		"#SBATCH --array=0-2%2\n",
		"#SBATCH --chdir=/home/me/dos\n",
		"#SBATCH --output=/store/runs/g/slurm/x/logs/%A_%a.out\n",
		"#SBATCH --open-mode=append\n",
		"#SBATCH --requeue\n",
		"#SBATCH --signal=B:USR1@120\n",
		"#SBATCH --partition=gpu\n", "#SBATCH --time=1-00:00:00\n", "#SBATCH --cpus-per-task=8\n",
		"#SBATCH --gres=gpu:1\n", "#SBATCH --mem=32G\n", "#SBATCH --account=lab\n", "#SBATCH --qos=normal\n",
		"#SBATCH --constraint=a100\n", "#SBATCH --exclusive\n",
		"#    1  " + spec.Tasks[1].Name + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("script lacks %q:\n%s", want, text)
		}
	}
	// sbatch reads #SBATCH lines only before the first command.
	if strings.Index(text, "#SBATCH") > strings.Index(text, "\nexec ") || strings.LastIndex(text, "#SBATCH") > strings.Index(text, "\nexec ") {
		t.Errorf("#SBATCH lines after the first command:\n%s", text)
	}
	path := filepath.Join(dir, "job.sh")
	os.WriteFile(path, []byte(text), 0o755)
	cmd := exec.Command("bash", path)
	cmd.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("running the script: %v\n%s", err, out)
	}
	ids := []string{spec.Tasks[0].RunID, spec.Tasks[1].RunID, spec.Tasks[2].RunID}
	want := "[--grid]\n[/store/it's.yaml]\n[--out]\n[/store/runs]\n[--backend]\n[xla:cuda]\n[--run]\n[" + strings.Join(ids, ",") +
		"]\n[--run-index-env]\n[SLURM_ARRAY_TASK_ID]\n[--requeue]\n"
	if string(out) != want {
		t.Errorf("the script ran the worker with\n%s\nwant\n%s", out, want)
	}

	// One task: --array=0; defaults leave the resources to the cluster.
	spec.Tasks, spec.Options = testTasks(1), SlurmOptions{SignalSeconds: 300}
	text, err = SlurmScript(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "#SBATCH --array=0\n") || !strings.Contains(text, "--signal=B:USR1@300\n") ||
		strings.Contains(text, "--gres") || strings.Contains(text, "--partition") {
		t.Errorf("one-task script:\n%s", text)
	}
}

func TestSlurmScriptRefusesBadInput(t *testing.T) {
	good := ScriptSpec{Grid: "g", Tasks: testTasks(2), Command: []string{"/bin/experiments"}, LogDir: "/l", WorkDir: "/w"}
	for _, tc := range []struct {
		name string
		edit func(*ScriptSpec)
		want string
	}{
		{"line break", func(s *ScriptSpec) { s.Options.Partition = "gpu\n#SBATCH --wrap=x" }, "--partition"},
		{"sbatch-arg", func(s *ScriptSpec) { s.Options.Extra = []string{"exclusive"} }, `--sbatch-arg "exclusive"`},
		{"negative", func(s *ScriptSpec) { s.Options.CPUsPerRun = -1 }, "--cpus-per-run -1"},
		{"relative binary", func(s *ScriptSpec) { s.Command = []string{"experiments"} }, "absolute path"},
		{"no runs", func(s *ScriptSpec) { s.Tasks = nil }, "no run"},
		{"bad ID", func(s *ScriptSpec) { s.Tasks[1].RunID = "1; rm -rf /" }, "is not a run ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := good
			s.Tasks = testTasks(2)
			tc.edit(&s)
			if _, err := SlurmScript(s); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"plain/path-1.yaml": "plain/path-1.yaml", "a b": "'a b'", "it's": `'it'\''s'`, "": "''", "$HOME": "'$HOME'"} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestSubmitAndQueue(t *testing.T) {
	fakeCommands(t, map[string]string{
		"sbatch": `[ "$1" = --parsable ] || exit 3; echo "4242;cluster"`,
		"squeue": `case "$*" in
*"-j 4242"*) printf '4242_0|RUNNING|None\n4242_1|PENDING|BeginTime\n';;
*"-j 7"*) echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1;;
esac`,
		"sacct": `case "$*" in
*"-j 7"*) printf '7_0|COMPLETED\n7_1|CANCELLED by 0\n';;
*) echo "Slurm accounting storage is disabled" >&2; exit 1;;
esac`,
	})
	id, err := Submit(context.Background(), "/x/job.sh")
	if err != nil || id != "4242" {
		t.Fatalf("Submit = %q, %v", id, err)
	}
	states, err := Queue(context.Background(), []string{"4242", "7"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]TaskState{
		"4242_0": {ID: "4242_0", State: "RUNNING"}, "4242_1": {ID: "4242_1", State: "PENDING", Reason: "BeginTime"},
		"7_0": {ID: "7_0", State: "COMPLETED"}, "7_1": {ID: "7_1", State: "CANCELLED"},
	}
	if len(states) != len(want) {
		t.Errorf("states %v, want %v", states, want)
	}
	for k, w := range want {
		if states[k] != w {
			t.Errorf("%s: %+v, want %+v", k, states[k], w)
		}
	}
	if !ActiveState("PENDING") || !ActiveState("RUNNING") || ActiveState("COMPLETED") || ActiveState("CANCELLED") {
		t.Error("ActiveState")
	}

	fakeCommands(t, map[string]string{"sbatch": `echo "sbatch: error: invalid partition specified: gpu" >&2; exit 1`})
	if _, err := Submit(context.Background(), "/x/job.sh"); err == nil || !strings.Contains(err.Error(), "invalid partition specified: gpu") {
		t.Errorf("sbatch's error not passed on: %v", err)
	}
}

func TestTermReasonAndRequeue(t *testing.T) {
	t.Setenv("SLURM_JOB_ID", "57")
	t.Setenv("SLURM_ARRAY_JOB_ID", "50")
	t.Setenv("SLURM_ARRAY_TASK_ID", "7")
	log := filepath.Join(t.TempDir(), "calls")
	for _, tc := range []struct{ show, want string }{
		{"JobId=57 JobState=COMPLETING RunTime=00:10:00 TimeLimit=01:00:00 PreemptTime=2026-12-02T09:41:59", "preempted"},
		{"JobId=57 JobState=COMPLETING RunTime=01:00:03 TimeLimit=01:00:00 PreemptTime=None", "time limit"},
		{"JobId=57 JobState=COMPLETING RunTime=1-00:00:00 TimeLimit=2-00:00:00 PreemptTime=None", ""},
		{"JobId=57 JobState=COMPLETING RunTime=00:00:05 TimeLimit=UNLIMITED PreemptTime=None", ""},
	} {
		fakeCommands(t, map[string]string{"scontrol": `echo "$*" >> ` + log + `; [ "$1" = show ] && echo "` + tc.show + `"; exit 0`})
		got, err := TermReason(context.Background())
		if err != nil || got != tc.want {
			t.Errorf("TermReason with %q = %q, %v; want %q", tc.show, got, err, tc.want)
		}
	}
	task, err := Requeue(context.Background())
	if err != nil || task != "50_7" {
		t.Errorf("Requeue = %q, %v", task, err)
	}
	calls, _ := os.ReadFile(log)
	if !strings.Contains(string(calls), "show job -o 57\n") || !strings.HasSuffix(string(calls), "requeue 50_7\n") {
		t.Errorf("scontrol was called as:\n%s", calls)
	}
	for in, want := range map[string]time.Duration{"00:00:05": 5 * time.Second, "01:02:03": time.Hour + 2*time.Minute + 3*time.Second,
		"2-00:00:01": 48*time.Hour + time.Second} {
		if got, ok := slurmDuration(in); !ok || got != want {
			t.Errorf("slurmDuration(%q) = %v, %v", in, got, ok)
		}
	}
	for _, bad := range []string{"UNLIMITED", "5:00", "", "x-01:00:00"} {
		if _, ok := slurmDuration(bad); ok {
			t.Errorf("slurmDuration(%q) accepted", bad)
		}
	}
}

func TestSubmissionRecords(t *testing.T) {
	dir := t.TempDir()
	a := Submission{JobID: "1", Submitted: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC), Script: "/a/job.sh", Tasks: testTasks(2)}
	b := Submission{JobID: "2", Submitted: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC), Script: "/b/job.sh", Tasks: testTasks(1)}
	for name, s := range map[string]Submission{"x": a, "y": b} {
		os.MkdirAll(filepath.Join(dir, name), 0o755)
		if err := WriteSubmission(filepath.Join(dir, name), s); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755) // no record: skipped
	os.MkdirAll(filepath.Join(dir, "bad"), 0o755)
	os.WriteFile(filepath.Join(dir, "bad", SubmissionFile), []byte(`{"job_id": "3", "extra": 1}`), 0o644)
	subs, warnings, err := ReadSubmissions(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 2 || subs[0].JobID != "2" || subs[1].JobID != "1" || len(subs[1].Tasks) != 2 || subs[1].Tasks[1] != a.Tasks[1] {
		t.Errorf("read back %+v", subs)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], filepath.Join("bad", SubmissionFile)) {
		t.Errorf("warnings %q", warnings)
	}
	if subs, _, err := ReadSubmissions(filepath.Join(dir, "none")); err != nil || subs != nil {
		t.Errorf("a missing folder: %v, %v", subs, err)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/grids"
	"github.com/oodlab/dos/experiments/launch"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/internal/cli"
)

// asCommandEnv makes the test binary run as the experiments command (see TestMain): the worker
// processes of --parallel and of Slurm tasks are this binary.
const asCommandEnv = "OOD_EXPERIMENTS_TEST_AS_COMMAND"

// TestMain runs the command instead of the tests when asCommandEnv is 1.
func TestMain(m *testing.M) {
	if os.Getenv(asCommandEnv) == "1" {
		cli.Main("experiments", run)
	}
	os.Exit(m.Run())
}

// tinyGrid writes a grid over the synthetic data sets, small enough to train in a second or
// two per run on the pure-Go backend, with the given methods and epochs.
func tinyGrid(t testing.TB, name string, methods []string, epochs int, extra string) string {
	path := filepath.Join(t.TempDir(), name+".yaml")
	text := fmt.Sprintf(`name: %s
base:
  benchmark: {id: synthetic-mnist@0-4, pool: synthetic-mnist@5-7, tests: [synthetic-mnist@8-9], image_size: 28}
  network: mlp
  epochs: %d
  optim: {milestones: [1]}
  method: {outliers_per_epoch: 128}
  caps: {max_train: 256, max_pool: 512, max_test: 100}
%saxes:
  method: [%s]
  seed: [1]
`, name, epochs, extra, strings.Join(methods, ", "))
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// gridRuns expands a grid file.
func gridRuns(t testing.TB, path string) (*config.Grid, []*config.Run) {
	g, err := grids.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := g.Expand(nil)
	if err != nil {
		t.Fatal(err)
	}
	return g, runs
}

// provenance are results.json fields that tell when, how long and by which command a run ran:
// they differ between two executions of the same run.
var provenance = []string{"wall_seconds", "finished", "command_line"}

// sameResults fails the test unless the two stores hold the same finished runs of grid: every
// results.json field but provenance, every metrics.jsonl record but its timings, and every
// score file byte for byte.
func sameResults(t testing.TB, grid string, runs []*config.Run, storeA, storeB string) {
	t.Helper()
	sameResultsOf(t, runs, grid, storeA, grid, storeB)
}

// sameResultsOf is sameResults for runs stored under two grid names.
func sameResultsOf(t testing.TB, runs []*config.Run, gridA, storeA, gridB, storeB string) {
	t.Helper()
	a, b := &store.Store{Root: storeA}, &store.Store{Root: storeB}
	for _, r := range runs {
		da, err := a.Dir(gridA, r)
		if err != nil {
			t.Fatal(err)
		}
		db, _ := b.Dir(gridB, r)
		name := filepath.Base(da.Path)
		ra, rb := readJSON(t, da.File(store.ResultsFile)), readJSON(t, db.File(store.ResultsFile))
		for _, k := range provenance {
			delete(ra, k)
			delete(rb, k)
		}
		if !reflect.DeepEqual(ra, rb) {
			t.Errorf("%s: results.json differs:\n%v\n%v", name, ra, rb)
		}
		ea, eb := epochs(t, da), epochs(t, db)
		if !reflect.DeepEqual(ea, eb) {
			t.Errorf("%s: metrics.jsonl differs:\n%v\n%v", name, ea, eb)
		}
		fa, fb := scoreFiles(t, da.File(store.ScoresDir)), scoreFiles(t, db.File(store.ScoresDir))
		if len(fa) == 0 || !reflect.DeepEqual(fa, fb) {
			t.Errorf("%s: score files differ (%d and %d files)", name, len(fa), len(fb))
		}
	}
}

func readJSON(t testing.TB, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// epochs reads metrics.jsonl without its timings (seconds, throughput, time, and diagnostics
// that measure time).
func epochs(t testing.TB, d *store.RunDir) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(d.File(store.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"seconds", "images_per_sec", "time"} {
			delete(m, k)
		}
		if diag, ok := m["diagnostics"].(map[string]any); ok {
			for k := range diag {
				if strings.Contains(k, "second") || strings.Contains(k, "time") {
					delete(diag, k)
				}
			}
		}
		out = append(out, m)
	}
	return out
}

// scoreFiles reads every file under dir, by relative path.
func scoreFiles(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = string(b)
		return nil
	})
	return out
}

// --parallel 2 runs every run of a grid in two worker processes (this test binary, as the
// command) and gives results identical to a sequential run in this process, bit for bit, on
// the pure-Go backend; a second call finds nothing left to run.
func TestParallelMatchesSequential(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	t.Setenv(asCommandEnv, "1")
	grid := tinyGrid(t, "tiny", []string{"msp", "oe", "dos"}, 2, "")
	g, runs := gridRuns(t, grid)
	seq, par := t.TempDir(), t.TempDir()
	if code, out, errs := call(t, context.Background(), newExecutor, "--grid", grid, "--out", seq, "--backend", "go"); code != cli.ExitOK {
		t.Fatalf("sequential: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs := call(t, context.Background(), newExecutor, "--grid", grid, "--out", par, "--backend", "go", "--parallel", "2")
	if code != cli.ExitOK {
		t.Fatalf("--parallel 2: exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"2 workers: w1 CPU", ", w2 CPU", "[w1] start ", "[w2] start ", "grid tiny: 3/3 done, 3 run now by 2 workers",
		"| DOS | 1/1 |"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Each worker line names its run, and each run's log is in its own directory.
	if !regexp.MustCompile(`(?m)^\[w[12] dos-s1-[0-9a-f]{12}\] epoch 2/2 loss`).MatchString(out) {
		t.Errorf("no prefixed epoch line of the DOS run:\n%s", out)
	}
	sameResults(t, g.Name, runs, seq, par)

	code, out, _ = call(t, context.Background(), newExecutor, "--grid", grid, "--out", par, "--backend", "go", "--parallel", "2")
	if code != cli.ExitOK || !strings.Contains(out, "(3 done, 0 held by another runner, 0 to run)") || strings.Contains(out, "start ") {
		t.Errorf("second --parallel: exit %d\n%s", code, out)
	}
}

// The worker command runs exactly the run it is given, by ID or by index into a list.
func TestWorkerRunsOneRun(t *testing.T) {
	grid := synthGrid(t)
	g, runs := gridRuns(t, grid)
	st := &store.Store{Root: t.TempDir()}
	var ids []string
	for _, r := range runs {
		id, _ := r.ID()
		ids = append(ids, id)
	}
	ex := &fakeExec{}
	factory := func(execOptions) (store.Executor, error) { return ex, nil }
	t.Setenv("TEST_TASK_INDEX", "4")
	code, out, errs := call(t, context.Background(), factory, "--grid", grid, "--out", st.Root, "--run", strings.Join(ids, ","), "--run-index-env", "TEST_TASK_INDEX")
	if code != cli.ExitOK || len(ex.ran) != 1 || ex.ran[0] != ids[4] {
		t.Fatalf("exit %d, ran %v, want only %s\n%s\n%s", code, ex.ran, ids[4], out, errs)
	}
	d, _ := st.Dir(g.Name, runs[4])
	if !strings.Contains(out, filepath.Base(d.Path)+": done") {
		t.Errorf("output:\n%s", out)
	}
	code, out, _ = call(t, context.Background(), factory, "--grid", grid, "--out", st.Root, "--run", ids[4])
	if code != cli.ExitOK || len(ex.ran) != 1 || !strings.Contains(out, "already done") {
		t.Errorf("again: exit %d, ran %v\n%s", code, ex.ran, out)
	}
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--run", strings.Join(ids, ",")}, "", "name the environment variable"},
		{[]string{"--run", strings.Join(ids, ","), "--run-index-env", "TEST_TASK_INDEX"}, "6", `TEST_TASK_INDEX="6": want an index from 0 to 5`},
		{[]string{"--run", strings.Join(ids, ","), "--run-index-env", "TEST_NO_SUCH_VAR"}, "", "TEST_NO_SUCH_VAR: the variable is not set"},
		{[]string{"--run", "0123456789ab"}, "", "--run 0123456789ab: no run of grid synth"},
		{[]string{"--requeue"}, "", "--requeue is a flag of the worker command"},
	} {
		t.Setenv("TEST_TASK_INDEX", tc.env)
		code, _, errs := call(t, context.Background(), factory, append([]string{"--grid", grid, "--out", st.Root}, tc.args...)...)
		if code != cli.ExitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, want a usage error with %q: %s", tc.args, code, tc.want, errs)
		}
	}
}

func TestScaleOutFlagConflicts(t *testing.T) {
	grid := synthGrid(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--slurm", "--parallel", "2"}, "--slurm and --parallel do not go together"},
		{[]string{"--status", "--dry-run"}, "--dry-run and --status do not go together"},
		{[]string{"--partition", "gpu"}, "--partition goes with --slurm"},
		{[]string{"--k8s-image", "x"}, "--k8s-image goes with --k8s-print"},
		{[]string{"--mem", "4G"}, "--mem goes with --slurm, --slurm-print or --k8s-print"},
		{[]string{"--parallel", "0"}, "--parallel 0: want 1 or more"},
		{[]string{"--slurm-print", "--sbatch-arg", "exclusive"}, `--sbatch-arg "exclusive"`},
		{[]string{"--k8s-print"}, "--k8s-image is required"},
	} {
		code, _, errs := call(t, context.Background(), noExecutor, append([]string{"--grid", grid, "--out", t.TempDir()}, tc.args...)...)
		if code != cli.ExitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, want a usage error with %q: %s", tc.args, code, tc.want, errs)
		}
	}
}

// --slurm-print writes the script, the record and the binary copy into the store and prints
// the script; the script starts the worker with the pending runs only.
func TestSlurmPrint(t *testing.T) {
	grid := synthGrid(t)
	g, runs := gridRuns(t, grid)
	out := t.TempDir()
	// Finish one run first: it is left out of the array.
	st, _ := store.Open(out)
	done, _ := st.Dir(g.Name, runs[0])
	done.Create()
	done.WriteResults(fakeResults(done))
	code, stdout, errs := call(t, context.Background(), noExecutor, "--grid", grid, "--out", out, "--slurm-print",
		"--partition", "gpu", "--time", "2:00:00", "--gpus-per-run", "1", "--array-parallelism", "2", "--sbatch-arg=--constraint=a100")
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, errs)
	}
	subs, warnings, err := launch.ReadSubmissions(slurmDir(out, g.Name))
	if err != nil || len(subs) != 1 || len(warnings) != 0 {
		t.Fatalf("submissions %+v %v %v", subs, warnings, err)
	}
	sub := subs[0]
	if sub.JobID != "" || len(sub.Tasks) != 5 {
		t.Errorf("record %+v: want 5 tasks and no job ID", sub)
	}
	script, err := os.ReadFile(sub.Script)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stdout, string(script)) || !strings.Contains(stdout, "(not submitted): sbatch "+sub.Script) {
		t.Errorf("printed script differs from %s:\n%s", sub.Script, stdout)
	}
	abs, _ := filepath.Abs(out)
	bin := regexp.MustCompile(`(?m)^exec (\S+) \\$`).FindStringSubmatch(string(script))
	if bin == nil || !strings.HasPrefix(bin[1], filepath.Join(abs, g.Name, "slurm", "bin", "experiments-")) {
		t.Fatalf("the script does not run the binary copy in the store:\n%s", script)
	}
	if fi, err := os.Stat(bin[1]); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("binary copy %s: %v", bin[1], err)
	}
	for _, want := range []string{"#SBATCH --array=0-4%2\n", "#SBATCH --partition=gpu\n", "#SBATCH --time=2:00:00\n",
		"#SBATCH --gres=gpu:1\n", "#SBATCH --constraint=a100\n", "--out " + abs + " \\\n",
		"--grid " + filepath.Join(filepath.Dir(sub.Script), "grid.yaml"), "--run-index-env SLURM_ARRAY_TASK_ID"} {
		if !strings.Contains(string(script), want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	if strings.Contains(string(script), done.ID) {
		t.Errorf("the finished run %s is in the script", done.ID)
	}
	if _, err := exec.LookPath("bash"); err == nil {
		if b, err := exec.Command("bash", "-n", sub.Script).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", sub.Script, err, b)
		}
	}
	// When every run is done, nothing is written.
	for _, r := range runs[1:] {
		d, _ := st.Dir(g.Name, r)
		d.Create()
		d.WriteResults(fakeResults(d))
	}
	code, stdout, _ = call(t, context.Background(), noExecutor, "--grid", grid, "--out", out, "--slurm-print")
	if code != cli.ExitOK || !strings.Contains(stdout, "nothing to submit: 6 of 6 runs are done") {
		t.Errorf("all done: exit %d\n%s", code, stdout)
	}
	if subs, _, _ := launch.ReadSubmissions(slurmDir(out, g.Name)); len(subs) != 1 {
		t.Errorf("%d submissions after the second call, want 1", len(subs))
	}
	// A store that cannot be written is refused, saying what a cluster needs.
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, nil, 0o644)
	code, _, errs = call(t, context.Background(), noExecutor, "--grid", grid, "--out", notDir, "--slurm-print")
	if code != cli.ExitFailed || !strings.Contains(errs, "every node of the cluster can write") {
		t.Errorf("unwritable store: exit %d %s", code, errs)
	}
}

// --status shows each run's state and, for submitted runs, its Slurm task and state (here
// from a stand-in squeue).
func TestStatusWithSlurm(t *testing.T) {
	grid := synthGrid(t)
	g, runs := gridRuns(t, grid)
	out := t.TempDir()
	st, _ := store.Open(out)
	d0, _ := st.Dir(g.Name, runs[0])
	d0.Create()
	d0.WriteResults(fakeResults(d0))
	d1, _ := st.Dir(g.Name, runs[1])
	d1.Create()
	d1.AppendEpoch(store.EpochRecord{Epoch: 1})
	sub := filepath.Join(slurmDir(out, g.Name), "x")
	os.MkdirAll(sub, 0o755)
	launch.WriteSubmission(sub, launch.Submission{JobID: "88", Tasks: []launch.Task{
		{Index: 0, RunID: d0.ID, Name: filepath.Base(d0.Path)}, {Index: 1, RunID: d1.ID, Name: filepath.Base(d1.Path)}}})
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "squeue"), []byte("#!/bin/sh\nprintf '88_1|PENDING|BeginTime\\n'\n"), 0o755)
	os.WriteFile(filepath.Join(bin, "sbatch"), []byte("#!/bin/sh\nexit 1\n"), 0o755)
	t.Setenv("PATH", bin+":/usr/bin:/bin")
	code, stdout, errs := call(t, context.Background(), noExecutor, "--grid", grid, "--out", out, "--status")
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, errs)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^  ` + filepath.Base(d0.Path) + `\s+done\s+88_0 \(not known to Slurm any more\)$`),
		regexp.MustCompile(`(?m)^  ` + filepath.Base(d1.Path) + `\s+partial \(1 of 3 epochs done\)\s+88_1 PENDING \(BeginTime\)$`),
		regexp.MustCompile(`(?m)^status: 1 done, 1 partial, 0 locked, 4 new$`),
	} {
		if !want.MatchString(stdout) {
			t.Errorf("status lacks %s:\n%s", want, stdout)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(out, g.Name)); len(entries) != 3 { // two runs and slurm/
		t.Errorf("--status wrote into the store: %d entries", len(entries))
	}
}

// --k8s-print writes the manifest into the store with the pods' paths under the claim's mount.
func TestK8sPrint(t *testing.T) {
	grid := synthGrid(t)
	out := t.TempDir()
	code, stdout, errs := call(t, context.Background(), noExecutor, "--grid", grid, "--out", out, "--backend", "xla:cuda",
		"--k8s-print", "--k8s-image", "registry.example/dos:1", "--k8s-pvc", "dos-store", "--array-parallelism", "3")
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, errs)
	}
	b, err := os.ReadFile(filepath.Join(out, "synth", "k8s", "job.yaml"))
	if err != nil || !strings.HasPrefix(stdout, string(b)) {
		t.Fatalf("job.yaml %v, or not what was printed", err)
	}
	for _, want := range []string{"completions: 6\n", "parallelism: 3\n", "nvidia.com/gpu: \"1\"\n", "claimName: dos-store\n",
		"- " + out + "\n", "- /workspace/datasets\n", "- xla:cuda\n", "- JOB_COMPLETION_INDEX\n", "- " + grid + "\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("manifest lacks %q:\n%s", want, b)
		}
	}
	if !strings.Contains(errs, grid+" is not under the claim's mount /workspace") || !strings.Contains(errs, "copy "+grid+" there") {
		t.Errorf("no note about the grid file: %s", errs)
	}
}

// BenchmarkGridParallel runs a whole grid (the quick grid unless OOD_BENCH_GRID names another)
// from an empty store, in this process (--parallel 1, the default) and in two worker processes
// (--parallel 2), on the pure-Go backend. Run it with -benchtime=1x: one iteration is the grid.
func BenchmarkGridParallel(b *testing.B) {
	b.Setenv(asCommandEnv, "1")
	grid := os.Getenv("OOD_BENCH_GRID")
	if grid == "" {
		grid = "quick"
	}
	for _, n := range []string{"1", "2"} {
		b.Run("parallel="+n, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				code, out, errs := call(b, context.Background(), newExecutor, "--grid", grid, "--out", b.TempDir(), "--backend", "go", "--parallel", n)
				if code != cli.ExitOK {
					b.Fatalf("exit %d\n%s\n%s", code, out, errs)
				}
			}
		})
	}
}

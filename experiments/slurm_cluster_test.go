package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oodlab/dos/internal/testutil"

	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/launch"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/internal/cli"
)

// These tests start a real one-node Slurm cluster (Debian's slurmctld, slurmd, slurm-client and
// munge) from a configuration in a temporary folder, and stop it at the end by the PIDs they
// started. They need root (slurmd and munged); without the packages, or without root, they
// skip and say why, except under .ci/run (OOD_REQUIRE_TOOLS=1), which installs the packages:
// there they fail. Test processes on one machine take turns (a lock file), since they would
// share munged. KEEP_SLURM=1 keeps the cluster's folder (configuration, daemon logs) afterwards.

// slurmPackages is what to install for these tests.
const slurmPackages = "apt-get install -y slurmctld slurmd slurm-client munge"

// slurmCluster is a running one-node cluster.
type slurmCluster struct {
	dir, conf string
}

// findTool finds a Slurm or munge program on PATH or in /usr/sbin (daemons live there, which a
// non-login PATH may lack).
func findTool(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	p := filepath.Join("/usr/sbin", name)
	if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
		return p, true
	}
	return "", false
}

// freePort returns a TCP port nothing listens on now.
func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// stopPID stops a daemon this test started: SIGTERM, then SIGKILL after 15 s.
func stopPID(t testing.TB, name string, pid int) {
	if pid <= 0 {
		return
	}
	t.Logf("stopping %s (pid %d)", name, pid)
	syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%s (pid %d) did not stop on SIGTERM: killing it", name, pid)
	syscall.Kill(pid, syscall.SIGKILL)
}

// readPID waits for a daemon's pid file and returns its PID.
func readPID(t testing.TB, path string) int {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 && syscall.Kill(pid, 0) == nil {
				return pid
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0
}

// startSlurm starts munged (unless one already answers), slurmctld and slurmd, and waits for the
// node to be idle. Everything started is stopped when the test ends, by PID, even when it fails.
func startSlurm(t testing.TB) *slurmCluster {
	t.Helper()
	tools := map[string]string{}
	for _, name := range []string{"slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo", "munged", "munge", "unmunge"} {
		p, ok := findTool(name)
		if !ok {
			testutil.MissingTool(t, name+" is not installed", slurmPackages)
		}
		tools[name] = p
	}
	if os.Geteuid() != 0 {
		testutil.MissingTool(t, "starting slurmd and munged needs root", slurmPackages)
	}
	lockClusters(t)
	// The daemons' folders must be reachable by the munge user and by slurmd's job steps.
	dir, err := os.MkdirTemp("", "slurm-test-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	c := &slurmCluster{dir: dir, conf: filepath.Join(dir, "slurm.conf")}
	var pids []struct {
		name string
		pid  int
	}
	t.Cleanup(func() {
		// Jobs first, so that no task outlives the cluster, then the daemons, newest first.
		// SLURM_CONF is named explicitly: t.Setenv's value is gone by now, and these commands
		// must reach this cluster only.
		env := append(os.Environ(), "SLURM_CONF="+c.conf)
		if len(pids) > 0 && pids[len(pids)-1].name == "slurmd" {
			scancel := exec.Command(tools["scancel"], "--user", "root")
			scancel.Env = env
			if out, err := scancel.CombinedOutput(); err != nil {
				t.Logf("scancel: %v %s", err, out)
			}
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
				squeue := exec.Command(tools["squeue"], "-h", "-o", "%i")
				squeue.Env = env
				if out, err := squeue.Output(); err != nil || len(bytes.TrimSpace(out)) == 0 {
					break
				}
			}
		}
		for i := len(pids) - 1; i >= 0; i-- {
			stopPID(t, pids[i].name, pids[i].pid)
		}
		if t.Failed() {
			for _, f := range []string{"slurmctld.log", "slurmd.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				t.Logf("last lines of %s:\n%s", f, strings.Join(lines[max(0, len(lines)-15):], "\n"))
			}
		}
		if os.Getenv("KEEP_SLURM") != "" {
			return
		}
		os.RemoveAll(dir)
	})

	if err := exec.Command("sh", "-c", tools["munge"]+" -n | "+tools["unmunge"]+" >/dev/null").Run(); err != nil {
		pid, err := startMunge(t, tools["munged"])
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, struct {
			name string
			pid  int
		}{"munged", pid})
		ok := false
		for range 100 {
			if exec.Command("sh", "-c", tools["munge"]+" -n | "+tools["unmunge"]+" >/dev/null").Run() == nil {
				ok = true
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !ok {
			t.Fatal("munged started but munge -n | unmunge fails")
		}
	}

	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ = strings.Cut(host, ".")
	for _, sub := range []string{"state", "spool"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o755)
	}
	conf := fmt.Sprintf(`ClusterName=dostest
SlurmctldHost=%[1]s
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
SlurmctldPort=%[2]d
SlurmdPort=%[3]d
StateSaveLocation=%[4]s/state
SlurmdSpoolDir=%[4]s/spool
SlurmctldPidFile=%[4]s/slurmctld.pid
SlurmdPidFile=%[4]s/slurmd.pid
SlurmctldLogFile=%[4]s/slurmctld.log
SlurmdLogFile=%[4]s/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
KillWait=10
NodeName=%[1]s CPUs=%[5]d RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
`, host, freePort(t), freePort(t), dir, runtime.NumCPU())
	if err := os.WriteFile(c.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLURM_CONF", c.conf)
	for _, d := range []string{"slurmctld", "slurmd"} {
		if out, err := exec.Command(tools[d], "-f", c.conf).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", d, err, out)
		}
		pid := readPID(t, filepath.Join(dir, d+".pid"))
		if pid == 0 {
			t.Fatalf("%s wrote no pid file", d)
		}
		pids = append(pids, struct {
			name string
			pid  int
		}{d, pid})
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _ := exec.Command(tools["sinfo"], "-h", "-o", "%t").Output()
		state := strings.TrimSpace(string(out))
		if state == "idle" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node is %q, not idle, after a minute", state)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return c
}

// lockClusters makes the tests of concurrent test processes on this machine (two `go test`
// runs) take turns: they would share munged, and one's clean-up would stop it under the other.
// The lock is a flock on a file in the temporary folder, released when the test ends or its
// process dies.
func lockClusters(t testing.TB) {
	t.Helper()
	path := filepath.Join(os.TempDir(), "oodlab-dos-slurm-test.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			t.Fatalf("%s: another test process keeps its Slurm cluster running: %v", path, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock, after the cluster's clean-up
}

// startMunge starts munged as the munge user, with a key in /etc/munge (written if absent, as
// the Debian package does), and returns its PID.
func startMunge(t testing.TB, munged string) (int, error) {
	u, err := user.Lookup("munge")
	if err != nil {
		return 0, fmt.Errorf("the munge user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	key := "/etc/munge/munge.key"
	if _, err := os.Stat(key); errors.Is(err, os.ErrNotExist) {
		b := make([]byte, 1024)
		rand.Read(b)
		os.MkdirAll("/etc/munge", 0o700)
		if err := os.WriteFile(key, b, 0o400); err != nil {
			return 0, err
		}
		os.Chown("/etc/munge", uid, gid)
		os.Chown(key, uid, gid)
	}
	for _, d := range []string{"/run/munge", "/var/log/munge", "/var/lib/munge"} {
		os.MkdirAll(d, 0o755)
		os.Chown(d, uid, gid)
	}
	cmd := exec.Command(munged)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	if out, err := cmd.CombinedOutput(); err != nil { // munged forks and its parent exits
		return 0, fmt.Errorf("munged: %v\n%s", err, out)
	}
	pid := readPID(t, "/run/munge/munged.pid")
	if pid == 0 {
		return 0, errors.New("munged wrote no pid file in /run/munge")
	}
	return pid, nil
}

// tasks returns Slurm's states of the tasks of job.
func (c *slurmCluster) tasks(t testing.TB, job string) map[string]launch.TaskState {
	t.Helper()
	states, err := launch.Queue(context.Background(), []string{job})
	if err != nil {
		t.Fatal(err)
	}
	return states
}

// waitFor polls cond every 100 ms until it holds, failing the test after limit.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// jobDone reports whether every task of job has ended (none pending, running or requeued).
func (c *slurmCluster) jobDone(t testing.TB, job string) bool {
	states := c.tasks(t, job)
	if len(states) == 0 {
		return false
	}
	for _, s := range states {
		if launch.ActiveState(s.State) {
			return false
		}
	}
	return true
}

// submit runs the command with --slurm and returns the job ID it printed.
func submit(t testing.TB, args ...string) string {
	t.Helper()
	code, out, errs := call(t, context.Background(), noExecutor, append(args, "--slurm", "--cpus-per-run", "1")...)
	if code != cli.ExitOK {
		t.Fatalf("--slurm: exit %d\n%s\n%s", code, out, errs)
	}
	m := regexp.MustCompile(`as Slurm array job (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no job ID in:\n%s", out)
	}
	return m[1]
}

// taskLogs returns the Slurm output files of a grid's submissions, concatenated.
func taskLogs(outDir, grid string) string {
	files, _ := filepath.Glob(filepath.Join(slurmDir(outDir, grid), "*", "logs", "*.out"))
	var b bytes.Buffer
	for _, f := range files {
		data, _ := os.ReadFile(f)
		fmt.Fprintf(&b, "--- %s\n%s", f, data)
	}
	return b.String()
}

// TestSlurmCluster submits grids to a real Slurm cluster: a grid finishes with results equal to
// a local run's; a task signalled with USR1 mid-training checkpoints, requeues itself, resumes
// and ends equal to an uninterrupted run; a finished grid submitted again submits nothing.
func TestSlurmCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Slurm cluster")
	}
	c := startSlurm(t)
	t.Setenv(asCommandEnv, "1") // the tasks run this test binary as the command
	local, remote := t.TempDir(), t.TempDir()
	os.Chmod(remote, 0o755)
	gridA := tinyGrid(t, "slurm-a", []string{"msp", "oe"}, 2, "")
	// One DOS run of a few seconds (30 epochs of 0.1 s here), so that a signal sent after its
	// first epoch lands in the middle of its training.
	gridB := tinyGrid(t, "slurm-b", []string{"dos"}, 30, "")
	for _, grid := range []string{gridA, gridB} {
		if code, out, errs := call(t, context.Background(), newExecutor, "--grid", grid, "--out", local, "--backend", "go"); code != cli.ExitOK {
			t.Fatalf("local run of %s: exit %d\n%s\n%s", grid, code, out, errs)
		}
	}

	t.Run("grid", func(t *testing.T) {
		g, runs := gridRuns(t, gridA)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("task output:\n%s", taskLogs(remote, g.Name))
			}
		})
		job := submit(t, "--grid", gridA, "--out", remote, "--backend", "go")
		waitFor(t, 3*time.Minute, "job "+job, func() bool { return c.jobDone(t, job) })
		for id, s := range c.tasks(t, job) {
			if s.State != "COMPLETED" {
				t.Errorf("task %s ended %s\n%s", id, s.State, taskLogs(remote, g.Name))
			}
		}
		sameResults(t, g.Name, runs, local, remote)
	})

	t.Run("requeue", func(t *testing.T) {
		g, runs, d, job, task := submitUntilFirstEpoch(t, gridB, remote)
		if res, _ := d.Results(); res != nil {
			t.Fatal("the run finished before it could be signalled: make grid B longer")
		}
		if out, err := exec.Command("scancel", "--signal=USR1", "--batch", task).CombinedOutput(); err != nil {
			t.Fatalf("scancel: %v %s", err, out)
		}
		// The task checkpoints and requeues itself; a requeued task waits for its begin time
		// (minutes): release it at once.
		waitFor(t, time.Minute, "task "+task+" requeued", func() bool {
			s := c.tasks(t, job)[task]
			if s.State != "" && s.State != "PENDING" && !launch.ActiveState(s.State) {
				t.Fatalf("task %s ended %s instead of being requeued (did the run end before the signal came?)", task, s.State)
			}
			return s.State == "PENDING"
		})
		waitFor(t, time.Minute, "task "+task+" released", func() bool {
			if c.tasks(t, job)[task].State != "PENDING" {
				return true
			}
			if out, err := exec.Command("scontrol", "update", "JobId="+task, "StartTime=now").CombinedOutput(); err != nil {
				t.Logf("scontrol update: %v %s", err, out)
			}
			return false
		})
		waitFor(t, 3*time.Minute, "job "+job, func() bool { return c.jobDone(t, job) })
		logs := taskLogs(remote, g.Name)
		if s := c.tasks(t, job)[task]; s.State != "COMPLETED" {
			t.Fatalf("task %s ended %s\n%s", task, s.State, logs)
		}
		for _, want := range []string{"USR1: the time limit is near", "Slurm task " + task + " requeued (USR1 before the time limit)",
			"Slurm task " + task + ", restart 1"} {
			if !strings.Contains(logs, want) {
				t.Errorf("task output lacks %q:\n%s", want, logs)
			}
		}
		runLog, _ := os.ReadFile(d.File(store.LogFile))
		starts := regexp.MustCompile(`(?m)^=== \S+ start run \S+ \((.*)\), pid`).FindAllStringSubmatch(string(runLog), -1)
		if len(starts) != 2 || starts[0][1] != "new" || !strings.HasPrefix(starts[1][1], "partial (") {
			t.Errorf("run.log shows %d starts (%v), want a new start and a resumed one:\n%s", len(starts), starts, runLog)
		}
		sameResults(t, g.Name, runs, local, remote)
	})

	// A user's scancel (SIGTERM, neither preemption nor the time limit) stops the run after its
	// checkpoint and is not undone by a requeue; submitting the grid again resumes the run.
	t.Run("scancel", func(t *testing.T) {
		gridC := tinyGrid(t, "slurm-c", []string{"dos"}, 30, "") // grid B's run under another name
		g, runs, d, job, task := submitUntilFirstEpoch(t, gridC, remote)
		if out, err := exec.Command("scancel", task).CombinedOutput(); err != nil {
			t.Fatalf("scancel: %v %s", err, out)
		}
		waitFor(t, time.Minute, "job "+job, func() bool { return c.jobDone(t, job) })
		time.Sleep(2 * time.Second) // a requeue, were there one, would show by now
		if s := c.tasks(t, job)[task]; s.State != "CANCELLED" {
			t.Errorf("task %s is %s after scancel, want CANCELLED", task, s.State)
		}
		st, err := d.Status(store.LockOptions{})
		if err != nil || st.State != store.Partial {
			t.Fatalf("run after scancel: %v %v, want partial", st, err)
		}
		if logs := taskLogs(remote, g.Name); !strings.Contains(logs, "neither preemption nor the time limit (scancel?): checkpoint written, task not requeued") {
			t.Errorf("task output lacks the reason it was not requeued:\n%s", logs)
		}
		job = submit(t, "--grid", gridC, "--out", remote, "--backend", "go")
		waitFor(t, 3*time.Minute, "job "+job, func() bool { return c.jobDone(t, job) })
		gB, _ := gridRuns(t, gridB)
		sameResultsOf(t, runs, gB.Name, local, g.Name, remote)
	})

	t.Run("resubmit", func(t *testing.T) {
		g, _ := gridRuns(t, gridA)
		before, _, _ := launch.ReadSubmissions(slurmDir(remote, g.Name))
		code, out, errs := call(t, context.Background(), noExecutor, "--grid", gridA, "--out", remote, "--backend", "go", "--slurm")
		if code != cli.ExitOK || !strings.Contains(out, "grid slurm-a: nothing to submit: 2 of 2 runs are done") {
			t.Errorf("second submission: exit %d\n%s\n%s", code, out, errs)
		}
		after, _, _ := launch.ReadSubmissions(slurmDir(remote, g.Name))
		if len(after) != len(before) {
			t.Errorf("%d submissions before, %d after", len(before), len(after))
		}
		// --status shows the tasks and Slurm's states.
		code, out, _ = call(t, context.Background(), noExecutor, "--grid", gridA, "--out", remote, "--status")
		if code != cli.ExitOK || strings.Count(out, " COMPLETED\n") != 2 || !strings.Contains(out, "status: 2 done") {
			t.Errorf("--status: exit %d\n%s", code, out)
		}
	})
}

// submitUntilFirstEpoch submits the grid at path (one run) to Slurm with its store under remote
// and waits for the run's first epoch record; it returns the grid, its runs, the run's folder,
// the job and the task. If the test fails, the task output and run.log are logged at its end.
func submitUntilFirstEpoch(t *testing.T, path, remote string) (*config.Grid, []*config.Run, *store.RunDir, string, string) {
	t.Helper()
	g, runs := gridRuns(t, path)
	d, _ := (&store.Store{Root: remote}).Dir(g.Name, runs[0])
	t.Cleanup(func() {
		if t.Failed() {
			runLog, _ := os.ReadFile(d.File(store.LogFile))
			t.Logf("task output:\n%s\nrun.log:\n%s", taskLogs(remote, g.Name), runLog)
		}
	})
	job := submit(t, "--grid", path, "--out", remote, "--backend", "go")
	waitFor(t, 2*time.Minute, "the first epoch of "+d.Path, func() bool {
		recs, _ := d.Epochs()
		return len(recs) >= 1
	})
	return g, runs, d, job, job + "_0"
}

// BenchmarkSlurmTaskOverhead measures what Slurm adds to a run: the time from submitting a
// one-run grid with --slurm to its results, minus the time of the same run started directly as
// a worker process. Both include starting the process and loading the data; the difference is
// sbatch, scheduling and the task's launch, that is the delay before the first iteration.
func BenchmarkSlurmTaskOverhead(b *testing.B) {
	startSlurm(b)
	b.Setenv(asCommandEnv, "1")
	remote, local := b.TempDir(), b.TempDir()
	os.Chmod(remote, 0o755)
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	// The binary copy is made once per grid; make it before timing.
	if _, err := copyExecutable(filepath.Join(slurmDir(remote, "overhead"), "bin")); err != nil {
		b.Fatal(err)
	}
	var viaSlurm, direct time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		grid := tinyGrid(b, "overhead", []string{"msp"}, 2, "")
		os.WriteFile(grid, bytes.Replace(must(os.ReadFile(grid)), []byte("seed: [1]"), []byte(fmt.Sprintf("seed: [%d]", 100+i)), 1), 0o644)
		g, runs := gridRuns(b, grid)
		id, _ := runs[0].ID()

		start := time.Now()
		cmd := exec.Command(self, "--grid", grid, "--out", local, "--backend", "go", "--run", id)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("worker: %v\n%s", err, out)
		}
		direct += time.Since(start)

		start = time.Now()
		job := submit(b, "--grid", grid, "--out", remote, "--backend", "go")
		d, _ := (&store.Store{Root: remote}).Dir(g.Name, runs[0])
		waitFor(b, 2*time.Minute, "job "+job, func() bool {
			res, _ := d.Results()
			return res != nil
		})
		viaSlurm += time.Since(start)
	}
	n := float64(b.N)
	b.ReportMetric(viaSlurm.Seconds()/n, "s/slurm-run")
	b.ReportMetric(direct.Seconds()/n, "s/direct-run")
	b.ReportMetric((viaSlurm-direct).Seconds()/n, "s/task-overhead")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

package store

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/metrics"
)

// failAfter is a writer that accepts n bytes, then fails like a full disk.

// testRun returns a valid small run with the given seed.
func testRun(t testing.TB, seed uint64) *config.Run {
	r, err := config.Defaults("msp")
	if err != nil {
		t.Fatal(err)
	}
	r.Seed = seed
	r.Network = "mlp"
	return r
}

func TestRunDirRecords(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := testRun(t, 3)
	d, err := s.Dir("g", r)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(s.Root, "g", "msp-s3-"+d.ID); d.Path != want {
		t.Errorf("path %s, want %s", d.Path, want)
	}
	if st, _ := d.Status(LockOptions{}); st.State != New || st.String() != "new" {
		t.Errorf("fresh run: %v", st)
	}
	if err := d.Create(); err != nil {
		t.Fatal(err)
	}
	back, err := config.Load(d.File(ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := back.ID(); id != d.ID {
		t.Errorf("config.yaml reads back as %s, want %s", id, d.ID)
	}
	// Create again with another backend: same run.
	r2 := r.Clone()
	r2.Backend = "go"
	d2, _ := s.Dir("g", r2)
	if err := d2.Create(); err != nil {
		t.Errorf("re-create with another backend: %v", err)
	}
	acc := 0.5
	for e := 1; e <= 3; e++ {
		if err := d.AppendEpoch(EpochRecord{Epoch: e, Loss: 1 / float64(e), LR: 0.1, TestAcc: &acc,
			FPR95: map[string]float64{"svhn": 0.3}}); err != nil {
			t.Fatal(err)
		}
	}
	// A crash mid-line leaves a torn tail: ignored by readers, cut by the
	// next append.
	f, _ := os.OpenFile(d.File(MetricsFile), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"epoch":4,"lo`)
	f.Close()
	recs, err := d.Epochs()
	if err != nil || len(recs) != 3 || recs[2].Epoch != 3 || *recs[0].TestAcc != 0.5 || recs[1].FPR95["svhn"] != 0.3 {
		t.Fatalf("Epochs() = %+v, %v", recs, err)
	}
	if st, _ := d.Status(LockOptions{}); st.State != Partial || st.String() != "partial (3 of 100 epochs done)" {
		t.Errorf("status %q", st)
	}
	if err := d.AppendEpoch(EpochRecord{Epoch: 4}); err != nil {
		t.Fatal(err)
	}
	if recs, err := d.Epochs(); err != nil || len(recs) != 4 {
		t.Errorf("after repair: %d records, %v", len(recs), err)
	}
	// Locked.
	lk, err := Lock(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := d.Status(LockOptions{}); st.State != Locked || !strings.Contains(st.String(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("status while locked: %q", st)
	}
	if err := lk.Unlock(); err != nil {
		t.Fatal(err)
	}
	// Done.
	res := fullResults(d)
	res.Sets["svhn"] = metrics.Result{NumID: 10, NumOOD: 10, FPR95: 0.25, AUROC: 0.9}
	res.IDAccuracy = 0.75
	if err := d.WriteResults(res); err != nil {
		t.Fatal(err)
	}
	got, err := d.Results()
	if err != nil || got.Sets["svhn"].FPR95 != 0.25 || got.IDAccuracy != 0.75 || got.Code.GoVersion == "" {
		t.Errorf("Results() = %+v, %v", got, err)
	}
	if st, _ := d.Status(LockOptions{}); st.State != Done {
		t.Errorf("status %q, want done", st)
	}
	// Corrupt results are reported, naming the file, not taken as done.
	os.WriteFile(d.File(ResultsFile), []byte(`{"run_id": "`+d.ID+`", "sets": {`), 0o644)
	st, _ := d.Status(LockOptions{})
	if st.State != Corrupt || !strings.Contains(st.String(), d.File(ResultsFile)) {
		t.Errorf("corrupt results: status %q", st)
	}
	if _, err := d.Results(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Results() on corrupt file: %v", err)
	}
}

func TestLockStaleTakeover(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, LockFile)
	opts := LockOptions{Heartbeat: 20 * time.Millisecond, Stale: time.Minute}
	writeLock := func(info LockInfo) {
		b, _ := json.Marshal(info)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A fresh heartbeat from another host: locked.
	writeLock(LockInfo{PID: 1, Host: "elsewhere", Started: time.Now(), Heartbeat: time.Now(), Token: "x"})
	_, err := LockWith(dir, opts)
	var le *LockedError
	if !errors.As(err, &le) || le.Holder.Host != "elsewhere" {
		t.Fatalf("fresh foreign lock: %v", err)
	}
	// An old heartbeat from another host: taken over.
	old := time.Now().Add(-time.Hour)
	writeLock(LockInfo{PID: 1, Host: "elsewhere", Started: old, Heartbeat: old, Token: "x"})
	os.Chtimes(path, old, old)
	lk, err := LockWith(dir, opts)
	if err != nil {
		t.Fatalf("stale foreign lock not taken over: %v", err)
	}
	if lk.Info().PID != os.Getpid() {
		t.Errorf("holder %+v", lk.Info())
	}
	// The heartbeat refreshes the file.
	first := lk.Info().Heartbeat
	time.Sleep(80 * time.Millisecond)
	st, err := inspectLock(path, opts)
	if err != nil || !st.info.Heartbeat.After(first) || st.info.Token != lk.Info().Token {
		t.Errorf("heartbeat not refreshed: %+v %v", st.info, err)
	}
	// A second holder in this process is refused (pid alive).
	if _, err := LockWith(dir, opts); !errors.As(err, &le) {
		t.Errorf("second lock in the same process: %v", err)
	}
	if err := lk.Unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file left after Unlock: %v", err)
	}
	// A dead process on this host: taken over at once.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	writeLock(LockInfo{PID: cmd.Process.Pid, Host: host, Started: time.Now(), Heartbeat: time.Now(), Token: "y"})
	lk, err = LockWith(dir, opts)
	if err != nil {
		t.Fatalf("lock of a dead process not taken over: %v", err)
	}
	// Someone takes the lock away (we stalled): Lost fires, Unlock says so,
	// and the new holder's file is left alone.
	os.Remove(path)
	writeLock(LockInfo{PID: 1, Host: "elsewhere", Started: time.Now(), Heartbeat: time.Now(), Token: "z"})
	select {
	case <-lk.Lost():
	case <-time.After(2 * time.Second):
		t.Fatal("Lost not closed after takeover")
	}
	if err := lk.Unlock(); err == nil {
		t.Error("Unlock of a lost lock gave no error")
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), `"z"`) {
		t.Errorf("new holder's lock file changed: %s", b)
	}
}

// fakeExec records executions and writes results.
type fakeExec struct {
	mu     sync.Mutex
	count  map[string]int
	record string // if set, append "pid id" lines to this file
	delay  time.Duration
}

func (f *fakeExec) Execute(ctx context.Context, run *config.Run, dir *RunDir, log io.Writer) error {
	f.mu.Lock()
	f.count[dir.ID]++
	f.mu.Unlock()
	if f.record != "" {
		fh, err := os.OpenFile(f.record, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		fmt.Fprintf(fh, "%d %s\n", os.Getpid(), dir.ID)
		fh.Close()
	}
	for e := 1; e <= 2; e++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(f.delay):
		}
		if err := dir.AppendEpoch(EpochRecord{Epoch: e}); err != nil {
			return err
		}
	}
	fmt.Fprintln(log, "trained")
	return dir.WriteResults(fullResults(dir))
}

// fullResults is a results.json with metrics for every test set of d's run.
func fullResults(d *RunDir) *Results {
	res := NewResults(d.ID)
	res.Epochs = d.Run.Epochs
	for _, set := range d.Run.Benchmark.Tests {
		res.Sets[set] = metrics.Result{NumID: 10, NumOOD: 10, FPR95: 0.5, AUROC: 0.5}
	}
	return res
}

func testRuns(t testing.TB, n int) []*config.Run {
	runs := make([]*config.Run, n)
	for i := range runs {
		runs[i] = testRun(t, uint64(i+1))
	}
	return runs
}

func TestTwoRunnersGoroutines(t *testing.T) {
	s, _ := Open(t.TempDir())
	runs := testRuns(t, 10)
	ex := &fakeExec{count: map[string]int{}, delay: 5 * time.Millisecond}
	var wg sync.WaitGroup
	sums := make([]Summary, 2)
	for i := range sums {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rn := &Runner{Store: s, Grid: "g", Exec: ex}
			sum, err := rn.Run(context.Background(), runs)
			if err != nil {
				t.Error(err)
			}
			sums[i] = sum
		}()
	}
	wg.Wait()
	for _, r := range runs {
		id, _ := r.ID()
		if ex.count[id] != 1 {
			t.Errorf("run %s executed %d times", id, ex.count[id])
		}
	}
	if sums[0].Ran+sums[1].Ran != len(runs) || sums[0].Failed+sums[1].Failed != 0 {
		t.Errorf("summaries %+v %+v", sums[0], sums[1])
	}
	// A third pass finds everything done and executes nothing.
	var out strings.Builder
	rn := &Runner{Store: s, Grid: "g", Exec: ex, Progress: &out}
	sum, err := rn.Run(context.Background(), runs)
	if err != nil || sum.Done != len(runs) || sum.Ran != 0 {
		t.Errorf("third pass: %+v %v", sum, err)
	}
	if !strings.Contains(out.String(), "[g] 10/10 done") {
		t.Errorf("grid line missing:\n%s", out.String())
	}
}

// Child-process modes of the test binary, chosen by STORE_TEST_CHILD.
const childEnv = "STORE_TEST_CHILD"

// TestMain runs the child side of the two-process tests when the test
// binary is re-executed with STORE_TEST_CHILD set, and the tests otherwise.
func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "runner":
		s, _ := Open(os.Getenv("STORE_TEST_ROOT"))
		n, _ := strconv.Atoi(os.Getenv("STORE_TEST_RUNS"))
		ex := &fakeExec{count: map[string]int{}, record: os.Getenv("STORE_TEST_RECORD"), delay: 5 * time.Millisecond}
		rn := &Runner{Store: s, Grid: "g", Exec: ex}
		runs := make([]*config.Run, n)
		for i := range runs {
			r, err := config.Defaults("msp")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(3)
			}
			r.Seed, r.Network = uint64(i+1), "mlp"
			runs[i] = r
		}
		if _, err := rn.Run(context.Background(), runs); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		os.Exit(0)
	case "hold":
		lk, err := Lock(os.Getenv("STORE_TEST_ROOT"))
		if err != nil {
			fmt.Println("error", err)
			os.Exit(3)
		}
		fmt.Println("locked", lk.Info().PID)
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func child(t *testing.T, mode string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"="+mode), env...)
	cmd.Stderr = os.Stderr
	return cmd
}

func TestTwoRunnersProcesses(t *testing.T) {
	root := t.TempDir()
	record := filepath.Join(root, "executions.txt")
	const n = 12
	cmd := child(t, "runner", "STORE_TEST_ROOT="+root, "STORE_TEST_RUNS="+strconv.Itoa(n), "STORE_TEST_RECORD="+record)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s, _ := Open(root)
	ex := &fakeExec{count: map[string]int{}, record: record, delay: 5 * time.Millisecond}
	rn := &Runner{Store: s, Grid: "g", Exec: ex}
	if _, err := rn.Run(context.Background(), testRuns(t, n)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child runner: %v", err)
	}
	data, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	perID := map[string]int{}
	perPID := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		pid, id, _ := strings.Cut(line, " ")
		perID[id]++
		perPID[pid]++
	}
	for _, r := range testRuns(t, n) {
		id, _ := r.ID()
		if perID[id] != 1 {
			t.Errorf("run %s executed %d times across processes", id, perID[id])
		}
		d, _ := s.Dir("g", r)
		if st, _ := d.Status(LockOptions{}); st.State != Done {
			t.Errorf("run %s: %v", id, st)
		}
	}
	t.Logf("executions per process: %v", perPID)
}

func TestLockAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	cmd := child(t, "hold", "STORE_TEST_ROOT="+dir)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if !strings.HasPrefix(line, "locked") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q", line)
	}
	_, err := Lock(dir)
	var le *LockedError
	if !errors.As(err, &le) || le.Holder.PID != cmd.Process.Pid {
		t.Errorf("lock held by a live child process: %v", err)
	}
	// The child dies without unlocking: its lock is taken over.
	cmd.Process.Kill()
	cmd.Wait()
	lk, err := Lock(dir)
	if err != nil {
		t.Fatalf("lock of a killed process not taken over: %v", err)
	}
	lk.Unlock()
}

func TestRunnerCancelAndFailures(t *testing.T) {
	s, _ := Open(t.TempDir())
	runs := testRuns(t, 3)
	// Corrupt results on run 1: reported, not executed, others continue.
	d, _ := s.Dir("g", runs[0])
	d.Create()
	os.WriteFile(d.File(ResultsFile), []byte("{"), 0o644)
	ex := &fakeExec{count: map[string]int{}, delay: time.Millisecond}
	rn := &Runner{Store: s, Grid: "g", Exec: ex}
	sum, err := rn.Run(context.Background(), runs)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 1 || sum.Ran != 2 || ex.count[d.ID] != 0 || !strings.Contains(sum.Err().Error(), d.File(ResultsFile)) {
		t.Errorf("summary %+v, executions %v", sum, ex.count)
	}
	// Cancellation: the executor sees ctx and the runner stops.
	more := testRuns(t, 6)[3:]
	ctx, cancel := context.WithCancel(context.Background())
	slow := &fakeExec{count: map[string]int{}, delay: time.Hour}
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	rn = &Runner{Store: s, Grid: "g", Exec: slow}
	if _, err := rn.Run(ctx, more); !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel: %v", err)
	}
	if len(slow.count) != 1 {
		t.Errorf("executed %d runs after cancel, want 1", len(slow.count))
	}
	d, _ = s.Dir("g", more[0])
	if _, err := os.Stat(d.File(LockFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock left after cancel: %v", err)
	}
	if log, _ := os.ReadFile(d.File(LogFile)); !strings.Contains(string(log), "stopped after") {
		t.Errorf("run.log does not record the stop:\n%s", log)
	}
}

// failingExec fails its first execution after one epoch, then behaves like fakeExec.
type failingExec struct {
	fakeExec
	failed bool
}

func (f *failingExec) Execute(ctx context.Context, run *config.Run, dir *RunDir, log io.Writer) error {
	if !f.failed {
		f.failed = true
		if err := dir.AppendEpoch(EpochRecord{Epoch: 1}); err != nil {
			return err
		}
		return errors.New("loss is NaN at epoch 1, iteration 7")
	}
	return f.fakeExec.Execute(ctx, run, dir, log)
}

// TestFailureRecorded: a failed run is reported as failed (not silently partial) with its error,
// nothing is marked done, and a later successful attempt clears the failure.
func TestFailureRecorded(t *testing.T) {
	s, _ := Open(t.TempDir())
	runs := testRuns(t, 1)
	ex := &failingExec{fakeExec: fakeExec{count: map[string]int{}}}
	rn := &Runner{Store: s, Grid: "g", Exec: ex}
	sum, _ := rn.Run(context.Background(), runs)
	if sum.Failed != 1 || sum.Done != 0 {
		t.Fatalf("summary %+v, want one failed run", sum)
	}
	d, _ := s.Dir("g", runs[0])
	st, err := d.Status(LockOptions{})
	if err != nil || st.State != Partial || !strings.Contains(st.Failure, "NaN at epoch 1") ||
		!strings.HasPrefix(st.String(), "failed in epoch 2 of 100 (1 done)") {
		t.Fatalf("status after failure %+v (%q), %v", st, st, err)
	}
	if _, err := rn.Run(context.Background(), runs); err != nil {
		t.Fatal(err)
	}
	if st, _ := d.Status(LockOptions{}); st.State != Done || st.Failure != "" {
		t.Fatalf("status after a successful retry %+v", st)
	}
}

// TestCodeRevision: test binaries carry no VCS stamp, so the revision comes from git when the
// tests run in a checkout (as in CI) and matches git's answer.
func TestCodeRevision(t *testing.T) {
	want, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skip("not in a git checkout: no revision to compare with")
	}
	c := Code()
	if c.Revision != strings.TrimSpace(string(want)) || c.RevisionSource == "" || c.GoVersion == "" {
		t.Fatalf("Code() = %+v, want revision %s", c, want)
	}
}

// blockingExec waits for its context to end (as the trainer does after writing a checkpoint).
type blockingExec struct{ started chan struct{} }

func (b *blockingExec) Execute(ctx context.Context, _ *config.Run, _ *RunDir, _ io.Writer) error {
	close(b.started)
	<-ctx.Done()
	return ctx.Err()
}

// A runner whose lock is taken over stops the run and says by whom (not "context canceled").
func TestLockLostSaysWho(t *testing.T) {
	st, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	run := testRun(t, 1)
	ex := &blockingExec{started: make(chan struct{})}
	rn := &Runner{Store: st, Grid: "g", Exec: ex, Lock: LockOptions{Heartbeat: 10 * time.Millisecond, Stale: time.Minute}}
	go func() {
		<-ex.started
		d, _ := st.Dir("g", run)
		b, _ := json.Marshal(LockInfo{PID: 4242, Host: "elsewhere", Started: time.Now(), Heartbeat: time.Now(), Token: "other"})
		os.Remove(d.File(LockFile)) // a takeover replaces the lock file
		os.WriteFile(d.File(LockFile), b, 0o644)
	}()
	sum, err := rn.Run(context.Background(), []*config.Run{run})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 1 || !strings.Contains(sum.Err().Error(), "taken over by pid 4242 on elsewhere") {
		t.Fatalf("summary %+v", sum)
	}
}

// The next start of a run removes the temporary files a killed process left (but a config.yaml
// being written by another runner), and says so in run.log.
func TestStartCleansTemporaryFiles(t *testing.T) {
	st, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	run := testRun(t, 1)
	d, _ := st.Dir("g", run)
	if err := d.Create(); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(d.File(CheckpointDir), 0o755)
	left := []string{filepath.Join(d.File(CheckpointDir), ".training.ckpt.tmp-123"), d.File(".results.json.tmp-456")}
	fresh := d.File(".config.yaml.tmp-789")
	for _, f := range append(left, fresh) {
		os.WriteFile(f, []byte("half"), 0o644)
	}
	rn := &Runner{Store: st, Grid: "g", Exec: &fakeExec{count: map[string]int{}}}
	if _, err := rn.Run(context.Background(), []*config.Run{run}); err != nil {
		t.Fatal(err)
	}
	for _, f := range left {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind", f)
		}
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a fresh config.yaml temporary file was removed: %v", err)
	}
	if log, _ := os.ReadFile(d.File(LogFile)); !strings.Contains(string(log), "removed 2 temporary files") {
		t.Errorf("run.log does not mention the cleanup:\n%s", log)
	}
}

// A results.json without every test set of the run (or with another number of epochs) is not
// "done": a hand-written or truncated one is reported as corrupt.
func TestIncompleteResultsNotDone(t *testing.T) {
	st, _ := Open(t.TempDir())
	run := testRun(t, 1)
	d, _ := st.Dir("g", run)
	if err := d.Create(); err != nil {
		t.Fatal(err)
	}
	empty := NewResults(d.ID)
	empty.Epochs = run.Epochs
	if err := d.WriteResults(empty); err != nil {
		t.Fatal(err)
	}
	s, err := d.Status(LockOptions{})
	if err != nil || s.State != Corrupt || !strings.Contains(s.String(), "no metrics of test set") {
		t.Fatalf("status %v, %v", s, err)
	}
	if err := d.WriteResults(fullResults(d)); err != nil {
		t.Fatal(err)
	}
	if s, _ := d.Status(LockOptions{}); s.State != Done {
		t.Fatalf("complete results: %v", s)
	}
}

// TestDirOldSweepName: a sweep run stored before run names showed swept values
// (<method>-s<seed>-<id>) is found under that name, with the same ID, rather than trained again;
// a new one gets the new name.
func TestDirOldSweepName(t *testing.T) {
	s := &Store{Root: t.TempDir()}
	r := testRun(t, 3)
	r.Variant = []config.Setting{{Key: "optim.lr", Value: "0.02"}}
	d, err := s.Dir("g", r)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := r.ID()
	if base := filepath.Base(d.Path); base != "msp-s3-lr0.02-"+id {
		t.Fatalf("new sweep run in %s, want msp-s3-lr0.02-%s", base, id)
	}
	old := filepath.Join(s.Root, "g", "msp-s3-"+id)
	if err := os.MkdirAll(old, 0o755); err != nil {
		t.Fatal(err)
	}
	if d, err = s.Dir("g", r); err != nil || d.Path != old {
		t.Fatalf("with an old directory: %v, %v; want %s", d, err, old)
	}
	// Once the run has a directory under its new name, that one is used.
	if err := os.MkdirAll(filepath.Join(s.Root, "g", "msp-s3-lr0.02-"+id), 0o755); err != nil {
		t.Fatal(err)
	}
	if d, err = s.Dir("g", r); err != nil || filepath.Base(d.Path) != "msp-s3-lr0.02-"+id {
		t.Fatalf("with both directories: %v, %v", d, err)
	}
}

package launch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a worker (see TestMain): its value is the mode.
const helperEnv = "OOD_LAUNCH_TEST_WORKER"

// TestMain runs the test binary as a worker process when helperEnv is set:
//
//	report    prints the CPUs it may run on, runtime.NumCPU and GOMAXPROCS
//	progress  draws a progress bar (carriage returns) and prints a line
//	count     counts the workers running at once through files in the folder $2
//	block     waits for SIGINT, counts the signals for 300 ms, prints them, exits 130
//	fail      prints to stderr and exits 1
//	stubborn  ignores SIGINT and SIGTERM for a minute
func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "report":
		cpus := allowedCPUs()
		fmt.Printf("cpus=%v numcpu=%d gomaxprocs=%d env=%s\n", cpus, runtime.NumCPU(), runtime.GOMAXPROCS(0), os.Getenv("GOMAXPROCS"))
	case "progress":
		for i := 1; i <= 3; i++ {
			fmt.Printf("\repoch 1/1 [%s] %d/3", strings.Repeat("#", i), i)
			time.Sleep(100 * time.Millisecond)
		}
		fmt.Print("\r\033[K")
		fmt.Println("epoch 1/1 loss 0.5")
	case "count":
		dir := os.Args[len(os.Args)-1]
		mine := filepath.Join(dir, strconv.Itoa(os.Getpid()))
		os.WriteFile(mine, nil, 0o644)
		time.Sleep(300 * time.Millisecond)
		entries, _ := os.ReadDir(dir)
		fmt.Printf("running=%d\n", len(entries))
		time.Sleep(100 * time.Millisecond)
		os.Remove(mine)
	case "block":
		sigs := make(chan os.Signal, 4)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		fmt.Println("started")
		<-sigs
		n := 1
		timeout := time.After(300 * time.Millisecond)
	count:
		for {
			select {
			case <-sigs:
				n++
			case <-timeout:
				break count
			}
		}
		fmt.Printf("checkpointed after %d signals\n", n)
		os.Exit(130)
	case "fail":
		fmt.Fprintln(os.Stderr, "experiments: the loss is NaN")
		os.Exit(1)
	case "stubborn":
		sigs := make(chan os.Signal, 4)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		fmt.Println("started")
		for {
			select {
			case <-sigs:
				fmt.Println("ignored a signal")
			case <-time.After(time.Minute):
				os.Exit(0)
			}
		}
	}
	os.Exit(0)
}

// helperPool is a pool whose workers are this test binary in the given mode.
func helperPool(t *testing.T, mode string, slots []Slot, out *syncBuffer) *Pool {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return &Pool{Command: exe, Env: append(os.Environ(), helperEnv+"="+mode), Slots: slots, Out: out}
}

// syncBuffer is a strings.Builder safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Each worker of PlanCPU runs on its own share of the CPUs: bound to them (Linux), with
// runtime.NumCPU (which sizes the pure-Go backend's thread pool) and GOMAXPROCS equal to the
// share's size.
func TestPlanCPUPinsEachWorker(t *testing.T) {
	all := AllowedCPUs()
	for _, n := range []int{1, len(all)} {
		t.Run(fmt.Sprintf("%d workers", n), func(t *testing.T) {
			slots, err := PlanCPU(n)
			if err != nil {
				t.Fatal(err)
			}
			out := &syncBuffer{}
			jobs := make([]Job, n)
			for i := range jobs {
				jobs[i] = Job{Name: fmt.Sprintf("job%d", i)}
			}
			if _, err := helperPool(t, "report", slots, out).Run(context.Background(), jobs); err != nil {
				t.Fatal(err)
			}
			line := regexp.MustCompile(`(?m)^\[(w\d+) job\d+\] cpus=\[([0-9 ]*)\] numcpu=(\d+) gomaxprocs=(\d+) env=(\d+)$`)
			found := line.FindAllStringSubmatch(out.String(), -1)
			if len(found) != n {
				t.Fatalf("%d report lines, want %d:\n%s", len(found), n, out.String())
			}
			var seen []int
			for _, f := range found {
				i, _ := strconv.Atoi(strings.TrimPrefix(f[1], "w"))
				slot := slots[i-1]
				share := strconv.Itoa(len(slot.CPUs))
				if f[4] != share || f[5] != share {
					t.Errorf("%s: GOMAXPROCS %s (env %s), want %s", f[1], f[4], f[5], share)
				}
				if runtime.GOOS == "linux" {
					if f[2] != strings.Trim(fmt.Sprint(slot.CPUs), "[]") || f[3] != share {
						t.Errorf("%s: runs on CPUs [%s] (NumCPU %s), want %v", f[1], f[2], f[3], slot.CPUs)
					}
				}
				seen = append(seen, slot.CPUs...)
			}
			sort.Ints(seen)
			if len(slices.Compact(slices.Clone(seen))) != len(seen) {
				t.Errorf("workers share CPUs: %v", seen)
			}
		})
	}
}

func TestPlans(t *testing.T) {
	all := AllowedCPUs()
	slots, err := PlanCPU(len(all) + 1) // more workers than CPUs: one CPU each, round-robin
	if err != nil {
		t.Fatal(err)
	}
	if last := slots[len(slots)-1]; len(last.CPUs) != 1 || last.CPUs[0] != all[0] || !slices.Contains(last.Env, "GOMAXPROCS=1") {
		t.Errorf("worker %d of %d on %d CPUs: %+v", len(slots), len(slots), len(all), last)
	}
	g, err := PlanGPU(3, []string{"0", "2"})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"0", "2", "0"} {
		if !slices.Contains(g[i].Env, "CUDA_VISIBLE_DEVICES="+want) || g[i].Device != "GPU "+want || len(g[i].CPUs) != 0 {
			t.Errorf("GPU worker %d: %+v, want GPU %s", i, g[i], want)
		}
	}
	for _, bad := range [][]string{nil, {"0,1"}, {""}} {
		if _, err := PlanGPU(2, bad); err == nil {
			t.Errorf("PlanGPU(2, %q) accepted", bad)
		}
	}
	if _, err := PlanCPU(0); err == nil {
		t.Error("PlanCPU(0) accepted")
	}
	if got := cpuName([]int{0, 1, 2}); got != "CPUs 0-2" {
		t.Errorf("cpuName = %q", got)
	}
	if got := cpuName([]int{0, 2}); got != "CPUs 0,2" {
		t.Errorf("cpuName = %q", got)
	}
}

// The pool runs every job once, never more than one per slot at a time, and reports failures
// with the worker's last lines.
func TestPoolRunsJobsSlotsAtATime(t *testing.T) {
	dir := t.TempDir()
	slots := []Slot{{Label: "w1", Device: "CPU 0"}, {Label: "w2", Device: "CPU 1"}}
	out := &syncBuffer{}
	var jobs []Job
	for i := range 5 {
		jobs = append(jobs, Job{Name: fmt.Sprintf("job%d", i), Args: []string{dir}})
	}
	res, err := helperPool(t, "count", slots, out).Run(context.Background(), jobs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 5 {
		t.Fatalf("%d results, want 5", len(res))
	}
	most := 0
	for _, m := range regexp.MustCompile(`running=(\d+)`).FindAllStringSubmatch(out.String(), -1) {
		n, _ := strconv.Atoi(m[1])
		most = max(most, n)
	}
	if most != 2 {
		t.Errorf("at most %d workers ran at once, want 2:\n%s", most, out.String())
	}
	for i := range 5 {
		if c := strings.Count(out.String(), fmt.Sprintf("start job%d on", i)); c != 1 {
			t.Errorf("job%d started %d times", i, c)
		}
	}

	out = &syncBuffer{}
	res, err = helperPool(t, "fail", slots[:1], out).Run(context.Background(), []Job{{Name: "bad"}})
	if err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	if len(res) != 1 || !errors.As(res[0].Err, &ee) || ee.ExitCode() != 1 || !slices.Contains(res[0].Tail, "experiments: the loss is NaN") {
		t.Errorf("failed worker: %+v", res)
	}
	if !strings.Contains(out.String(), "[w1] bad: FAILED: exit status 1") {
		t.Errorf("no failure line:\n%s", out.String())
	}
	// A worker that cannot start fails its job, and the next job gets the slot.
	out = &syncBuffer{}
	p := helperPool(t, "", slots[:1], out)
	p.Command = filepath.Join(t.TempDir(), "missing")
	res, err = p.Run(context.Background(), []Job{{Name: "x"}, {Name: "y"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Job.Name != "x" || res[1].Job.Name != "y" || res[0].Err == nil || res[1].Err == nil {
		t.Errorf("unstartable worker: %+v", res)
	}
	if !strings.Contains(out.String(), "[w1] x: FAILED: starting worker "+p.Command) {
		t.Errorf("no failure line:\n%s", out.String())
	}
}

// Cancelling stops every running worker with exactly one SIGINT (a second would kill it before
// its checkpoint), starts no further job, and returns the context's error.
func TestPoolInterruptSignalsEachWorkerOnce(t *testing.T) {
	slots := []Slot{{Label: "w1"}, {Label: "w2"}}
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for strings.Count(out.String(), "] started") < 2 {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	res, err := helperPool(t, "block", slots, out).Run(ctx, []Job{{Name: "a"}, {Name: "b"}, {Name: "c"}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v, want context.Canceled", err)
	}
	if len(res) != 2 {
		t.Errorf("%d workers ended, want 2 (the third job must not start)", len(res))
	}
	if strings.Contains(out.String(), "start c") {
		t.Errorf("job c started after the interrupt:\n%s", out.String())
	}
	if n := strings.Count(out.String(), "checkpointed after 1 signals"); n != 2 {
		t.Errorf("%d workers saw exactly one signal, want 2:\n%s", n, out.String())
	}
}

// With HandleSignals, the first SIGINT the parent receives is passed on to the workers once,
// and a second kills them at once.
func TestPoolSecondSignalKills(t *testing.T) {
	out := &syncBuffer{}
	p := helperPool(t, "stubborn", []Slot{{Label: "w1"}}, out)
	p.HandleSignals = true
	go func() {
		for !strings.Contains(out.String(), "] started") {
			time.Sleep(10 * time.Millisecond)
		}
		syscall.Kill(os.Getpid(), syscall.SIGINT)
		for !strings.Contains(out.String(), "] ignored a signal") {
			time.Sleep(10 * time.Millisecond)
		}
		syscall.Kill(os.Getpid(), syscall.SIGINT)
	}()
	start := time.Now()
	res, err := p.Run(context.Background(), []Job{{Name: "a"}, {Name: "b"}})
	if !errors.Is(err, context.Canceled) || len(res) != 1 || res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "killed") {
		t.Errorf("Run = %+v, %v; want the worker killed and context.Canceled", res, err)
	}
	if time.Since(start) > 20*time.Second || strings.Count(out.String(), "ignored a signal") != 1 {
		t.Errorf("after %s:\n%s", time.Since(start), out.String())
	}
}

// The live display redraws one line per worker in place: on a terminal the screen shows the
// worker's progress while it runs, and only the event lines (start, finish) at the end.
func TestPoolLiveDisplay(t *testing.T) {
	out := &syncBuffer{}
	p := helperPool(t, "progress", []Slot{{Label: "w1", Device: "CPU 0"}}, out)
	p.Live = true
	p.Header = func() string { return "grid g: 0/1 done" }
	var during []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				during = append(during, strings.Join(screen(out.String()), "\n"))
			}
		}
	}()
	if _, err := p.Run(context.Background(), []Job{{Name: "run1"}}); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	sawBar := false
	for _, s := range during {
		sawBar = sawBar || strings.Contains(s, "w1 CPU 0    run1: epoch 1/1 [#")
	}
	if !sawBar {
		t.Errorf("the progress bar never showed in the worker's line; screens:\n%s", strings.Join(during, "\n--\n"))
	}
	final := screen(out.String())
	want := []string{"[w1] start run1 on CPU 0", "[w1] run1: done in 0s"}
	if len(final) != 2 || final[0] != want[0] || !strings.HasPrefix(final[1], "[w1] run1: done in") {
		t.Errorf("final screen %q, want %q", final, want)
	}
}

// screen plays text on a minimal terminal (lines, "\033[nF" up n lines, "\033[J" erase below,
// "\n") and returns the lines shown.
func screen(text string) []string {
	lines := []string{""}
	row := 0
	for i := 0; i < len(text); i++ {
		switch {
		case text[i] == '\n':
			row++
			if row == len(lines) {
				lines = append(lines, "")
			}
		case text[i] == 0x1b && i+1 < len(text) && text[i+1] == '[':
			j := i + 2
			for j < len(text) && (text[j] >= '0' && text[j] <= '9') {
				j++
			}
			n, _ := strconv.Atoi(text[i+2 : j])
			switch text[j] {
			case 'F':
				row = max(0, row-n)
			case 'J':
				lines = lines[:row+1]
				lines[row] = ""
			}
			i = j
		default:
			lines[row] += string(text[i])
		}
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

func TestReadSegments(t *testing.T) {
	var got []string
	readSegments(strings.NewReader("a\rb [##]\r\033[Kline one\n\n  c \nlast"), func(s string, line bool) {
		got = append(got, fmt.Sprintf("%s/%v", s, line))
	})
	want := []string{"a/false", "b [##]/false", "line one/true", "c/true", "last/true"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("segments %q, want %q", got, want)
	}
}

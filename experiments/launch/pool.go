package launch

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// Slot is one place for a worker process and what it is pinned to.
type Slot struct {
	// Label names the slot in progress lines ("w1").
	Label string
	// Device says what the slot is pinned to ("CPU 0", "CPUs 0-3", "GPU 2").
	Device string
	// Env is added to the worker's environment (GOMAXPROCS, CUDA_VISIBLE_DEVICES).
	Env []string
	// CPUs, when not empty, binds the worker process to these CPUs (on Linux; elsewhere only
	// GOMAXPROCS divides the cores).
	CPUs []int
}

// PlanCPU divides the CPUs this process may run on among n workers. Each worker gets an equal
// share of whole CPUs (at least one), is bound to them, and gets GOMAXPROCS set to their
// number; the pure-Go backend sizes its thread pool by the CPUs a process may use, and XLA's
// CPU plugin sizes its own the same way. With more workers than CPUs, workers share CPUs
// round-robin.
func PlanCPU(n int) ([]Slot, error) {
	if n < 1 {
		return nil, fmt.Errorf("parallel: %d workers, want at least 1", n)
	}
	cpus := AllowedCPUs()
	share := max(1, len(cpus)/n)
	slots := make([]Slot, n)
	for i := range slots {
		var set []int
		if n <= len(cpus) {
			set = cpus[i*share : (i+1)*share]
		} else {
			set = []int{cpus[i%len(cpus)]}
		}
		slots[i] = Slot{Label: fmt.Sprintf("w%d", i+1), Device: cpuName(set),
			Env: []string{"GOMAXPROCS=" + strconv.Itoa(len(set))}, CPUs: set}
	}
	return slots, nil
}

// PlanGPU pins n workers to NVIDIA GPUs, devices[i mod len(devices)] for worker i, through
// CUDA_VISIBLE_DEVICES: the worker's XLA CUDA plugin then sees that one GPU as its device 0.
// The CPUs are divided through GOMAXPROCS only (the host side of a GPU run needs few).
func PlanGPU(n int, devices []string) ([]Slot, error) {
	if n < 1 {
		return nil, fmt.Errorf("parallel: %d workers, want at least 1", n)
	}
	if len(devices) == 0 {
		return nil, errors.New("parallel: no GPU named")
	}
	for _, d := range devices {
		if d == "" || strings.ContainsAny(d, ", \t") {
			return nil, fmt.Errorf("--devices: %q is not a GPU index or UUID", d)
		}
	}
	procs := max(1, len(AllowedCPUs())/n)
	slots := make([]Slot, n)
	for i := range slots {
		d := devices[i%len(devices)]
		slots[i] = Slot{Label: fmt.Sprintf("w%d", i+1), Device: "GPU " + d,
			Env: []string{"CUDA_VISIBLE_DEVICES=" + d, "GOMAXPROCS=" + strconv.Itoa(procs)}}
	}
	return slots, nil
}

// cpuName is "CPU 3" or "CPUs 0-3" (or "CPUs 0,2,5").
func cpuName(set []int) string {
	if len(set) == 1 {
		return "CPU " + strconv.Itoa(set[0])
	}
	contiguous := true
	for i := 1; i < len(set); i++ {
		contiguous = contiguous && set[i] == set[i-1]+1
	}
	if contiguous {
		return fmt.Sprintf("CPUs %d-%d", set[0], set[len(set)-1])
	}
	parts := make([]string, len(set))
	for i, c := range set {
		parts[i] = strconv.Itoa(c)
	}
	return "CPUs " + strings.Join(parts, ",")
}

// Job is one worker process to run: one run of a grid.
type Job struct {
	// Name is the run's name, shown in progress lines.
	Name string
	// Args are the worker's command-line arguments.
	Args []string
}

// Result is how a job's worker ended.
type Result struct {
	Job Job
	// Slot is the index of the slot it ran in.
	Slot int
	// Err is nil when the worker exited with status 0; else why it did not (an *exec.ExitError
	// for a non-zero status).
	Err error
	// Elapsed is the worker's wall time.
	Elapsed time.Duration
	// Tail holds the worker's last lines of output, for failure reports.
	Tail []string
}

// Pool runs jobs in worker processes, at most one per slot at a time.
type Pool struct {
	// Command is the worker executable.
	Command string
	// Env is the workers' base environment (nil: this process's); each slot adds its own.
	Env []string
	// Slots are the worker places.
	Slots []Slot
	// Out receives the progress display.
	Out io.Writer
	// Live redraws one progress line per worker in place (for a terminal); otherwise each
	// line a worker prints is passed on, prefixed with its slot and run.
	Live bool
	// Width is the display's width in columns for Live (0: 100).
	Width int
	// Finished, if set, gives the note printed when a job's worker exits ("done in 12s",
	// "FAILED: ..."). It is called from Run's goroutine, one call at a time.
	Finished func(Result) string
	// HandleSignals makes Run catch SIGINT and SIGTERM itself: the first stops every worker
	// after its checkpoint (as a cancelled ctx does), a second kills them at once.
	HandleSignals bool
	// Header, if set, gives the first line of the live display (counts, elapsed time).
	Header func() string
}

// tailLines is how many of a worker's last output lines a Result keeps.
const tailLines = 30

// worker is one running job.
type worker struct {
	slot  int
	job   Job
	cmd   *exec.Cmd
	start time.Time

	readersDone chan struct{} // closed when stdout and stderr are read to their end
	gone        chan struct{} // closed when the process has exited and been waited for

	mu   sync.Mutex
	last string   // the latest progress or log line (live display)
	tail []string // the last lines printed
}

func (w *worker) note(line string, keep bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last = line
	if keep {
		w.tail = append(w.tail, line)
		if len(w.tail) > tailLines {
			w.tail = w.tail[len(w.tail)-tailLines:]
		}
	}
}

func (w *worker) status() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// Run runs jobs, in order, in the pool's slots, and returns each job's result in the order
// they finished. When ctx is cancelled (or, with HandleSignals, at the first signal) it starts
// no new job, sends SIGINT to every running worker (which checkpoints and exits), waits for
// them and returns ctx's error with the results so far.
func (p *Pool) Run(ctx context.Context, jobs []Job) ([]Result, error) {
	if len(p.Slots) == 0 {
		return nil, errors.New("parallel: no worker slot")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	kill := make(chan struct{})
	if p.HandleSignals {
		sigs := make(chan os.Signal, 2)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigs)
		finished := make(chan struct{})
		defer close(finished)
		go func() {
			done, first := ctx.Done(), true
			for {
				select {
				case <-sigs:
					if first {
						first = false
						cancel()
						continue
					}
					close(kill)
					return
				case <-done:
					// Cancelled (by a signal or by the caller): the next signal kills.
					first, done = false, nil
				case <-finished:
					return
				}
			}
		}()
	}
	d := &display{out: p.Out, live: p.Live, width: p.Width, header: p.Header, slots: p.Slots}
	if d.width <= 0 {
		d.width = 100
	}
	running := make([]*worker, len(p.Slots))
	exited := make(chan Result)
	var results []Result
	next, interrupted, killed := 0, false, false
	// finished records a worker that exited (or could not start) and frees its slot.
	finished := func(r Result) {
		running[r.Slot] = nil
		d.setWorker(r.Slot, nil)
		results = append(results, r)
		d.event(fmt.Sprintf("[%s] %s: %s", p.Slots[r.Slot].Label, r.Job.Name, p.finishNote(r)))
	}
	ticker := time.NewTicker(250 * time.Millisecond)
	defer ticker.Stop()
	for {
		if ctx.Err() == nil {
			for slot := range running {
				// A job whose worker cannot start fails at once, and the slot takes the next.
				for running[slot] == nil && next < len(jobs) {
					job := jobs[next]
					next++
					w, err := p.start(slot, job, d)
					if err != nil {
						finished(Result{Job: job, Slot: slot, Err: err})
						continue
					}
					running[slot] = w
					d.setWorker(slot, w)
					d.event(fmt.Sprintf("[%s] start %s on %s", p.Slots[slot].Label, w.job.Name, p.Slots[slot].Device))
					go func() { exited <- wait(w) }()
				}
			}
		}
		busy := 0
		for _, w := range running {
			if w != nil {
				busy++
			}
		}
		if busy == 0 {
			break
		}
		if ctx.Err() != nil && !interrupted {
			interrupted = true
			d.event(fmt.Sprintf("interrupted: stopping %d workers after their checkpoints (again to kill at once)", busy))
			for _, w := range running {
				if w != nil {
					w.cmd.Process.Signal(os.Interrupt)
				}
			}
		}
		select {
		case r := <-exited:
			finished(r)
		case <-ctx.Done():
			if interrupted {
				// Already forwarded: wait for the workers without spinning.
				select {
				case r := <-exited:
					finished(r)
				case <-kill:
					if !killed {
						killed = true
						for _, w := range running {
							if w != nil {
								w.cmd.Process.Kill()
							}
						}
					}
				case <-ticker.C:
					d.redraw()
				}
			}
		case <-ticker.C:
			d.redraw()
		}
	}
	d.close()
	if err := ctx.Err(); err != nil && (interrupted || next < len(jobs)) {
		return results, err
	}
	return results, nil
}

// finishNote is the line printed when a worker exits.
func (p *Pool) finishNote(r Result) string {
	if p.Finished != nil {
		return p.Finished(r)
	}
	if r.Err != nil {
		return "FAILED: " + r.Err.Error()
	}
	return "done in " + r.Elapsed.Round(time.Second).String()
}

// start starts job's worker in slot.
func (p *Pool) start(slot int, job Job, d *display) (*worker, error) {
	cmd := exec.Command(p.Command, job.Args...)
	env := p.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(append([]string(nil), env...), p.Slots[slot].Env...)
	cmd.SysProcAttr = workerProcAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	w := &worker{slot: slot, job: job, cmd: cmd, start: time.Now(), gone: make(chan struct{}), last: "starting"}
	if err := startPinned(cmd, p.Slots[slot].CPUs, w.gone); err != nil {
		return nil, fmt.Errorf("starting worker %s: %w", p.Command, err)
	}
	var readers sync.WaitGroup
	readers.Add(2)
	prefix := fmt.Sprintf("[%s %s] ", p.Slots[slot].Label, job.Name)
	for _, r := range []io.Reader{stdout, stderr} {
		go func() {
			defer readers.Done()
			readSegments(r, func(seg string, line bool) {
				w.note(seg, line)
				if line && !d.live {
					d.event(prefix + seg)
				}
			})
		}()
	}
	w.readersDone = make(chan struct{})
	go func() { readers.Wait(); close(w.readersDone) }()
	return w, nil
}

// wait waits for w's process and output, and returns its result.
func wait(w *worker) Result {
	<-w.readersDone
	err := w.cmd.Wait()
	close(w.gone)
	w.mu.Lock()
	tail := append([]string(nil), w.tail...)
	w.mu.Unlock()
	return Result{Job: w.job, Slot: w.slot, Err: err, Elapsed: time.Since(w.start), Tail: tail}
}

// readSegments reads r and calls fn with each segment of text ended by a newline (line true)
// or by a carriage return (line false: a progress bar redrawing itself), with terminal escape
// sequences removed and empty segments skipped.
func readSegments(r io.Reader, fn func(seg string, line bool)) {
	br := bufio.NewReaderSize(r, 64<<10)
	var cur bytes.Buffer
	flush := func(line bool) {
		s := strings.TrimSpace(stripEscapes(cur.String()))
		cur.Reset()
		if s != "" {
			fn(s, line)
		}
	}
	for {
		b, err := br.ReadByte()
		if err != nil {
			flush(true)
			return
		}
		switch b {
		case '\n':
			flush(true)
		case '\r':
			flush(false)
		default:
			if cur.Len() < 4096 {
				cur.WriteByte(b)
			}
		}
	}
}

// stripEscapes removes ANSI CSI sequences (ESC [ ... letter).
func stripEscapes(s string) string {
	if !strings.Contains(s, "\033") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && !(s[j] >= '@' && s[j] <= '~') {
				j++
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// display is the pool's output: events (one line each, kept) and, when live, a block of one
// line per slot redrawn in place below them.
type display struct {
	out    io.Writer
	live   bool
	width  int
	header func() string
	slots  []Slot

	mu      sync.Mutex
	workers []*worker
	drawn   int    // lines of the live block on screen
	shown   string // the block as last drawn
}

func (d *display) setWorker(slot int, w *worker) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.workers == nil {
		d.workers = make([]*worker, len(d.slots))
	}
	d.workers[slot] = w
}

// event prints one line above the live block.
func (d *display) event(line string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.live {
		fmt.Fprintln(d.out, line)
		return
	}
	d.draw([]string{line}, true)
}

// redraw refreshes the live block if it changed.
func (d *display) redraw() {
	if !d.live {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.draw(nil, false)
}

// close erases the live block, leaving the events.
func (d *display) close() {
	if !d.live {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.drawn > 0 {
		fmt.Fprintf(d.out, "\033[%dF\033[J", d.drawn)
		d.drawn = 0
	}
}

// draw prints events and the block (with d.mu held).
func (d *display) draw(events []string, force bool) {
	var block []string
	if d.header != nil {
		block = append(block, d.header())
	}
	for i, s := range d.slots {
		var w *worker
		if i < len(d.workers) {
			w = d.workers[i]
		}
		line := fmt.Sprintf("%s %-8s idle", s.Label, s.Device)
		if w != nil {
			line = fmt.Sprintf("%s %-8s %s: %s", s.Label, s.Device, w.job.Name, w.status())
		}
		block = append(block, d.fit(line))
	}
	text := strings.Join(block, "\n")
	if !force && text == d.shown {
		return
	}
	var b strings.Builder
	if d.drawn > 0 {
		fmt.Fprintf(&b, "\033[%dF\033[J", d.drawn)
	}
	for _, e := range events {
		b.WriteString(e + "\n")
	}
	b.WriteString(text + "\n")
	io.WriteString(d.out, b.String())
	d.drawn, d.shown = len(block), text
}

// fit cuts line to the display's width, so that no line wraps and the block's height is its
// number of lines.
func (d *display) fit(line string) string {
	if utf8.RuneCountInString(line) < d.width {
		return line
	}
	r := []rune(line)
	return string(r[:max(1, d.width-2)]) + "…"
}

// AllowedCPUs lists the CPUs this process may run on (its affinity mask on Linux; elsewhere
// 0 to runtime.NumCPU()-1).
func AllowedCPUs() []int {
	if cpus := allowedCPUs(); len(cpus) > 0 {
		return cpus
	}
	cpus := make([]int, runtime.NumCPU())
	for i := range cpus {
		cpus[i] = i
	}
	return cpus
}

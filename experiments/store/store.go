// Package store keeps experiment runs on disk, one directory per run, so
// that a grid can be interrupted and resumed, and run by several runners at
// once without running anything twice.
//
// Layout under the store root (--out):
//
//	<grid>/<method>-s<seed>[-<swept values>]-<id>/   one run; <id> is config.Run.ID,
//	                                the swept values are config.Run.Variant (see Run.Name)
//	    config.yaml     the resolved configuration, canonical form
//	    run.log         the run's log, appended by every attempt
//	    metrics.jsonl   one EpochRecord per completed epoch, append-only
//	    checkpoint/     the executor's checkpoints, written atomically
//	    scores/         cached test scores, one file per test set
//	    results.json    Results, written last and atomically: present = done
//	    lock            held while a runner works on the run (see Lock)
//
// The run ID covers the whole configuration except the backend, so a
// changed hyperparameter gives a new directory and never mixes with old
// results.
package store

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/internal/atomicfile"
)

// File and folder names inside a run directory.
const (
	// ConfigFile holds the canonical resolved configuration.
	ConfigFile = "config.yaml"
	// LogFile is the run's log.
	LogFile = "run.log"
	// MetricsFile holds one EpochRecord JSON line per completed epoch.
	MetricsFile = "metrics.jsonl"
	// ResultsFile holds Results; its presence marks the run done.
	ResultsFile = "results.json"
	// ScoresDir caches test scores.
	ScoresDir = "scores"
	// CheckpointDir holds checkpoints.
	CheckpointDir = "checkpoint"
	// ErrorFile holds the error of the last failed attempt (removed when the run finishes).
	ErrorFile = "error.txt"
)

// Store is a run store rooted at a directory.
type Store struct {
	// Root is the store's directory (--out).
	Root string
}

// Open returns the store rooted at root, creating the directory.
func Open(root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("run store: %w", err)
	}
	return &Store{Root: root}, nil
}

// Dir returns the directory of run r of grid (not created yet: see
// RunDir.Create).
func (s *Store) Dir(grid string, r *config.Run) (*RunDir, error) {
	id, err := r.ID()
	if err != nil {
		return nil, err
	}
	name, err := r.Name()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(s.Root, grid, name)
	if len(r.Variant) > 0 {
		// Before run names showed swept values, a sweep's runs were stored as
		// <method>-s<seed>-<id>; such a directory, with the same ID, is this run's.
		old := filepath.Join(s.Root, grid, fmt.Sprintf("%s-s%d-%s", r.Method.Name, r.Seed, id))
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			if fi, err := os.Stat(old); err == nil && fi.IsDir() {
				path = old
			}
		}
	}
	return &RunDir{Path: path, Run: r, ID: id}, nil
}

// RunDir is one run's directory.
type RunDir struct {
	// Path is the directory.
	Path string
	// Run is the run's resolved configuration.
	Run *config.Run
	// ID is Run.ID().
	ID string
}

// File returns the path of name inside the run directory.
func (d *RunDir) File(name string) string { return filepath.Join(d.Path, name) }

// Create makes the directory with its scores/ and checkpoint/ folders and
// writes config.yaml (atomically). An existing config.yaml must hold the
// same canonical configuration.
func (d *RunDir) Create() error {
	for _, sub := range []string{ScoresDir, CheckpointDir} {
		if err := os.MkdirAll(filepath.Join(d.Path, sub), 0o755); err != nil {
			return fmt.Errorf("run store: %w", err)
		}
	}
	c, err := d.Run.Canonical()
	if err != nil {
		return err
	}
	old, err := os.ReadFile(d.File(ConfigFile))
	if err == nil {
		if !bytes.Equal(old, c) {
			// Only the backend may differ (it is not part of the ID).
			prev, perr := config.Parse(d.File(ConfigFile), old)
			if perr != nil {
				return fmt.Errorf("run store: %s does not match the run: %w", d.File(ConfigFile), perr)
			}
			if id, _ := prev.ID(); id != d.ID {
				return fmt.Errorf("run store: %s holds run %s, want %s", d.File(ConfigFile), id, d.ID)
			}
			return atomicfile.Write(d.File(ConfigFile), c)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("run store: %w", err)
	}
	return atomicfile.Write(d.File(ConfigFile), c)
}

// AppendEpoch appends rec as one JSON line to metrics.jsonl and syncs it.
// A torn last line (a crash mid-write) is cut off first.
func (d *RunDir) AppendEpoch(rec EpochRecord) error {
	path := d.File(MetricsFile)
	if err := repairTail(path); err != nil {
		return err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("%s: appending epoch %d: %w", path, rec.Epoch, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// repairTail truncates path after its last newline.
func repairTail(path string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && (len(data) == 0 || data[len(data)-1] == '\n')) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.Truncate(path, int64(bytes.LastIndexByte(data, '\n')+1))
}

// Epochs reads metrics.jsonl. A torn last line is ignored; a malformed line
// elsewhere is an error naming file and line.
func (d *RunDir) Epochs() ([]EpochRecord, error) {
	path := d.File(MetricsFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	complete := data[:bytes.LastIndexByte(data, '\n')+1]
	var recs []EpochRecord
	sc := bufio.NewScanner(bytes.NewReader(complete))
	sc.Buffer(nil, 16<<20)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r EpochRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		recs = append(recs, r)
	}
	return recs, sc.Err()
}

// WriteResults writes results.json atomically. Call it last: its presence
// marks the run done.
func (d *RunDir) WriteResults(res *Results) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", d.File(ResultsFile), err)
	}
	return atomicfile.Write(d.File(ResultsFile), append(b, '\n'))
}

// ErrCorrupt marks a results.json that exists but cannot be read.
var ErrCorrupt = errors.New("corrupt results")

// Results reads results.json: (nil, nil) if the run is not done, an error
// wrapping ErrCorrupt and naming the file if it cannot be parsed.
func (d *RunDir) Results() (*Results, error) {
	path := d.File(ResultsFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var res Results
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrCorrupt, err)
	}
	if res.RunID != d.ID {
		return nil, fmt.Errorf("%s: %w: run_id %q, want %q", path, ErrCorrupt, res.RunID, d.ID)
	}
	if d.Run != nil {
		for _, set := range d.Run.Benchmark.Tests {
			if _, ok := res.Sets[set]; !ok {
				return nil, fmt.Errorf("%s: %w: no metrics of test set %s (the run tests %s)", path, ErrCorrupt, set,
					strings.Join(d.Run.Benchmark.Tests, ", "))
			}
		}
		if res.Epochs != d.Run.Epochs {
			return nil, fmt.Errorf("%s: %w: %d epochs, the run has %d", path, ErrCorrupt, res.Epochs, d.Run.Epochs)
		}
	}
	return &res, nil
}

// CleanTemp removes the temporary files that atomic writes leave behind when their process is
// killed (".NAME.tmp-*" in the run directory and its sub-folders) and returns their names. Call
// it with the run's lock held: every file written under the lock is then finished. config.yaml is
// written before the lock is taken (by any runner that finds the run new), so its temporary
// files are left alone unless an hour old.
func (d *RunDir) CleanTemp() []string {
	var removed []string
	for _, dir := range []string{d.Path, d.File(CheckpointDir), d.File(ScoresDir)} {
		matches, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
		for _, m := range matches {
			if strings.HasPrefix(filepath.Base(m), "."+ConfigFile+".tmp-") {
				if st, err := os.Stat(m); err != nil || time.Since(st.ModTime()) < time.Hour {
					continue
				}
			}
			if os.Remove(m) == nil {
				rel, _ := filepath.Rel(d.Path, m)
				removed = append(removed, rel)
			}
		}
	}
	return removed
}

// State is where a run stands.
type State int

const (
	// New: nothing done yet.
	New State = iota
	// Partial: some epochs done, not finished, not locked.
	Partial
	// Locked: a live runner holds it.
	Locked
	// Done: results.json is present and valid.
	Done
	// Corrupt: results.json is present but unreadable.
	Corrupt
)

// Status says where a run stands.
type Status struct {
	// State is the run's state.
	State State
	// Epoch and Epochs: epochs completed (from metrics.jsonl) and planned.
	Epoch, Epochs int
	// Lock describes the holder when Locked.
	Lock *LockedError
	// Err explains Corrupt.
	Err error
	// Failure is the error of the last failed attempt of a run that is not done ("" if none).
	Failure string
}

// String is a one-word state with details: "done", "partial (3 of 100
// epochs done)", "locked (pid 12 on h, 3 of 100 epochs done, heartbeat 3s
// ago)", "new", "corrupt: ...", "failed in epoch 4 of 100 (3 done): ...".
func (s Status) String() string {
	switch s.State {
	case Done:
		return "done"
	case Partial:
		if s.Failure != "" {
			if s.Epoch >= s.Epochs {
				return fmt.Sprintf("failed after its last epoch (%d of %d done): %s", s.Epoch, s.Epochs, s.Failure)
			}
			return fmt.Sprintf("failed in epoch %d of %d (%d done): %s", s.Epoch+1, s.Epochs, s.Epoch, s.Failure)
		}
		return fmt.Sprintf("partial (%d of %d epochs done)", s.Epoch, s.Epochs)
	case Locked:
		if s.Lock != nil && s.Lock.Holder.PID != 0 {
			return fmt.Sprintf("locked (pid %d on %s, %d of %d epochs done, heartbeat %s ago)", s.Lock.Holder.PID, s.Lock.Holder.Host,
				s.Epoch, s.Epochs, s.Lock.Age.Round(time.Second))
		}
		return "locked"
	case Corrupt:
		return "corrupt: " + s.Err.Error()
	}
	return "new"
}

// Status reports the run's state without changing anything. opts gives
// the stale timeout used to judge a lock (zero: defaults).
func (d *RunDir) Status(opts LockOptions) (Status, error) {
	st := Status{Epochs: d.Run.Epochs}
	res, err := d.Results()
	if errors.Is(err, ErrCorrupt) {
		st.State, st.Err = Corrupt, err
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if res != nil {
		st.State, st.Epoch = Done, d.Run.Epochs
		return st, nil
	}
	recs, err := d.Epochs()
	if err != nil {
		return st, err
	}
	if len(recs) > 0 {
		st.Epoch = recs[len(recs)-1].Epoch
	}
	if b, err := os.ReadFile(d.File(ErrorFile)); err == nil {
		st.Failure = strings.TrimSpace(string(b))
	}
	ls, err := inspectLock(d.File(LockFile), opts.withDefaults())
	if err == nil && !ls.stale {
		st.State, st.Lock = Locked, &LockedError{Path: d.File(LockFile), Holder: ls.info, Age: ls.age}
		return st, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return st, err
	}
	if st.Epoch > 0 || st.Failure != "" {
		st.State = Partial
	}
	return st, nil
}

// Writable reports whether a run store can be written at root: root itself if it exists, else
// the nearest folder above it that exists, checked for write permission without writing.
func Writable(root string) error {
	dir := root
	for {
		st, err := os.Stat(dir)
		if err == nil {
			if !st.IsDir() {
				return fmt.Errorf("run store %s: %s is not a directory", root, dir)
			}
			if err := accessWrite(dir); err != nil {
				return fmt.Errorf("run store %s: %s is not writable: %w", root, dir, err)
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("run store %s: %w", root, err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return fmt.Errorf("run store %s: no existing folder above it", root)
		}
		dir = parent
	}
}

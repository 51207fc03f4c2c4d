package store

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// LockFile is the name of a run directory's lock file.
const LockFile = "lock"

// lockSize is the fixed size of the lock file's content (JSON padded with
// spaces), so that a heartbeat rewrites it in place with one write.
const lockSize = 512

// LockInfo is the content of a lock file: who holds the run and since when.
type LockInfo struct {
	// PID is the holder's process ID.
	PID int `json:"pid"`
	// Host is the holder's host name.
	Host string `json:"host"`
	// Started is when the lock was taken.
	Started time.Time `json:"started"`
	// Heartbeat is refreshed by the holder every LockOptions.Heartbeat.
	Heartbeat time.Time `json:"heartbeat"`
	// Token identifies this holding (distinguishes holders with equal PID,
	// e.g. goroutines of one process).
	Token string `json:"token"`
}

// LockOptions tune locking.
type LockOptions struct {
	// Heartbeat is how often the holder refreshes its heartbeat (default
	// 10s).
	Heartbeat time.Duration
	// Stale is how old a heartbeat must be for the lock to be taken over
	// (default 2m). A lock whose holder is a dead process on this host is
	// stale at once.
	Stale time.Duration
}

func (o LockOptions) withDefaults() LockOptions {
	if o.Heartbeat <= 0 {
		o.Heartbeat = 10 * time.Second
	}
	if o.Stale <= 0 {
		o.Stale = 2 * time.Minute
	}
	return o
}

// LockedError reports a lock held by another live holder.
type LockedError struct {
	// Path is the lock file.
	Path string
	// Holder is the holder's lock information (zero if unreadable).
	Holder LockInfo
	// Age is the time since the holder's last heartbeat.
	Age time.Duration
}

func (e *LockedError) Error() string {
	if e.Holder.PID == 0 {
		return fmt.Sprintf("%s: locked (holder unreadable, written %s ago)", e.Path, e.Age.Round(time.Second))
	}
	return fmt.Sprintf("%s: locked by pid %d on %s since %s (heartbeat %s ago)", e.Path, e.Holder.PID, e.Holder.Host,
		e.Holder.Started.Format(time.RFC3339), e.Age.Round(time.Second))
}

// RunLock is a held lock on a run directory. Its heartbeat goroutine keeps
// it fresh until Unlock; if another runner takes it over (because this
// process stalled beyond the stale timeout), Lost is closed.
type RunLock struct {
	path string
	f    *os.File
	info LockInfo
	opts LockOptions

	stop     chan struct{}
	done     chan struct{}
	lost     chan struct{}
	lostOnce sync.Once
	mu       sync.Mutex // serialises writes to f
}

// Lock takes the lock of run directory dir with default options: see
// LockWith.
func Lock(dir string) (*RunLock, error) { return LockWith(dir, LockOptions{}) }

// LockWith takes the lock of run directory dir: it creates dir/lock with
// O_EXCL, holding pid, host, start time and a heartbeat that a goroutine
// refreshes. A lock whose heartbeat is older than opts.Stale, or whose
// holder is a dead process on this host, is taken over; a lock held by a
// live holder gives a *LockedError.
//
// Takeover is serialised by a second O_EXCL file (lock.takeover) and only
// removes the lock file if it still holds the stale content that was judged,
// so two runners never both take over the same lock.
func LockWith(dir string, opts LockOptions) (*RunLock, error) {
	opts = opts.withDefaults()
	path := filepath.Join(dir, LockFile)
	host, _ := os.Hostname()
	token := make([]byte, 8)
	if _, err := rand.Read(token); err != nil {
		return nil, err
	}
	now := time.Now()
	info := LockInfo{PID: os.Getpid(), Host: host, Started: now, Heartbeat: now, Token: hex.EncodeToString(token)}
	for attempt := 0; attempt < 5; attempt++ {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			l := &RunLock{path: path, f: f, info: info, opts: opts,
				stop: make(chan struct{}), done: make(chan struct{}), lost: make(chan struct{})}
			if err := l.write(); err != nil {
				f.Close()
				os.Remove(path)
				return nil, fmt.Errorf("%s: writing lock: %w", path, err)
			}
			if err := f.Sync(); err != nil {
				f.Close()
				os.Remove(path)
				return nil, fmt.Errorf("%s: writing lock: %w", path, err)
			}
			go l.heartbeat()
			return l, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		st, err := inspectLock(path, opts)
		if errors.Is(err, fs.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, err
		}
		if !st.stale {
			return nil, &LockedError{Path: path, Holder: st.info, Age: st.age}
		}
		if err := takeOver(path, st.raw, opts); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%s: lock kept changing hands; try again", path)
}

// lockState is what inspectLock found.
type lockState struct {
	raw   []byte
	info  LockInfo
	age   time.Duration
	stale bool
}

// inspectLock reads a lock file and judges whether it is stale.
func inspectLock(path string, opts LockOptions) (lockState, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return lockState{}, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return lockState{}, err
	}
	st := lockState{raw: raw}
	beat := fi.ModTime()
	if json.Unmarshal(bytes.TrimSpace(raw), &st.info) == nil && !st.info.Heartbeat.IsZero() {
		if st.info.Heartbeat.After(beat) {
			beat = st.info.Heartbeat
		}
	} else {
		st.info = LockInfo{} // unreadable: a holder that died while writing it, or mid-rewrite
	}
	st.age = time.Since(beat)
	st.stale = st.age > opts.Stale
	if host, _ := os.Hostname(); st.info.PID > 0 && st.info.Host == host && !pidAlive(st.info.PID) {
		st.stale = true
	}
	return st, nil
}

// takeOver removes the stale lock at path if it still holds raw.
func takeOver(path string, raw []byte, opts LockOptions) error {
	mutex := path + ".takeover"
	m, err := os.OpenFile(mutex, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		// Another runner is taking over right now; a takeover takes
		// milliseconds, so an old mutex file is left over from a crash.
		if fi, err := os.Stat(mutex); err == nil && time.Since(fi.ModTime()) > opts.Stale {
			os.Remove(mutex)
			return nil // retry
		}
		return &LockedError{Path: path, Age: 0}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", mutex, err)
	}
	m.Close()
	defer os.Remove(mutex)
	cur, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !bytes.Equal(cur, raw) {
		return nil // refreshed or replaced meanwhile: judge again
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: removing stale lock: %w", path, err)
	}
	return nil
}

// write rewrites the lock content in place (fixed size, one write).
func (l *RunLock) write() error {
	b, err := json.Marshal(l.info)
	if err != nil {
		return err
	}
	if len(b) >= lockSize {
		return fmt.Errorf("lock content too long (%d bytes)", len(b))
	}
	buf := bytes.Repeat([]byte(" "), lockSize)
	copy(buf, b)
	buf[lockSize-1] = '\n'
	_, err = l.f.WriteAt(buf, 0)
	return err
}

// heartbeat refreshes the lock until Unlock, and detects a takeover.
func (l *RunLock) heartbeat() {
	defer close(l.done)
	t := time.NewTicker(l.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			if !l.owned() {
				l.markLost()
				return
			}
			l.mu.Lock()
			l.info.Heartbeat = time.Now()
			err := l.write()
			l.mu.Unlock()
			if err != nil {
				l.markLost()
				return
			}
		}
	}
}

// owned reports whether the lock file is still the one this lock created.
func (l *RunLock) owned() bool {
	a, err := os.Stat(l.path)
	if err != nil {
		return false
	}
	b, err := l.f.Stat()
	return err == nil && os.SameFile(a, b)
}

func (l *RunLock) markLost() { l.lostOnce.Do(func() { close(l.lost) }) }

// Lost is closed when the lock was taken over by another runner (this
// process stalled longer than the stale timeout): stop working on the run.
func (l *RunLock) Lost() <-chan struct{} { return l.lost }

// Info is the lock's content as written.
func (l *RunLock) Info() LockInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.info
}

// Unlock stops the heartbeat and removes the lock file if it is still this
// lock's. It reports an error if the lock had been taken over.
func (l *RunLock) Unlock() error {
	select {
	case <-l.stop:
		return fmt.Errorf("%s: unlocked twice", l.path)
	default:
	}
	close(l.stop)
	<-l.done
	defer l.f.Close()
	if !l.owned() {
		return fmt.Errorf("%s: lock was taken over by another runner", l.path)
	}
	if err := os.Remove(l.path); err != nil {
		return fmt.Errorf("%s: %w", l.path, err)
	}
	return nil
}

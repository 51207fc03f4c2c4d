package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

type failAfter struct {
	w io.Writer
	n int
}

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k, _ := f.w.Write(p[:f.n])
		f.n = 0
		return k, syscall.ENOSPC
	}
	f.n -= len(p)
	return f.w.Write(p)
}

func TestWriteAtomicFullDisk(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.bin")
	if err := Write(path, []byte("epoch 3 weights")); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 3<<20) // larger than the buffer: fails inside write
	for _, tc := range []struct {
		name  string
		write func(w io.Writer) error
		wrap  func(io.Writer) io.Writer
	}{
		{"device full", func(w io.Writer) error { _, err := io.WriteString(w, big); return err },
			func(w io.Writer) io.Writer { return &failAfter{w: w, n: 1000} }},
		{"device full at flush", func(w io.Writer) error { _, err := io.WriteString(w, "short"); return err },
			func(w io.Writer) io.Writer { return &failAfter{w: w, n: 2} }},
		{"producer fails", func(w io.Writer) error { io.WriteString(w, "half"); return errors.New("serialising failed") }, nil},
	} {
		err := writeWrapped(path, tc.write, tc.wrap)
		if err == nil {
			t.Fatalf("%s: no error", tc.name)
		}
		if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "intact") {
			t.Errorf("%s: error %q does not name the file and say the old version is intact", tc.name, err)
		}
		if tc.wrap != nil && !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("%s: error %q does not wrap ENOSPC", tc.name, err)
		}
		got, _ := os.ReadFile(path)
		if string(got) != "epoch 3 weights" {
			t.Errorf("%s: previous checkpoint changed to %q", tc.name, got)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Errorf("%s: temporary files left: %v", tc.name, entries)
		}
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v (%v), want 0644 as a plain file", st.Mode().Perm(), err)
	}
	if err := Write(path, []byte("epoch 4")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "epoch 4" {
		t.Errorf("after a good write: %q", got)
	}
	if err := Write(filepath.Join(dir, "no", "such", "dir"), nil); err == nil {
		t.Error("no error writing into a missing directory")
	}
}

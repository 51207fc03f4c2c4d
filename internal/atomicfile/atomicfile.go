// Package atomicfile replaces files atomically and durably: the one file writer of the project
// for anything a reader or a crash must never see half written (checkpoints, results, reports,
// benchmark figures).
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write replaces path with data atomically: it writes a temporary
// file in the same directory, fsyncs it, renames it over path and fsyncs the
// directory. Readers see the old content or the new, never a mix; on any
// error (a full disk, say) path keeps its previous content and the
// temporary file is removed.
func Write(path string, data []byte) error {
	return WriteFunc(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFunc is Write for content produced by write, which
// receives a buffered writer to the temporary file. If write returns an
// error, or flushing, syncing or renaming fails, path is left as it was.
func WriteFunc(path string, write func(w io.Writer) error) error {
	return writeWrapped(path, write, nil)
}

// writeWrapped is WriteFunc with an optional wrapper around the file
// writer, which tests use to simulate a full disk.
func writeWrapped(path string, write func(w io.Writer) error, wrap func(io.Writer) io.Writer) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if err != nil && !renamed {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("writing %s: %w (the previous version, if any, is intact)", path, err)
		}
	}()
	// os.CreateTemp makes the file private (0600): give the result the mode of a plain created
	// file, so that a store or an export can be read by others as any other file.
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	var w io.Writer = f
	if wrap != nil {
		w = wrap(w)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	renamed = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// syncDir fsyncs a directory so that a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

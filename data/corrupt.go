package data

import (
	"archive/zip"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// CorruptError reports compressed data that failed its decompressor's
// integrity checks: a CRC-32 or Adler-32 mismatch, a length mismatch, a
// stream cut short, malformed compressed data, or garbage after the end of a
// gzip stream. Readers wrap it with the file (and archive member) it came
// from.
type CorruptError struct {
	// Format is the container: "gzip", "zlib" or "zip".
	Format string
	// Err is the decompressor's error.
	Err error
}

func (e *CorruptError) Error() string {
	var why string
	var flateErr flate.CorruptInputError
	switch {
	case errors.Is(e.Err, gzip.ErrChecksum), errors.Is(e.Err, zlib.ErrChecksum), errors.Is(e.Err, zip.ErrChecksum):
		why = "checksum mismatch: the data differs from what was compressed"
	case errors.Is(e.Err, io.ErrUnexpectedEOF), errors.Is(e.Err, io.EOF):
		why = "stream cut short: the file is truncated"
	case errors.Is(e.Err, gzip.ErrHeader):
		why = "bad gzip header: garbage after the end of the stream, or not gzip data"
	case errors.Is(e.Err, zip.ErrFormat):
		why = "member size differs from the archive directory"
	case errors.As(e.Err, &flateErr):
		why = "malformed compressed data: " + e.Err.Error()
	default:
		why = e.Err.Error()
	}
	return fmt.Sprintf("corrupt %s data (%s); fetch it again or restore the file", e.Format, why)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// checked wraps the reader of a decompressor (a gzip or zlib reader, a zip
// member) and remembers the first error it returned other than io.EOF. The
// parsers reading through it (tar, IDX, MAT, npyio) may turn that error into
// a short read or a generic message; corrupt recovers it.
type checked struct {
	r      io.Reader
	format string
	err    error
}

func newChecked(r io.Reader, format string) *checked { return &checked{r: r, format: format} }

func (c *checked) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

// corrupt returns the decompressor's failure as a *CorruptError, or nil when
// it reported none (or c is nil: the data was not compressed). An I/O error
// of the file under it is returned as it is.
func (c *checked) corrupt() error {
	if c == nil || c.err == nil {
		return nil
	}
	if pe := (*fs.PathError)(nil); errors.As(c.err, &pe) {
		return c.err
	}
	return &CorruptError{Format: c.format, Err: c.err}
}

// explain returns the decompressor's failure (corrupt) when there was one, else err: a
// parser's error over corrupt data is only its symptom.
func (c *checked) explain(err error) error {
	if ce := c.corrupt(); ce != nil {
		return ce
	}
	return err
}

// drain reads the rest of the stream, which makes the decompressor check its
// trailer (gzip: CRC-32 and length, then whether another member or garbage
// follows; zlib: Adler-32; zip member: CRC-32 and size). It returns the
// number of bytes left over and a *CorruptError when a check failed.
func (c *checked) drain() (int64, error) {
	n, _ := io.Copy(io.Discard, c)
	return n, c.corrupt()
}

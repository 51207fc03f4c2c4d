package data

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// cifar10Archive builds a cifar-10-binary.tar.gz in the published layout.
func cifar10Archive(t *testing.T, extra map[string]string) []byte {
	m := Synthetic(SyntheticConfig{N: 2, H: 32, W: 32, C: 3, Classes: 10, Look: 1, Draw: 1})
	tmp := filepath.Join(t.TempDir(), "b.bin")
	WriteCIFAR(tmp, m, nil)
	rec := mustRead(t, tmp)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "cifar-10-batches-bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	for _, f := range append(append([]string{}, cifar10Train...), cifar10Test...) {
		tw.WriteHeader(&tar.Header{Name: "cifar-10-batches-bin/" + f, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(rec))})
		tw.Write(rec)
	}
	for name, body := range extra {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// serve answers GET requests for files; with failFirstAt > 0 the first
// response is cut after that many bytes.
func serve(t *testing.T, files map[string][]byte, failFirstAt int) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		body, ok := files[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if n == 1 && failFirstAt > 0 {
			// Announce the full length, send part of it, then drop the connection.
			w.Header().Set("Content-Length", itoa(len(body)))
			w.WriteHeader(http.StatusOK)
			w.Write(body[:failFirstAt])
			w.(http.Flusher).Flush()
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
			return
		}
		http.ServeContent(w, r, "f", timeZero, bytes.NewReader(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

func TestFetchSuccessResumeAndIdempotent(t *testing.T) {
	arch := cifar10Archive(t, nil)
	srv, calls := serve(t, map[string][]byte{"cifar-10-binary.tar.gz": arch}, len(arch)/2)
	dir := t.TempDir()
	var progress bytes.Buffer
	f := &Fetcher{Dir: dir, BaseURL: srv.URL, Progress: &progress}
	d := Download{Set: "cifar10", URL: "https://x/cifar-10-binary.tar.gz", Extract: true, MD5: md5hex(arch), ChecksumSource: "test"}
	// First attempt is cut half way.
	err := f.fetchOne(context.Background(), d)
	if err == nil || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("interrupted download: %v", err)
	}
	part := filepath.Join(dir, ".fetch", "cifar-10-binary.tar.gz.part")
	st, _ := os.Stat(part)
	if st == nil || st.Size() != int64(len(arch)/2) {
		t.Fatalf("partial file %v", st)
	}
	// Second attempt resumes with a Range request and completes.
	var ranges []string
	srv.Config.Handler = wrapRange(srv.Config.Handler, &ranges)
	if err := f.fetchOne(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if len(ranges) != 1 || ranges[0] != "bytes="+itoa(len(arch)/2)+"-" {
		t.Fatalf("resume ranges %v", ranges)
	}
	if miss := Missing("cifar10", dir); len(miss) != 0 {
		t.Fatalf("missing after fetch: %v", miss)
	}
	if m, err := Load("cifar10", dir, "test"); err != nil || m.N != 2 {
		t.Fatalf("load after fetch: %v", err)
	}
	if !strings.Contains(progress.String(), "cifar-10-binary.tar.gz") {
		t.Fatalf("no progress output: %q", progress.String())
	}
	if status, _ := ChecksumStatus("cifar10", dir); status != "verified" {
		t.Fatalf("checksum status %q", status)
	}
	// Idempotent: verified, nothing fetched again.
	before := calls.Load()
	if err := f.fetchOne(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != before {
		t.Fatal("verified download fetched again")
	}
}

func wrapRange(h http.Handler, ranges *[]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rg := r.Header.Get("Range"); rg != "" {
			*ranges = append(*ranges, rg)
		}
		h.ServeHTTP(w, r)
	})
}

func TestFetchChecksumMismatchQuarantines(t *testing.T) {
	arch := cifar10Archive(t, nil)
	srv, _ := serve(t, map[string][]byte{"cifar-10-binary.tar.gz": arch}, 0)
	dir := t.TempDir()
	f := &Fetcher{Dir: dir, BaseURL: srv.URL}
	// The real table's md5 does not match the test archive.
	err := f.Fetch(context.Background(), "cifar10")
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") || !strings.Contains(err.Error(), "c32a1d4ab5d03f1284b67883e8d87530") {
		t.Fatalf("want a checksum mismatch naming the expected md5, got %v", err)
	}
	if !strings.Contains(err.Error(), md5hex(arch)) || !strings.Contains(err.Error(), "quarantine") {
		t.Fatalf("error should name the digest found and the quarantine: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, cifar10Dir)); err == nil {
		t.Fatal("a failed download was extracted")
	}
	if len(Missing("cifar10", dir)) == 0 {
		t.Fatal("set reported complete after a failed fetch")
	}
	q, _ := filepath.Glob(filepath.Join(dir, ".fetch", "quarantine", "*.bad"))
	if len(q) != 1 {
		t.Fatalf("quarantined files %v", q)
	}
	if _, err := os.Stat(filepath.Join(dir, ".fetch", "cifar-10-binary.tar.gz.part")); err == nil {
		t.Fatal("bad partial file left in place")
	}
}

func TestFetchRefusesEscapingMember(t *testing.T) {
	arch := cifar10Archive(t, map[string]string{"../evil.txt": "x"})
	srv, _ := serve(t, map[string][]byte{"cifar-10-binary.tar.gz": arch}, 0)
	root := t.TempDir()
	dir := filepath.Join(root, "data")
	f := &Fetcher{Dir: dir, BaseURL: srv.URL}
	d := Download{Set: "cifar10", URL: "https://x/cifar-10-binary.tar.gz", Extract: true, MD5: md5hex(arch)}
	err := f.fetchOne(context.Background(), d)
	if err == nil || !strings.Contains(err.Error(), "escapes") {
		t.Fatalf("want a refusal of ../evil.txt, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "evil.txt")); err == nil {
		t.Fatal("member escaped the data directory")
	}
	if _, err := os.Stat(filepath.Join(dir, cifar10Dir)); err == nil {
		t.Fatal("partially extracted archive left as if valid")
	}
	if f.Verified(d) {
		t.Fatal("refused archive marked verified")
	}
	for _, bad := range []string{"/etc/passwd", "a/../../b", ".."} {
		if _, err := safeJoin(dir, bad); err == nil {
			t.Errorf("safeJoin accepted %q", bad)
		}
	}
	if p, err := safeJoin(dir, "a/./b/../c"); err != nil || p != filepath.Join(dir, "a", "c") {
		t.Errorf("safeJoin(a/./b/../c) = %q, %v", p, err)
	}
}

func TestFetchManualAndUnknown(t *testing.T) {
	f := &Fetcher{Dir: t.TempDir()}
	err := f.Fetch(context.Background(), "imagenet1k")
	if err == nil || !strings.Contains(err.Error(), "imagenet/train") {
		t.Fatalf("imagenet1k: %v", err)
	}
	if err := f.Fetch(context.Background(), "cifar11"); err == nil || !strings.Contains(err.Error(), "cifar100") {
		t.Fatalf("unknown name: %v", err)
	}
}

var timeZero = time.Time{}

func itoa(n int) string { return strconv.Itoa(n) }

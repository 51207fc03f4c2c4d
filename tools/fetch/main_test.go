package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/oodlab/dos/internal/cli"
)

func TestFetchCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--list"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "c32a1d4ab5d03f1284b67883e8d87530") || !strings.Contains(out.String(), "kriz/cifar.html") {
		t.Fatalf("--list lacks the CIFAR-10 md5 and its source:\n%s", out.String())
	}
	// A server with the wrong bytes: flags after the names, mismatch reported.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("not the published file"))
	}))
	defer srv.Close()
	out.Reset()
	errb.Reset()
	err := run(context.Background(), []string{"svhn", "--dir", t.TempDir(), "--base-url", srv.URL, "--quiet"}, &out, &errb)
	if err == nil || !strings.Contains(errb.String(), "checksum mismatch") || !strings.Contains(errb.String(), "eb5a983be6a315427106f1b164d9cef3") {
		t.Fatalf("err %v, stderr %q", err, errb.String())
	}
	if err := run(context.Background(), []string{"imagenet1k", "--dir", t.TempDir()}, &out, &errb); err == nil || !strings.Contains(errb.String(), "licence") {
		t.Fatalf("imagenet1k: %v %q", err, errb.String())
	}

	// A bad command line exits 2 before anything is fetched; an interrupt 130.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		ctx  context.Context
		args []string
		code int
		want string
	}{
		{context.Background(), []string{"--dir", t.TempDir()}, cli.ExitUsage, "fetch: no data set named"},
		{context.Background(), []string{"svhn", "cifar11", "--dir", t.TempDir(), "--base-url", srv.URL}, cli.ExitUsage, "cifar11"},
		{context.Background(), []string{"svhn", "--dri", "x"}, cli.ExitUsage, "flag provided but not defined: -dri"},
		{cancelled, []string{"svhn", "cifar10", "--dir", t.TempDir(), "--base-url", srv.URL, "--quiet"}, cli.ExitInterrupted,
			"fetch: not fetched: svhn, cifar10 (a partial download resumes on the next run): context canceled"},
	} {
		out.Reset()
		errb.Reset()
		code := cli.Report("fetch", run(c.ctx, c.args, &out, &errb), &errb)
		if code != c.code || !strings.Contains(errb.String(), c.want) || out.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit %d and %q", c.args, code, errb.String(), out.String(), c.code, c.want)
		}
	}
}

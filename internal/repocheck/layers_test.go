package repocheck

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/oodlab/dos"

// layer returns the layer of a package of this module (path relative to the module), and
// whether it is the entry-point command, which may import anything:
//
//	0  internal/registry, internal/cli, internal/atomicfile: utilities that import nothing of ours
//	1  data, models/..., sampling/...: the bottom
//	2  experiments/...: configuration, store, metrics, training
//	3  benchmarks/..., tools/...: on top
//
// internal/testutil (helpers for tests, at layer 2 so that it may build models), internal/assert
// and internal/repocheck (these tests) are imported by tests only.
func layer(rel string) (int, bool) {
	top, _, _ := strings.Cut(rel, "/")
	switch {
	case rel == "experiments":
		return 2, true
	case rel == "internal/testutil":
		return 2, false
	case top == "internal":
		return 0, false
	case top == "data" || top == "models" || top == "sampling":
		return 1, false
	case top == "experiments":
		return 2, false
	}
	return 3, false
}

// testOnly are packages that non-test code must not import.
var testOnly = map[string]bool{"internal/testutil": true, "internal/assert": true, "internal/repocheck": true}

// layerViolations returns one line per import that runs against the layering: a package may
// import packages of its own layer or below (the entry-point command anything), never a
// test-only package.
func layerViolations(imports map[string][]string) []string {
	var out []string
	for pkg, imps := range imports {
		from, isMain := layer(pkg)
		for _, imp := range imps {
			if testOnly[imp] {
				out = append(out, pkg+" imports the test-only package "+imp)
				continue
			}
			to, _ := layer(imp)
			if !isMain && to > from {
				out = append(out, pkg+" (layer "+strconv.Itoa(from)+") imports "+imp+" (layer "+strconv.Itoa(to)+")")
			}
		}
	}
	return out
}

// goList runs go list in the repository and returns its lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go list %v: %v\n%s", args, err, msg)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// moduleImports returns, for each package of the module, the packages of the module it imports
// (non-test code), as paths relative to the module.
func moduleImports(t *testing.T) map[string][]string {
	out := map[string][]string{}
	for _, line := range goList(t, "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...") {
		fields := strings.Fields(line)
		pkg := rel(fields[0])
		out[pkg] = nil
		for _, imp := range fields[1:] {
			if strings.HasPrefix(imp, module+"/") {
				out[pkg] = append(out[pkg], rel(imp))
			}
		}
	}
	return out
}

func rel(p string) string { return strings.TrimPrefix(strings.TrimPrefix(p, module), "/") }

// Imports follow the layering of docs/design.md.
func TestLayering(t *testing.T) {
	imports := moduleImports(t)
	if len(imports) < 20 {
		t.Fatalf("go list found %d packages", len(imports))
	}
	for _, v := range layerViolations(imports) {
		t.Error(v)
	}
}

// The check itself: an import against the order is reported.
func TestLayeringCheckCatchesViolations(t *testing.T) {
	bad := map[string][]string{
		"experiments/store": {"benchmarks/report"},
		"sampling":          {"experiments/config"},
		"data":              {"internal/registry"},
		"experiments":       {"benchmarks/report", "tools/report"},
		"models":            {"internal/testutil"},
	}
	got := strings.Join(layerViolations(bad), "\n")
	for _, want := range []string{"experiments/store (layer 2) imports benchmarks/report", "sampling (layer 1) imports experiments/config",
		"models imports the test-only package internal/testutil"} {
		if !strings.Contains(got, want) {
			t.Errorf("missed %q; got:\n%s", want, got)
		}
	}
	if strings.Contains(got, "data ") || strings.Contains(got, "experiments (") {
		t.Errorf("reported an allowed import:\n%s", got)
	}
}

// The packages that read configurations, results and data files build without GoMLX: tools that
// read a store do not link a machine-learning runtime, and these packages stay usable apart
// from it.
func TestLightPackagesDoNotLinkGoMLX(t *testing.T) {
	for _, pkg := range []string{"./experiments/config", "./experiments/store", "./experiments/metrics", "./experiments/grids", "./experiments/launch",
		"./sampling", "./data", "./benchmarks/report", "./tools/report", "./tools/metrics", "./tools/data", "./tools/fetch"} {
		for _, dep := range goList(t, "-deps", pkg) {
			if strings.HasPrefix(dep, "github.com/gomlx/") {
				t.Errorf("%s depends on %s", pkg, dep)
				break
			}
		}
	}
}

// Package gpu holds the prepared GPU check (device_checks.sh). Its test runs the script end to end
// in dry mode (pure-Go backend, tiny shapes, the PyTorch peer on the CPU), so the one run a GPU
// session can afford does not fail on a renamed flag or a broken step.
package gpu

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/oodlab/dos/internal/testutil"
)

func goTool(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %v: %v\n%s", args, err, out)
	}
}

// TestDeviceChecksDryRun builds the binaries the script needs, runs it with DRY=1 and checks that
// every step ran and exited 0, that every JSON result parses with the expected tool and parts,
// and that each comparison printed the peer's time over ours. A second run with a budget too
// small for any step checks that steps are skipped, not started, once the budget is spent.
func TestDeviceChecksDryRun(t *testing.T) {
	py := testutil.PeerPython(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	goTool(t, root, "build", "-o", filepath.Join(bin, "perf"), "./benchmarks/perf")
	goTool(t, root, "test", "-c", "-o", filepath.Join(bin, "backend.test"), "./models/backend")
	goTool(t, root, "test", "-c", "-o", filepath.Join(bin, "sampling.test"), "./sampling/ondevice")
	goTool(t, root, "test", "-c", "-o", filepath.Join(bin, "train.test"), "./experiments/train")

	out := t.TempDir()
	cmd := exec.Command("bash", "benchmarks/gpu/device_checks.sh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DRY=1", "BIN="+bin, "OUT="+out, "PY="+py, "BUDGET=400")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("device_checks.sh: %v\n%s", err, b)
	}
	logText := readFile(t, filepath.Join(out, "log.txt"))
	steps := []string{"densenet", "peer-densenet", "compare-densenet", "kmeans", "peer-kmeans", "compare-kmeans", "kmeans-fidelity",
		"wrn404", "peer-wrn404", "compare-wrn404", "determinism", "determinism-flag", "kmeans-keep", "backend-native", "densenet-split"}
	for _, s := range steps {
		re := regexp.MustCompile(`(?m)^== ` + regexp.QuoteMeta(s) + ` \(limit \d+s, at \d+s\)\n   exit 0 after \d+s$`)
		if !re.MatchString(logText) {
			t.Errorf("step %s did not run and exit 0; log.txt:\n%s\n%s.log:\n%s", s, logText, s, readFile(t, filepath.Join(out, s+".log")))
		}
	}
	if !strings.Contains(logText, "== done at") {
		t.Errorf("log.txt does not end with the done line:\n%s", logText)
	}
	for file, want := range map[string][]string{
		"gomlx_densenet.json":       {"gomlx", "random", "dos", "pipeline"},
		"gomlx_wrn404.json":         {"gomlx", "random", "dos"},
		"gomlx_kmeans.json":         {"gomlx", "clustering"},
		"gomlx_kmeans_keep.json":    {"gomlx", "clustering"},
		"gomlx_densenet_split.json": {"gomlx", "dos", "scoring", "clustering", "selection", "training"},
		"torch_densenet.json":       {"pytorch", "random", "dos", "scoring", "clustering", "selection", "training"},
		"torch_wrn404.json":         {"pytorch", "random", "dos"},
		"torch_kmeans.json":         {"pytorch", "clustering"},
	} {
		checkResult(t, filepath.Join(out, file), want)
	}
	for _, c := range []string{"compare-densenet", "compare-wrn404"} {
		text := readFile(t, filepath.Join(out, c+".log"))
		if !regexp.MustCompile(`DOS iteration +[0-9.]+ +[0-9.]+ +[0-9.]+x`).MatchString(text) {
			t.Errorf("%s.log has no DOS ratio row:\n%s", c, text)
		}
	}
	if text := readFile(t, filepath.Join(out, "compare-kmeans.log")); !regexp.MustCompile(`clustering +[0-9.]+ +[0-9.]+ +[0-9.]+x`).MatchString(text) {
		t.Errorf("compare-kmeans.log has no clustering ratio row:\n%s", text)
	}
	if m := readFile(t, filepath.Join(out, "machine.txt")); !strings.Contains(m, "torch ") {
		t.Errorf("machine.txt lacks the peer's versions:\n%s", m)
	}

	// A spent budget: every step is skipped, none started.
	out2 := t.TempDir()
	cmd = exec.Command("bash", "benchmarks/gpu/device_checks.sh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DRY=1", "BIN="+bin, "OUT="+out2, "PY="+py, "BUDGET=10")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("device_checks.sh with BUDGET=10: %v\n%s", err, b)
	}
	logText = readFile(t, filepath.Join(out2, "log.txt"))
	if n := strings.Count(logText, ": skipped, "); n != len(steps) || strings.Contains(logText, "exit") {
		t.Errorf("BUDGET=10: %d of %d steps skipped; log.txt:\n%s", n, len(steps), logText)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%v", err)
	}
	return string(b)
}

// checkResult parses a result file (one JSON line) and checks its tool and that it holds every
// named part ("random", "dos", "pipeline" at the top level; the others in "split").
func checkResult(t *testing.T, path string, want []string) {
	t.Helper()
	var r map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(readFile(t, path))), &r); err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	if r["tool"] != want[0] {
		t.Errorf("%s: tool %v, want %s", path, r["tool"], want[0])
	}
	if r["partial"] == true {
		t.Errorf("%s: still marked partial", path)
	}
	split, _ := r["split"].(map[string]any)
	for _, part := range want[1:] {
		var v any
		switch part {
		case "random", "dos", "pipeline":
			v = r[part]
		default:
			v = split[part]
		}
		m, ok := v.(map[string]any)
		if !ok {
			t.Errorf("%s: no %s part", path, part)
			continue
		}
		if part != "pipeline" {
			if med, _ := m["median_ms"].(float64); !(med > 0) {
				t.Errorf("%s: %s median_ms %v", path, part, m["median_ms"])
			}
		}
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFormats runs the command on the same scores stored as float32 .npy,
// (N,1) .npy, float64 .npy and text, and compares with scikit-learn
// (testdata/expected.json from testdata/gen_goldens.py).
func TestFormats(t *testing.T) {
	b, err := os.ReadFile("testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]float64
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]string{
		{"id_f32.npy", "ood_f64.npy"},
		{"id_f32.npy", "ood.txt"},
		{"id_col.npy", "ood.txt"},
	} {
		var out, errb bytes.Buffer
		code := run([]string{"--id", filepath.Join("testdata", pair[0]), "--ood", filepath.Join("testdata", pair[1])}, &out, &errb)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", pair, code, errb.String())
		}
		if n := strings.Count(strings.TrimSpace(out.String()), "\n"); n != 0 {
			t.Errorf("%v: output is %d lines, want one JSON object on one line", pair, n+1)
		}
		var got map[string]float64
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%v: output %q: %v", pair, out.String(), err)
		}
		for k, w := range want {
			g, ok := got[k]
			if !ok {
				t.Errorf("%v: output lacks %q", pair, k)
			} else if math.Abs(g-w) > 1e-6 {
				t.Errorf("%v: %s = %.9f, want %.9f", pair, k, g, w)
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"--id", "testdata/nope.npy", "--ood", "testdata/ood.txt"}, "testdata/nope.npy"},
		{"bad line", []string{"--id", "testdata/id_f32.npy", "--ood", "testdata/bad.txt"}, `testdata/bad.txt:3: "abc" is not a number`},
		{"wrong dtype", []string{"--id", "testdata/labels_i8.npy", "--ood", "testdata/ood.txt"}, "dtype i8: want float32"},
		{"no ood flag", []string{"--id", "testdata/id_f32.npy"}, "both --id FILE and --ood FILE are required"},
		{"unknown flag", []string{"--idd", "x"}, "flag provided but not defined"},
	} {
		var out, errb bytes.Buffer
		code := run(c.args, &out, &errb)
		if code != 2 {
			t.Errorf("%s: exit %d, want 2", c.name, code)
		}
		if !strings.Contains(errb.String(), c.want) {
			t.Errorf("%s: stderr %q, want it to contain %q", c.name, errb.String(), c.want)
		}
		if out.Len() != 0 {
			t.Errorf("%s: wrote %q to stdout", c.name, out.String())
		}
		if c.name != "unknown flag" && strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
			t.Errorf("%s: stderr is not one line: %q", c.name, errb.String())
		}
	}
}

// TestExitCode builds and runs the real binary once to check the process
// exit status and that no stack trace is printed.
func TestExitCode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "metrics")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--id", "testdata/labels_i8.npy", "--ood", "testdata/ood.txt")
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want status 2; output %s", err, out)
	}
	if strings.Contains(string(out), "goroutine") || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
		t.Errorf("want one error line, got %q", out)
	}
}

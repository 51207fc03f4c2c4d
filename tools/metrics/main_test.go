package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/internal/cli"
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
		err := run(context.Background(), []string{"--id", filepath.Join("testdata", pair[0]), "--ood", filepath.Join("testdata", pair[1])}, &out, &errb)
		if err != nil {
			t.Fatalf("%v: %v: %s", pair, err, errb.String())
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

// TestBadInput: a bad command line exits 2, bad input 1, each with one line
// on stderr (a flag error adds the usage).
func TestBadInput(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing file", []string{"--id", "testdata/nope.npy", "--ood", "testdata/ood.txt"}, cli.ExitFailed, "metrics: open testdata/nope.npy"},
		{"bad line", []string{"--id", "testdata/id_f32.npy", "--ood", "testdata/bad.txt"}, cli.ExitFailed, `metrics: testdata/bad.txt:3: "abc" is not a number`},
		{"wrong dtype", []string{"--id", "testdata/labels_i8.npy", "--ood", "testdata/ood.txt"}, cli.ExitFailed, "dtype i8: want float32"},
		{"no ood flag", []string{"--id", "testdata/id_f32.npy"}, cli.ExitUsage, "metrics: both --id FILE and --ood FILE are required"},
		{"extra argument", []string{"--id", "testdata/id_f32.npy", "--ood", "testdata/ood.txt", "more.txt"}, cli.ExitUsage, `unexpected argument "more.txt"`},
		{"unknown flag", []string{"--idd", "x"}, cli.ExitUsage, "flag provided but not defined"},
	} {
		var out, errb bytes.Buffer
		code := cli.Report("metrics", run(context.Background(), c.args, &out, &errb), &errb)
		if code != c.code {
			t.Errorf("%s: exit %d, want %d", c.name, code, c.code)
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

// TestExitCode builds and runs the real binary to check the process exit
// statuses (bad input 1, bad command line 2) and that no stack trace is printed.
func TestExitCode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "metrics")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"--id", "testdata/labels_i8.npy", "--ood", "testdata/ood.txt"}, cli.ExitFailed},
		{[]string{"--id", "testdata/id_f32.npy"}, cli.ExitUsage},
	} {
		out, err := exec.Command(bin, c.args...).CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != c.code {
			t.Fatalf("%v: exit %v, want status %d; output %s", c.args, err, c.code, out)
		}
		if strings.Contains(string(out), "goroutine") || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
			t.Errorf("%v: want one error line, got %q", c.args, out)
		}
	}
}

// TestDegenerateWarning: constant scores (a diverged network) give the official numbers, and a
// warning on stderr and in the JSON output.
func TestDegenerateWarning(t *testing.T) {
	dir := t.TempDir()
	id, ood := filepath.Join(dir, "id.txt"), filepath.Join(dir, "ood.txt")
	if err := os.WriteFile(id, []byte(strings.Repeat("8500.25\n", 20)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ood, []byte(strings.Repeat("8500.25\n", 30)), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--id", id, "--ood", ood}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	var got struct {
		FPR95    float64  `json:"fpr95"`
		AUROC    float64  `json:"auroc"`
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if got.FPR95 != 0 || got.AUROC != 0.5 || len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], "all 50 scores") {
		t.Errorf("output %s: want FPR95 0, AUROC 0.5 and the warning", out.String())
	}
	if !strings.HasPrefix(errb.String(), "metrics: warning: all 50 scores (20 ID, 30 OOD) equal 8500.25") {
		t.Errorf("stderr %q lacks the warning", errb.String())
	}
	// Sound scores: no warning.
	out.Reset()
	errb.Reset()
	if err := run(context.Background(), []string{"--id", "testdata/id_f32.npy", "--ood", "testdata/ood.txt"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if errb.Len() != 0 || strings.Contains(out.String(), "warnings") {
		t.Errorf("sound scores: stderr %q, output %s", errb.String(), out.String())
	}
}

// TestRunDirectory: --run re-evaluates every score file of a run directory in the layout the
// trainer writes (scores/<set>.npy for the headline, scores/<score>/<set>.npy for each post-hoc
// score), with the numbers of --id/--ood on the same files.
func TestRunDirectory(t *testing.T) {
	dir := t.TempDir()
	scores := filepath.Join(dir, "scores")
	put := func(rel string, shift float64, n int) {
		v := make([]float64, n)
		for i := range v {
			v[i] = shift + math.Sin(float64(3*i+len(rel)))
		}
		p := filepath.Join(scores, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := data.WriteNPY(p, []int{n}, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, sub := range []string{"", "msp", "knn"} {
		put(filepath.Join(sub, "id-test.npy"), 1, 40)
		put(filepath.Join(sub, "mnist@8.npy"), 0.3, 30)
		put(filepath.Join(sub, "svhn.npy"), -0.2, 25)
	}
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"--run", dir}, &out, &errb); err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	var got map[string]map[string]map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if len(got) != 3 {
		t.Fatalf("scores %v, want headline, msp and knn", got)
	}
	for score, sub := range map[string]string{"headline": "", "msp": "msp", "knn": "knn"} {
		for _, set := range []string{"mnist@8", "svhn"} {
			var one bytes.Buffer
			args := []string{"--id", filepath.Join(scores, sub, "id-test.npy"), "--ood", filepath.Join(scores, sub, set+".npy")}
			if err := run(context.Background(), args, &one, &errb); err != nil {
				t.Fatal(err)
			}
			var want map[string]any
			if err := json.Unmarshal(one.Bytes(), &want); err != nil {
				t.Fatal(err)
			}
			g := got[score][set]
			for _, k := range []string{"fpr95", "auroc", "aupr_in", "n_ood"} {
				if g[k] != want[k] {
					t.Errorf("%s %s: %s = %v, want %v", score, set, k, g[k], want[k])
				}
			}
		}
	}
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"--run", t.TempDir()}, cli.ExitFailed},
		{[]string{"--run", dir, "--id", "x"}, cli.ExitUsage},
	} {
		errb.Reset()
		if code := cli.Report("metrics", run(context.Background(), c.args, &out, &errb), &errb); code != c.code {
			t.Errorf("%v: exit %d, want %d (%s)", c.args, code, c.code, errb.String())
		}
	}
}

// Command metrics computes the OOD detection metrics of package
// experiments/metrics for two score files, so that scores written by other
// frameworks can be checked with the same code:
//
//	go run ./tools/metrics --id id_scores.npy --ood ood_scores.txt
//
// Scores are "higher = more ID". A file ending in .npy (or starting with the
// NumPy magic) must hold a float32 or float64 array of shape (N,) or (N, 1);
// any other file is text with one number per line (blank lines and lines
// starting with '#' are skipped). The metrics are printed to stdout as one
// JSON object (field names as metrics.Result; rates are fractions, not %).
// Degenerate scores (constant scores, or an FPR95 threshold that ties many
// OOD scores: see package experiments/metrics) keep the official numbers;
// each warning is printed to stderr as "metrics: warning: ..." and listed in
// the JSON object's "warnings" (absent for sound scores). The exit status
// stays 0.
//
// With --run DIR instead, it re-evaluates every score file of a run directory
// of the experiments command (go run ./tools/metrics --run runs/quick/dos-s3-<id>):
// each post-hoc score's files scores/<score>/id-test.npy and
// scores/<score>/<set>.npy, and the headline files scores/id-test.npy and
// scores/<set>.npy (under the name "headline"), and prints one JSON object
// {"<score>": {"<set>": metrics}} on one line.
//
// A mistake in the command line (an unknown flag, a missing --id or --ood, an
// extra argument, --run with --id or --ood) exits with status 2; bad input (a missing file, an
// unparsable line, a wrong dtype or shape) prints one line to stderr and exits
// with status 1.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/experiments/metrics"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/internal/cli"
)

func main() { cli.Main("metrics", run) }

// run is the whole command.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("metrics", flag.ContinueOnError)
	fs.SetOutput(stderr)
	idPath := fs.String("id", "", "file of in-distribution scores (.npy float32/float64, or text: one number per line)")
	oodPath := fs.String("ood", "", "file of OOD scores (same formats)")
	runDir := fs.String("run", "", "a run directory: re-evaluate every score file under its scores/ (instead of --id and --ood)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: metrics --id FILE --ood FILE | --run DIR   (scores: higher = more in-distribution)")
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return cli.Usagef("unexpected argument %q (want only --id FILE --ood FILE, or --run DIR)", fs.Arg(0))
	}
	if *runDir != "" {
		if *idPath != "" || *oodPath != "" {
			return cli.Usagef("--run DIR re-evaluates a run's score files: give it without --id and --ood")
		}
		return runScores(*runDir, stdout, stderr)
	}
	if *idPath == "" || *oodPath == "" {
		return cli.Usagef("both --id FILE and --ood FILE are required (or --run DIR)")
	}
	id, err := readScores(*idPath)
	if err != nil {
		return err
	}
	ood, err := readScores(*oodPath)
	if err != nil {
		return err
	}
	r, err := metrics.Compute(id, ood)
	if err != nil {
		return fmt.Errorf("--id %s --ood %s: %w", *idPath, *oodPath, err)
	}
	for _, w := range r.Warnings.List() {
		fmt.Fprintf(stderr, "metrics: warning: %s\n", w)
	}
	b, err := json.Marshal(jsonResult(r))
	if err != nil {
		return fmt.Errorf("encoding the result: %w", err)
	}
	_, err = fmt.Fprintln(stdout, string(b))
	return err
}

// resultJSON is a result as printed: JSON has no infinities, so an infinite threshold is
// written as a string.
type resultJSON struct {
	metrics.Result
	Threshold any `json:"fpr95_threshold"`
}

func jsonResult(r metrics.Result) resultJSON {
	out := resultJSON{r, r.FPR95Threshold}
	if math.IsInf(r.FPR95Threshold, 0) {
		out.Threshold = strconv.FormatFloat(r.FPR95Threshold, 'g', -1, 64)
	}
	return out
}

// idTestFile is the ID test set's score file in a run's scores directory.
const idTestFile = "id-test.npy"

// runScores re-evaluates the score files of a run directory (see the package comment).
func runScores(dir string, stdout, stderr io.Writer) error {
	scores := filepath.Join(dir, store.ScoresDir)
	ents, err := os.ReadDir(scores)
	if err != nil {
		return fmt.Errorf("--run %s: %w (want a run directory of go run ./experiments, with score files under %s/)", dir, err, store.ScoresDir)
	}
	out := map[string]map[string]resultJSON{}
	evaluate := func(name, sub string) error {
		files, err := os.ReadDir(sub)
		if err != nil {
			return err
		}
		id, err := readScores(filepath.Join(sub, idTestFile))
		if err != nil {
			return err
		}
		for _, f := range files {
			n := f.Name()
			if f.IsDir() || n == idTestFile || !strings.HasSuffix(n, ".npy") {
				continue
			}
			ood, err := readScores(filepath.Join(sub, n))
			if err != nil {
				return err
			}
			r, err := metrics.Compute(id, ood)
			if err != nil {
				return fmt.Errorf("%s: %w", filepath.Join(sub, n), err)
			}
			set := strings.TrimSuffix(n, ".npy")
			for _, w := range r.Warnings.List() {
				fmt.Fprintf(stderr, "metrics: warning: %s, %s: %s\n", name, set, w)
			}
			if out[name] == nil {
				out[name] = map[string]resultJSON{}
			}
			out[name][set] = jsonResult(r)
		}
		return nil
	}
	if _, err := os.Stat(filepath.Join(scores, idTestFile)); err == nil {
		if err := evaluate("headline", scores); err != nil {
			return err
		}
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := evaluate(e.Name(), filepath.Join(scores, e.Name())); err != nil {
				return err
			}
		}
	}
	if len(out) == 0 {
		return fmt.Errorf("--run %s: no score files in %s (a run writes them when it finishes)", dir, scores)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("encoding the results: %w", err)
	}
	_, err = fmt.Fprintln(stdout, string(b))
	return err
}

// readScores reads a .npy or text score file.
func readScores(path string) ([]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError names the file
	}
	head := make([]byte, 6)
	n, _ := io.ReadFull(f, head)
	f.Close()
	if strings.HasSuffix(strings.ToLower(path), ".npy") || bytes.Equal(head[:n], []byte("\x93NUMPY")) {
		return readNPYScores(path)
	}
	return readTextScores(path)
}

func readNPYScores(path string) ([]float64, error) {
	a, err := data.ReadNPY(path)
	if err != nil {
		return nil, err
	}
	if a.DType != "f4" && a.DType != "f8" {
		return nil, fmt.Errorf("%s: dtype %s: want float32 (<f4) or float64 (<f8) scores", path, a.DType)
	}
	if !(len(a.Shape) == 1 || (len(a.Shape) == 2 && a.Shape[1] == 1)) {
		return nil, fmt.Errorf("%s: shape %v: want (N,) or (N, 1)", path, a.Shape)
	}
	v, err := a.Float64s()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if i := firstNaN(v); i >= 0 {
		return nil, fmt.Errorf("%s: element %d is NaN", path, i)
	}
	return v, nil
}

func readTextScores(path string) ([]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []float64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) {
			return nil, fmt.Errorf("%s:%d: %.40q is not a number (want one score per line)", path, line, s)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: after line %d: %w", path, line, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no scores (want one number per line)", path)
	}
	return out, nil
}

func firstNaN(v []float64) int {
	for i, x := range v {
		if math.IsNaN(x) {
			return i
		}
	}
	return -1
}

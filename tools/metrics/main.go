// Command metrics computes the OOD detection metrics of package
// benchmarks/metrics for two score files, so that scores written by other
// frameworks can be checked with the same code:
//
//	go run ./tools/metrics --id id_scores.npy --ood ood_scores.txt
//
// Scores are "higher = more ID". A file ending in .npy (or starting with the
// NumPy magic) must hold a float32 or float64 array of shape (N,) or (N, 1);
// any other file is text with one number per line (blank lines and lines
// starting with '#' are skipped). The metrics are printed to stdout as one
// JSON object (field names as metrics.Result; rates are fractions, not %).
//
// Bad input (a missing file, an unparsable line, a wrong dtype or shape)
// prints one line to stderr and exits with status 2.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/oodlab/dos/benchmarks/metrics"
	"github.com/oodlab/dos/data"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("metrics", flag.ContinueOnError)
	fs.SetOutput(stderr)
	idPath := fs.String("id", "", "file of in-distribution scores (.npy float32/float64, or text: one number per line)")
	oodPath := fs.String("ood", "", "file of OOD scores (same formats)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: metrics --id FILE --ood FILE   (scores: higher = more in-distribution)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "metrics: unexpected argument %q (want only --id FILE --ood FILE)\n", fs.Arg(0))
		return 2
	}
	if *idPath == "" || *oodPath == "" {
		fmt.Fprintln(stderr, "metrics: both --id FILE and --ood FILE are required")
		return 2
	}
	id, err := readScores(*idPath)
	if err != nil {
		fmt.Fprintf(stderr, "metrics: %v\n", err)
		return 2
	}
	ood, err := readScores(*oodPath)
	if err != nil {
		fmt.Fprintf(stderr, "metrics: %v\n", err)
		return 2
	}
	r, err := metrics.Compute(id, ood)
	if err != nil {
		fmt.Fprintf(stderr, "metrics: --id %s --ood %s: %v\n", *idPath, *oodPath, err)
		return 2
	}
	// JSON has no infinities: an infinite threshold is written as a string.
	out := struct {
		metrics.Result
		Threshold any `json:"fpr95_threshold"`
	}{r, r.FPR95Threshold}
	if math.IsInf(r.FPR95Threshold, 0) {
		out.Threshold = strconv.FormatFloat(r.FPR95Threshold, 'g', -1, 64)
	}
	b, err := json.Marshal(out)
	if err != nil {
		fmt.Fprintf(stderr, "metrics: encoding the result: %v\n", err)
		return 2
	}
	fmt.Fprintln(stdout, string(b))
	return 0
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

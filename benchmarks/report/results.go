// Package report turns experiment results into the tables and plots of a
// report: tables in the layout of the DOS paper's Table 1 (Markdown, CSV,
// LaTeX/booktabs) with mean ± sample standard deviation over seeds, a table
// that sets our numbers beside the paper's, and training, score-histogram,
// DOS-diagnostic and timing plots (SVG, PNG) drawn with gonum.org/v1/plot.
//
// The package works on plain in-memory values (RunResult); store.Collect reads
// them from the run store and FromStore converts them.
package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/metrics"
	"github.com/oodlab/dos/experiments/store"
)

// Run status values of RunResult.Status: those of store.Collect.
const (
	StatusDone    = store.StatusDone
	StatusRunning = store.StatusRunning
	StatusFailed  = store.StatusFailed
	StatusMissing = store.StatusMissing
)

// RunResult is the outcome of one training run (one method, one seed).
type RunResult struct {
	// Method is the registry name of the method, e.g. "dos", "energy".
	Method string
	// Seed is the run seed.
	Seed int
	// Network and Benchmark name the architecture and the ID data set,
	// e.g. "densenet" and "cifar100".
	Network, Benchmark string
	// PerSet holds the final metrics per OOD test set name.
	PerSet map[string]metrics.Result
	// IDAccuracy is the final ID test accuracy, a fraction in [0, 1].
	IDAccuracy float64
	// Epochs is the per-epoch training record, in epoch order.
	Epochs []EpochRecord
	// Status is one of StatusDone, StatusRunning, StatusFailed,
	// StatusMissing. Tables use only done runs.
	Status string
	// Err is the failure message of a failed run.
	Err string
}

// EpochRecord is what a run records at the end of one epoch. Quantities
// that were not measured in an epoch are NaN and are left out of plots.
type EpochRecord struct {
	// Epoch counts from 1.
	Epoch int
	// Loss is the mean training loss.
	Loss float64
	// TestAccuracy is the ID test accuracy, a fraction.
	TestAccuracy float64
	// FPR95 is the ID-positive FPR95 averaged over the OOD test sets, a
	// fraction.
	FPR95 float64
	// Seconds is the wall time of the epoch in seconds.
	Seconds float64
	// Diagnostics holds method-specific values, e.g. DiagInertia.
	Diagnostics map[string]float64
}

// MethodName returns the display name of a method (config.DisplayName: the registered
// Display, the name itself for others).
func MethodName(m string) string { return config.DisplayName(m) }

// SortMethods orders method names as the method registry does (the paper's Table 1 order: msp,
// oe, energy, ntom, share, poem, dos), with any others after, alphabetically.
func SortMethods(ms []string) { config.SortMethodNames(ms) }

// setKey normalises a data set name for matching: lower case without
// '-', '_', ' ' and '.', with known aliases mapped to one key.
func setKey(s string) string {
	s = strings.ToLower(s)
	s = strings.NewReplacer("-", "", "_", "", " ", "", ".", "").Replace(s)
	switch s {
	case "dtd", "texture":
		return "textures"
	case "places":
		return "places365"
	case "lsun", "lsuncrop":
		return "lsunc"
	case "lsunresize":
		return "lsunr"
	}
	return s
}

// setNames are display names of the OOD test sets and benchmarks, by setKey.
var setNames = map[string]string{
	"svhn": "SVHN", "lsunc": "LSUN-C", "lsunr": "LSUN-R", "textures": "Textures",
	"places365": "Places365", "isun": "iSUN", "cifar10": "CIFAR-10",
	"cifar100": "CIFAR-100", "imagenet10": "ImageNet-10", "imagenet": "ImageNet-1K",
	"tinyimagenet": "Tiny ImageNet", "tin": "Tiny ImageNet", "mnist": "MNIST",
}

// paperSetOrder is the column order of the paper's Table 1, by setKey.
var paperSetOrder = []string{"svhn", "lsunc", "textures", "places365", "lsunr", "isun"}

// SetName returns the display name of a data set name (e.g. "lsun_c" ->
// "LSUN-C"), or the name itself when unknown.
func SetName(s string) string {
	if n, ok := setNames[setKey(s)]; ok {
		return n
	}
	return s
}

// sortSets orders OOD set names as the paper's columns, others after,
// alphabetically.
func sortSets(ss []string) {
	rank := func(s string) int {
		if i := slices.Index(paperSetOrder, setKey(s)); i >= 0 {
			return i
		}
		return len(paperSetOrder)
	}
	slices.SortStableFunc(ss, func(a, b string) int {
		if c := cmp.Compare(rank(a), rank(b)); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
}

// Stat summarises one quantity over seeds.
type Stat struct {
	// Mean is the arithmetic mean; NaN when N is 0.
	Mean float64
	// Std is the sample standard deviation (ddof = 1, as numpy.std(ddof=1)
	// and pandas' default); 0 when N is 1, NaN when N is 0.
	Std float64
	// N is the number of values (seeds).
	N int
}

// Summarize returns the mean and sample standard deviation of xs.
func Summarize(xs []float64) Stat {
	s := Stat{N: len(xs)}
	switch len(xs) {
	case 0:
		return Stat{Mean: math.NaN(), Std: math.NaN()}
	case 1:
		s.Mean = xs[0]
		return s
	}
	for _, x := range xs {
		s.Mean += x
	}
	s.Mean /= float64(len(xs))
	var ss float64
	for _, x := range xs {
		d := x - s.Mean
		ss += d * d
	}
	s.Std = math.Sqrt(ss / float64(len(xs)-1))
	return s
}

// checkRuns rejects run lists that mix benchmarks or networks, or repeat a
// (method, seed) pair, and returns the benchmark and network.
func checkRuns(runs []RunResult) (bench, net string, err error) {
	if len(runs) == 0 {
		return "", "", fmt.Errorf("report: no runs")
	}
	bench, net = runs[0].Benchmark, runs[0].Network
	seen := map[string]bool{}
	for _, r := range runs {
		if r.Benchmark != bench || r.Network != net {
			return "", "", fmt.Errorf("report: runs mix %s/%s with %s/%s (method %s seed %d): select one benchmark and network first",
				bench, net, r.Benchmark, r.Network, r.Method, r.Seed)
		}
		k := fmt.Sprintf("%s\x00%d", r.Method, r.Seed)
		if seen[k] {
			return "", "", fmt.Errorf("report: method %s seed %d appears twice", r.Method, r.Seed)
		}
		seen[k] = true
	}
	return bench, net, nil
}

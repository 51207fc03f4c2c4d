// Package report turns experiment results into the tables and plots of a
// report: tables in the layout of the DOS paper's Table 1 (Markdown, CSV,
// LaTeX/booktabs) with mean ± sample standard deviation over seeds, a table
// that sets our numbers beside the paper's, and training, score-histogram,
// DOS-diagnostic and timing plots (SVG, PNG) drawn with gonum.org/v1/plot.
//
// The package works on plain in-memory values (RunResult); store.Collect reads
// them from the run store and FromStore converts them.
//
// Grids that sweep more than method and seed (an axis optim.lr: [0.02, 0.1],
// method.dos.n_init: [3, 5], ...) give one table row per combination of
// method and swept values: each run carries its values on the grid's other
// axes as RunResult.Variant ("lr=0.02, n_init=3", config.Run.VariantLabel),
// the rows of a method follow the grid's order of those values, each row
// averages its seeds, and the tables gain a Setting column (CSV: "setting",
// after "method") that shows the values; tables of grids that sweep only
// method and seed are unchanged. The plots draw one line per combination,
// labelled "Energy (lr=0.02)". A grid with an axis over the benchmark or the
// network is split into one table per benchmark and network first (the
// report command's sections): a table never mixes them.
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

// RunResult is the outcome of one training run (one method, one seed, one
// combination of the grid's other swept values).
type RunResult struct {
	// Method is the registry name of the method, e.g. "dos", "energy".
	Method string
	// Variant describes the run's values on the grid's axes other than method
	// and seed (config.Run.VariantLabel: "lr=0.02, n_init=3"); "" for a grid
	// that sweeps only method and seed. Runs of one method and variant make
	// one table row and one plotted line.
	Variant string
	// Seed is the run seed.
	Seed int
	// Name is the run's name (its directory in the store), for notes; ""
	// when unknown.
	Name string
	// Network and Benchmark name the architecture and the ID data set,
	// e.g. "densenet" and "cifar100".
	Network, Benchmark string
	// PerSet holds the final metrics per OOD test set name, of the method's own test score.
	PerSet map[string]metrics.Result
	// Score names the method's own test score; Scores holds the final metrics of every post-hoc
	// score of the run (results.json's scores: score name, then OOD test set), KNNK the k of its
	// knn score. Empty for runs made before they were recorded.
	Score  string
	Scores map[string]map[string]metrics.Result
	KNNK   int
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
	// Degenerate reports that FPR95 was computed from degenerate scores
	// (metrics.Result.Warnings) for some OOD test set: the training curves
	// mark the point.
	Degenerate bool
}

// MethodName returns the display name of a method (config.DisplayName: the registered
// Display, the name itself for others).
func MethodName(m string) string { return config.DisplayName(m) }

// VariantName returns the display name of a method with its variant: "Energy (lr=0.02)", or
// MethodName(m) without one.
func VariantName(m, variant string) string {
	if variant == "" {
		return MethodName(m)
	}
	return MethodName(m) + " (" + variant + ")"
}

// runName names a run in notes: its Name (the run directory), else runLabel.
func runName(r RunResult) string {
	if r.Name != "" {
		return r.Name
	}
	return runLabel(r)
}

// runLabel names a run in messages: its registry method name, its variant in parentheses if
// any, and its seed ("energy (lr=0.02) seed 3").
func runLabel(r RunResult) string {
	if r.Variant == "" {
		return fmt.Sprintf("%s seed %d", r.Method, r.Seed)
	}
	return fmt.Sprintf("%s (%s) seed %d", r.Method, r.Variant, r.Seed)
}

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
func sortSets(ss []string) { sortByOrder(ss, paperSetOrder, setKey) }

// sortByOrder sorts names by the place of key(name) in order (key nil: the name itself), the
// names whose key is not in order after the others, alphabetically.
func sortByOrder(names, order []string, key func(string) string) {
	rank := func(s string) int {
		if key != nil {
			s = key(s)
		}
		if i := slices.Index(order, s); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(names, func(a, b string) int {
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
	// Degenerate counts the values computed from degenerate scores
	// (metrics.Result.Warnings; for an average, the seeds whose average over
	// the sets includes such a value): the tables mark the statistic with a
	// dagger (†) and never bold it. Summarize leaves it 0; BuildTable sets it.
	Degenerate int
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
// (method, variant, seed) triple, and returns the benchmark and network.
func checkRuns(runs []RunResult) (bench, net string, err error) {
	if len(runs) == 0 {
		return "", "", fmt.Errorf("report: no runs")
	}
	bench, net = runs[0].Benchmark, runs[0].Network
	seen := map[string]bool{}
	for _, r := range runs {
		if r.Benchmark != bench || r.Network != net {
			return "", "", fmt.Errorf("report: runs mix %s/%s with %s/%s (method %s): select one benchmark and network first",
				bench, net, r.Benchmark, r.Network, runLabel(r))
		}
		k := fmt.Sprintf("%s\x00%s\x00%d", r.Method, r.Variant, r.Seed)
		if seen[k] {
			return "", "", fmt.Errorf("report: method %s appears twice", runLabel(r))
		}
		seen[k] = true
	}
	return bench, net, nil
}

// variantKey identifies a table row, a plotted line: a method and a variant.
type variantKey struct{ method, variant string }

// groupRuns groups runs by method and variant, in table order: methods in the registry's
// order (SortMethods), the variants of a method in the order they first appear in runs (the
// grid's axis order).
func groupRuns(runs []RunResult) ([]variantKey, map[variantKey][]RunResult) {
	by := map[variantKey][]RunResult{}
	var keys []variantKey
	var methods []string
	variantRank := map[string]int{}
	for _, r := range runs {
		k := variantKey{r.Method, r.Variant}
		if _, ok := by[k]; !ok {
			keys = append(keys, k)
		}
		if !slices.Contains(methods, r.Method) {
			methods = append(methods, r.Method)
		}
		if _, ok := variantRank[r.Variant]; !ok {
			variantRank[r.Variant] = len(variantRank)
		}
		by[k] = append(by[k], r)
	}
	SortMethods(methods)
	slices.SortStableFunc(keys, func(a, b variantKey) int {
		if c := cmp.Compare(slices.Index(methods, a.method), slices.Index(methods, b.method)); c != 0 {
			return c
		}
		return cmp.Compare(variantRank[a.variant], variantRank[b.variant])
	})
	return keys, by
}

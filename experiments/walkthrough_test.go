package main

// The "add a method" walk-through of docs/design.md, kept true by a test: this file adds a
// sampler with its own options block and a method that uses it, in this one file (a real
// addition puts the sampler in sampling/<name>.go and the method in
// experiments/config/method_<name>.go), and runs it end to end on the quick grid's data at a
// tiny size. Nothing else in the repository knows about either.

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/internal/cli"
	"github.com/oodlab/dos/sampling"
)

// Step 1 (a real addition puts this in its own file of package sampling): the sampler, its
// options block and its registration.

// StrideOptions is the stride sampler's block (method.stride).
type StrideOptions struct {
	// Step: every Step-th pool row is an outlier of the epoch.
	Step int `yaml:"step"`
}

// Check implements sampling.Options.
func (o *StrideOptions) Check(sampling.RunShape) []sampling.Problem {
	if o.Step < 1 {
		return []sampling.Problem{{Field: "step", Message: "want >= 1"}}
	}
	return nil
}

// strideSampler draws the rows 0, Step, 2 Step, ... (from an offset that moves each epoch).
type strideSampler struct {
	pool, per, step int
}

func (s *strideSampler) Name() string                 { return "stride" }
func (s *strideSampler) Scoring() sampling.Scoring    { return sampling.ScoreNone }
func (s *strideSampler) Request(int) sampling.Request { return sampling.Request{} }
func (s *strideSampler) Select(epoch int, _ sampling.Scores) ([]int32, error) {
	rows := make([]int32, s.per)
	for i := range rows {
		rows[i] = int32((epoch + i*s.step) % s.pool)
	}
	return rows, nil
}

func init() {
	sampling.Register(sampling.Spec{Name: "stride", Block: "stride", PerEpoch: true,
		Defaults: func() sampling.Options { return &StrideOptions{Step: 2} },
		New: func(env sampling.Env, o sampling.Options) (sampling.Sampler, error) {
			return &strideSampler{pool: env.PoolSize, per: env.OutliersPerEpoch, step: o.(*StrideOptions).Step}, nil
		}})
}

// Step 2 (a real addition: its own file of package experiments/config): the method.

func init() {
	config.RegisterMethod(config.MethodSpec{
		Name:        "stride",
		Display:     "Stride",
		Description: "test-only: every k-th outlier, absent class",
		Order:       100,
		Defaults: func(r *config.Run) {
			m := &r.Method
			m.Sampler = "stride"
			m.Loss = config.LossAbsent
			m.Weight = 1
			m.Outputs = config.OutputsAbsent
			m.Score = config.ScoreAbsent
			m.OutliersPerEpoch = config.DefaultOutliersPerEpoch
		},
	})
}

// Step 3: use it in a grid, with its block like any other key.
func TestWalkthroughNewMethod(t *testing.T) {
	dir := t.TempDir()
	grid := filepath.Join(dir, "walk.yaml")
	os.WriteFile(grid, []byte(`name: walk
base:
  benchmark: {id: mnist@0-4, pool: mnist@5-7, tests: [mnist@8], image_size: 28, augment: none}
  network: mlp
  epochs: 1
  batch: {id: 32, ood: 32}
  optim: {lr: 0.02, milestones: []}
  method: {outliers_per_epoch: 128, stride: {step: 3}}
  caps: {max_train: 128, max_pool: 256, max_test: 64}
axes:
  method: [stride]
`), 0o644)
	out := filepath.Join(dir, "runs")
	code, stdout, errs := call(t, context.Background(), newExecutor, "--grid", grid, "--out", out, "--backend", "go")
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, errs)
	}
	if !strings.Contains(stdout, "| Stride |") {
		t.Errorf("the table lacks the new method's row:\n%s", stdout)
	}
	// The block is recorded in the run's configuration, and results.json holds the test set.
	matches, _ := filepath.Glob(filepath.Join(out, "walk", "stride-s3-*", store.ConfigFile))
	if len(matches) != 1 {
		t.Fatalf("run directories: %v", matches)
	}
	cfg, _ := os.ReadFile(matches[0])
	if !strings.Contains(string(cfg), "stride:\n        step: 3") {
		t.Errorf("config.yaml lacks the stride block:\n%s", cfg)
	}
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(matches[0]), store.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Sets map[string]any `json:"sets"`
	}
	if err := json.Unmarshal(raw, &res); err != nil || res.Sets["mnist@8"] == nil {
		t.Errorf("results.json: %v %s", err, raw)
	}
	// The block is checked like the others: an unknown key names file and line, a bad value the field.
	os.WriteFile(grid, []byte("name: walk\nbase:\n  network: mlp\n  method: {stride: {stpe: 3}}\naxes:\n  method: [stride]\n"), 0o644)
	if code, _, errs := call(t, context.Background(), noExecutor, "--grid", grid, "--dry-run"); code != cli.ExitFailed ||
		!strings.Contains(errs, grid+":4: unknown key \"stpe\" in base.method.stride") {
		t.Errorf("typo in the block: exit %d %s", code, errs)
	}
	os.WriteFile(grid, []byte("name: walk\nbase:\n  network: mlp\n  method: {stride: {step: 0}}\naxes:\n  method: [stride]\n"), 0o644)
	if code, _, errs := call(t, context.Background(), noExecutor, "--grid", grid, "--dry-run"); code != cli.ExitFailed ||
		!strings.Contains(errs, "method.stride.step: want >= 1") {
		t.Errorf("bad value in the block: exit %d %s", code, errs)
	}
}

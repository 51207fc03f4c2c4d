package config

import (
	"strings"
	"testing"
)

// TestScalarTypes checks that a value of the wrong kind for its field is an error naming the
// file, the line and the key, in run files, grid bases and grid axes, instead of being
// truncated (1.7 into an integer), converted ("true" into a boolean) or ignored (null).
func TestScalarTypes(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"decimal epochs", "method: {name: dos}\nepochs: 1.7\n", []string{"x.yaml:2:", "epochs", "1.7", "integer"}},
		{"decimal batch", "method: {name: dos}\nbatch:\n  id: 64.9\n", []string{"x.yaml:3:", "batch.id", "64.9", "integer"}},
		{"decimal block", "method:\n  name: dos\n  dos: {candidates: 128.99}\n", []string{"x.yaml:3:", "method.dos.candidates", "128.99"}},
		{"integral decimal", "method: {name: dos}\nepochs: 4.0\n", []string{"x.yaml:2:", "epochs", "4.0"}},
		{"exponent", "method: {name: oe, outliers_per_epoch: 5e4}\n", []string{"x.yaml:1:", "method.outliers_per_epoch", "5e4"}},
		{"decimal milestone", "method: {name: dos}\noptim: {milestones: [50, 75.5]}\n", []string{"x.yaml:2:", "optim.milestones[1]", "75.5"}},
		{"negative seed", "method: {name: dos}\nseed: -1\n", []string{"x.yaml:2:", "seed", "-1", "non-negative"}},
		{"huge epochs", "method: {name: dos}\nepochs: 99999999999999999999\n", []string{"x.yaml:2:", "epochs", "99999999999999999999"}},
		{"string integer", "method: {name: dos}\nepochs: \"4\"\n", []string{"x.yaml:2:", "epochs", `"4"`}},
		{"null integer", "method: {name: dos}\nepochs: null\n", []string{"x.yaml:2:", "epochs", "null"}},
		{"list integer", "method: {name: dos}\nepochs: [4]\n", []string{"x.yaml:2:", "epochs", "a list"}},
		{"string bool", "method: {name: dos}\noptim: {nesterov: \"true\"}\n", []string{"x.yaml:2:", "optim.nesterov", "true or false"}},
		{"yes bool", "method: {name: dos}\nbatch: {drop_last: yes}\n", []string{"x.yaml:2:", "batch.drop_last", "yes"}},
		{"number bool", "method:\n  name: dos\n  dos:\n    normalize: 1\n", []string{"x.yaml:4:", "method.dos.normalize", "1"}},
		{"string float", "method: {name: dos}\noptim: {lr: \"0.1\"}\n", []string{"x.yaml:2:", "optim.lr", "0.1", "number"}},
		{"bool float", "method: {name: dos}\noptim: {lr: true}\n", []string{"x.yaml:2:", "optim.lr", "true"}},
		{"null string", "method: {name: dos}\nnetwork: null\n", []string{"x.yaml:2:", "network", "null"}},
		{"mapping string", "method: {name: dos}\nnetwork: {name: mlp}\n", []string{"x.yaml:2:", "network", "a mapping"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse("x.yaml", []byte(tc.text))
			if err == nil {
				t.Fatalf("no error for\n%s(epochs %d, batch %+v, seed %d)", tc.text, r.Epochs, r.Batch, r.Seed)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestScalarTypesGrid checks the same in grid bases and axes: an axis seed: [3, 3.5] must not
// silently become one run.
func TestScalarTypesGrid(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"axis seed", "name: g\nbase: {network: mlp, epochs: 4, optim: {milestones: [2]}}\naxes:\n  method: [dos]\n  seed: [3, 3.5]\n",
			[]string{"g.yaml:5:", "axes.seed", "3.5", "integer"}},
		{"axis negative seed", "name: g\nbase: {network: mlp, epochs: 4, optim: {milestones: [2]}}\naxes:\n  method: [dos]\n  seed: [-3]\n",
			[]string{"g.yaml:5:", "axes.seed", "-3"}},
		{"axis epochs", "name: g\nbase: {network: mlp, optim: {milestones: [2]}}\naxes:\n  method: [dos]\n  epochs:\n    - 4\n    - 1.7\n",
			[]string{"g.yaml:7:", "axes.epochs", "1.7"}},
		{"axis block", "name: g\nbase: {network: mlp, epochs: 4, optim: {milestones: [2]}}\naxes:\n  method: [dos]\n  method.dos.candidates: [128.99]\n",
			[]string{"g.yaml:5:", "method.dos.candidates", "128.99"}},
		{"axis bool", "name: g\nbase: {network: mlp, epochs: 4, optim: {milestones: [2]}}\naxes:\n  method: [dos]\n  optim.nesterov: [\"false\"]\n",
			[]string{"g.yaml:5:", "optim.nesterov", "true or false"}},
		{"base", "name: g\nbase:\n  network: mlp\n  batch: {ood: 64.5}\naxes:\n  method: [dos]\n",
			[]string{"g.yaml:4:", "base.batch.ood", "64.5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := ParseGrid("g.yaml", []byte(tc.text))
			var runs []*Run
			if err == nil {
				runs, err = g.Expand(nil)
			}
			if err == nil {
				t.Fatalf("no error for\n%s(%d runs)", tc.text, len(runs))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	// Integers written in other bases or with digit separators are integers.
	r, err := Parse("x.yaml", []byte("method: {name: dos}\nepochs: 0x10\noptim: {milestones: [1_0]}\nseed: 0\n"))
	if err != nil || r.Epochs != 16 || r.Optim.Milestones[0] != 10 {
		t.Errorf("0x10 and 1_0: %v", err)
	}
}

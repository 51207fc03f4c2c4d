package train

import (
	"slices"
	"testing"

	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/experiments/config"
)

// benchmark.normalize: the DOS code's per-set CIFAR values by default (datasets/__init__.py), the
// Outlier Exposure code's with oe, the training split's own statistics with computed and for
// sets without official values.
func TestNormalization(t *testing.T) {
	train := data.Synthetic(data.SyntheticConfig{N: 20, H: 8, W: 8, C: 3, Classes: 2, Look: 1, Draw: 2})
	computed := data.ComputeNormalize(train)
	for _, tc := range []struct {
		mode, set  string
		mean0, std float32
	}{
		{config.NormalizeOfficial, "cifar10", 0.4914, 0.2470},
		{config.NormalizeOfficial, "cifar100", 0.5071, 0.2673},
		{config.NormalizeOE, "cifar100", 125.3 / 255, 63.0 / 255},
		{config.NormalizeOE, "cifar10", 125.3 / 255, 63.0 / 255},
		{config.NormalizeComputed, "cifar100", computed.Mean[0], computed.Std[0]},
		{config.NormalizeOfficial, "mnist", computed.Mean[0], computed.Std[0]},
	} {
		n, err := normalization(tc.mode, tc.set, train)
		if err != nil {
			t.Fatal(err)
		}
		if n.Mean[0] != tc.mean0 || n.Std[0] != tc.std {
			t.Errorf("%s on %s: mean %v std %v, want %v and %v", tc.mode, tc.set, n.Mean, n.Std, tc.mean0, tc.std)
		}
	}
	c10, _ := normalization(config.NormalizeOfficial, "cifar10", train)
	c100, _ := normalization(config.NormalizeOfficial, "cifar100", train)
	if slices.Equal(c10.Mean, c100.Mean) {
		t.Error("CIFAR-10 and CIFAR-100 share the normalisation; the DOS code gives each its own")
	}
	if _, err := normalization("zscore", "cifar10", train); err == nil {
		t.Error("an unknown mode gave no error")
	}
}

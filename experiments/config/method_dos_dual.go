package config

import "github.com/oodlab/dos/sampling"

// DOS as the run scripts of the official repository's commit 2ca0913 call it
// (scripts/train-cifar100.sh: train_dual_batch.py --ood_ratio 0.8): per
// iteration a fresh random sample of 384 candidates, scored without
// augmentation; the 80% with the lowest p_absent kept; their raw (not
// normalised) features clustered by K-means with one restart into 64
// clusters; the member nearest each centroid kept; the ID loader keeps its
// last partial batch. The paper's text describes train_diverse.py (method
// dos); which of the two produced its tables is not stated (docs/method.md
// section 2).
func init() {
	RegisterMethod(MethodSpec{
		Name:        "dos-dual",
		Display:     "DOS (dual-batch)",
		Description: "DOS as the 2ca0913 run scripts call it (train_dual_batch.py): fresh 384/iteration, test-transform scores, 80% lowest p_absent, raw features, n_init 1, nearest-centroid picks",
		Order:       7,
		Defaults: func(r *Run) {
			dosDefaults(r)
			d := r.Method.Samplers["dos"].(*sampling.DOSOptions)
			d.Variant = sampling.VariantDualBatch
			d.KeepRatio = 0.8 // --ood_ratio 0.8 in the run scripts (the script's own default is 0.5)
			d.Normalize = false
			d.NInit = 1
			d.Pick = sampling.PickNearest
			r.Batch.DropLast = false // train_dual_batch.py's ID loader keeps the last partial batch
		},
	})
}

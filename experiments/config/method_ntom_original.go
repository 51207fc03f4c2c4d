package config

import "github.com/oodlab/dos/sampling"

// NTOM as its own authors ran it (train_ntom.py in github.com/jfc43/informative-outlier-mining,
// commit c621250), for comparisons with the NTOM paper: each epoch 400,000 pool rows from a
// random offset (--pool-size 1000 batches of --ood-batch-size 400) scored with the training
// augmentation and kept as scored, sorted by p_absent, 2 x |ID train| outliers (100,000 on CIFAR)
// kept from quantile 0.125 and served shuffled in batches of 2 x 64 = 128; K+1 outputs, CE to
// the absent class, score 1 - p_absent. The DOS authors' NTOM (method ntom) scores the whole pool
// with the test transform, keeps 50,000 from quantile 0 and serves them unshuffled, 64 a batch.
// outliers_per_epoch is set for CIFAR's 50,000 training images; set it to twice the ID
// training set for other sets.
func init() {
	RegisterMethod(MethodSpec{
		Name:        "ntom-original",
		Display:     "NTOM (original)",
		Description: "NTOM as train_ntom.py: 400k augmented scan, q=0.125, 100k outliers/epoch shuffled, OOD batch 128; K+1 outputs, 1-p_absent score",
		Order:       8,
		Defaults: func(r *Run) {
			ntomDefaults(r)
			m := &r.Method
			m.OutliersPerEpoch = 2 * DefaultOutliersPerEpoch
			g := m.Samplers["ntom"].(*sampling.GreedyOptions)
			g.Quantile = 0.125
			g.Scan = 400_000
			g.ScanAugment = true
			g.Shuffle = true
			r.Batch.OOD = 2 * DefaultBatchID
		},
	})
}

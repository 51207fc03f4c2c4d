package config

// Share (random sampling with an absent class), the DOS authors'
// train_rand_epoch.py --training abs --beta 1.0: 50,000 uniform outliers per
// epoch, K+1 outputs, CE to the absent class, score 1 - p_absent
// (docs/method.md section 4).
func init() {
	RegisterMethod(MethodSpec{
		Name:        "share",
		Display:     "Share",
		Description: "random sampling: 50k uniform outliers/epoch, K+1 outputs, 1-p_absent score",
		Order:       4,
		Defaults: func(r *Run) {
			m := &r.Method
			m.Sampler = "random"
			m.Loss = LossAbsent
			m.Weight = 1
			m.Outputs = OutputsAbsent
			m.Score = ScoreAbsent
			m.OutliersPerEpoch = DefaultOutliersPerEpoch
		},
	})
}

package config

// Outlier Exposure as the DOS authors ran it (train_rand_epoch.py): 50,000
// uniform outliers per epoch, 0.5 x cross-entropy to the uniform
// distribution, MSP score (docs/method.md section 4).
func init() {
	RegisterMethod(MethodSpec{
		Name:        "oe",
		Display:     "OE",
		Description: "outlier exposure: 50k uniform outliers/epoch, 0.5 x CE to uniform, MSP score",
		Order:       1,
		Defaults: func(r *Run) {
			m := &r.Method
			m.Sampler = "random"
			m.Loss = LossOE
			m.Weight = 0.5
			m.Outputs = OutputsK
			m.Score = ScoreMSP
			m.OutliersPerEpoch = DefaultOutliersPerEpoch
		},
	})
}

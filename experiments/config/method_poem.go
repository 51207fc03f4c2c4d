package config

// POEM as the DOS authors compared it: 400,000 candidates scanned per epoch,
// a Thompson-sampled Bayesian linear-regression head keeps the 50,000
// outliers closest to the boundary; K outputs, 0.1 x energy loss (-25, -7),
// energy score (docs/method.md section 4; posterior hyperparameters from
// the official POEM code's train_poem.py).
func init() {
	RegisterMethod(MethodSpec{
		Name:        "poem",
		Display:     "POEM",
		Description: "POEM: Thompson-sampled boundary outliers (50k of 400k/epoch), 0.1 x energy loss, energy score",
		Order:       5,
		Defaults: func(r *Run) {
			m := &r.Method
			m.Sampler = "poem"
			m.Loss = LossEnergy
			m.Weight = 0.1
			m.Outputs = OutputsK
			m.Score = ScoreEnergy
			m.OutliersPerEpoch = DefaultOutliersPerEpoch
		},
	})
}

package config

// MSP: the baseline without outliers; the test score is the maximum softmax
// probability (docs/method.md section 4).
func init() {
	RegisterMethod(MethodSpec{
		Name:        "msp",
		Display:     "MSP",
		Description: "no outliers; cross-entropy on ID only, maximum-softmax score",
		Order:       0,
		Defaults: func(r *Run) {
			m := &r.Method
			m.Sampler = SamplerNone
			m.Loss = LossNone
			m.Weight = 0
			m.Outputs = OutputsK
			m.Score = ScoreMSP
			m.OutliersPerEpoch = 0
		},
	})
}

package config

// Energy-bounded learning as the DOS authors ran it (train_energy.py, from
// scratch): 50,000 uniform outliers per epoch, 0.1 x energy margin loss with
// m_in = -25, m_out = -7, energy score (docs/method.md section 4).
func init() {
	RegisterMethod(MethodSpec{
		Name:        "energy",
		Display:     "Energy",
		Description: "energy loss: 50k uniform outliers/epoch, 0.1 x margins (-25, -7), energy score",
		Order:       2,
		Defaults: func(r *Run) {
			m := &r.Method
			m.Sampler = "random"
			m.Loss = LossEnergy
			m.Weight = 0.1
			m.Outputs = OutputsK
			m.Score = ScoreEnergy
			m.OutliersPerEpoch = DefaultOutliersPerEpoch
			m.Energy = &Energy{MIn: DefaultMIn, MOut: DefaultMOut}
		},
	})
}

package config

// NTOM as the DOS authors ran it (train_greedy_epoch.py): each epoch the
// whole pool is scored, sorted by p_absent ascending, and the 50,000 from
// quantile 0 kept; K+1 outputs, CE to the absent class, score 1 - p_absent
// (docs/method.md section 4; the NTOM paper itself uses q = 0.125).
func init() {
	RegisterMethod(MethodSpec{
		Name:        "ntom",
		Display:     "NTOM",
		Description: "NTOM: greedy 50k most ID-looking outliers/epoch (q=0), K+1 outputs, 1-p_absent score",
		Order:       3,
		Defaults:    ntomDefaults,
	})
}

// ntomDefaults are the defaults of method ntom, which ntom-original starts from.
func ntomDefaults(r *Run) {
	m := &r.Method
	m.Sampler = "greedy"
	m.Loss = LossAbsent
	m.Weight = 1
	m.Outputs = OutputsAbsent
	m.Score = ScoreAbsent
	m.OutliersPerEpoch = DefaultOutliersPerEpoch
}

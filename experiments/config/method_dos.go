package config

// DOS (diverse outlier sampling), the released code (github.com/lygjwy/DOS,
// HEAD 47ba80f): per iteration 384 candidates scored in inference mode,
// their L2-normalised features clustered by k-means (k = OOD batch 64,
// n_init 5, up to 300 iterations, tol 1e-4), the member of each cluster with
// the smallest p_absent kept; K+1 outputs, 1.0 x CE to the absent class,
// score 1 - p_absent (docs/method.md section 2). Trimming (an early variant's
// spt=16) is off, as released.
func init() {
	RegisterMethod(MethodSpec{
		Name:        "dos",
		Display:     "DOS",
		Description: "DOS: per iteration k-means of 384 candidates into 64 clusters, least uncertain per cluster; K+1 outputs, 1-p_absent score",
		Order:       6,
		Defaults:    dosDefaults,
	})
}

// dosDefaults are the defaults of method dos, which dos-dual starts from.
func dosDefaults(r *Run) {
	m := &r.Method
	m.Sampler = "dos"
	m.Loss = LossAbsent
	m.Weight = 1
	m.Outputs = OutputsAbsent
	m.Score = ScoreAbsent
	m.OutliersPerEpoch = 0
	r.Batch.DropLast = true // train_diverse.py's ID loader: drop_last=True
}

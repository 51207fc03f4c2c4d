package config

import "github.com/oodlab/dos/sampling"

// DOS combined with the energy loss, as the paper's ablation of the training objective pairs
// them: DOS's selection (per iteration 384 candidates, normalised features, k-means into 64
// clusters, the least uncertain member of each) on a network without the absent class, with
// "least uncertain" read as the smallest free energy -logsumexp(logits) (the official code's
// get_energy_weight, scores/utils.py), trained with 0.1 x the energy margin loss (-25, -7) and
// scored with the energy score. No released script runs this combination: train_dual_batch.py
// of commit 2ca0913 accepts --training energy --weighting energy but always applies the
// absent-class loss. The loss weight and margins are those of the DOS authors' Energy runs
// (method energy); the paper's own values for this row could not be read
// (docs/method.md section 13).
func init() {
	RegisterMethod(MethodSpec{
		Name:        "dos-energy",
		Display:     "DOS (energy)",
		Description: "DOS selection by free energy on K outputs (no absent class), 0.1 x energy loss (-25, -7), energy score",
		Order:       8,
		Defaults: func(r *Run) {
			dosDefaults(r)
			m := &r.Method
			m.Loss = LossEnergy
			m.Weight = 0.1
			m.Outputs = OutputsK
			m.Score = ScoreEnergy
			r.Method.Samplers["dos"].(*sampling.DOSOptions).Uncertainty = sampling.UncertaintyEnergy
		},
	})
}

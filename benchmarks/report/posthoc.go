package report

import (
	"fmt"
	"slices"
	"strings"
)

// Post-hoc scores: besides its method's own test score (the headline, RunResult.PerSet), every
// run is scored with every post-hoc score that applies to its model (RunResult.Scores: msp,
// maxlogit, energy, absent for a net with the absent class, knn). The report has one table per
// score, in the layout of the main table.

// scoreOrder is the report order of the post-hoc scores; others follow alphabetically.
var scoreOrder = []string{"msp", "maxlogit", "energy", "absent", "knn"}

// ScoreNames returns the post-hoc scores that some done run has, in report order: msp,
// maxlogit, energy, absent, knn, then any others alphabetically.
func ScoreNames(runs []RunResult) []string {
	var names []string
	for _, r := range runs {
		if r.Status != StatusDone {
			continue
		}
		for n := range r.Scores {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	sortByOrder(names, scoreOrder, nil)
	return names
}

// ScoreDescription says what a post-hoc score is, for titles and captions; ks are the k values
// of the knn score in the runs.
func ScoreDescription(score string, ks []int) string {
	switch score {
	case "msp":
		return "MSP, the maximum softmax probability over the ID classes"
	case "maxlogit":
		return "max logit, the largest ID logit"
	case "energy":
		return "energy, logsumexp of the ID logits (negative free energy)"
	case "absent":
		return "absent class, the log-odds of the ID classes against the absent one (ranks as 1 - p_abs; nets with the absent class only)"
	case "knn":
		k := "k"
		if len(ks) > 0 {
			parts := make([]string, len(ks))
			for i, v := range ks {
				parts[i] = fmt.Sprint(v)
			}
			k = "k = " + strings.Join(parts, ", ")
		}
		return "KNN (Sun et al., ICML 2022), minus the squared distance from the L2-normalised penultimate features to the " +
			"k-th nearest of the ID training set's, " + k
	}
	return score
}

// BuildScoreTable is BuildTable for one post-hoc score: each run's Scores[score] in place of its
// PerSet. Only the methods (and variants) that have the score in some done run get a row. The
// title (after opt.Title) names the score and the methods whose own score it is, whose rows
// repeat the main table's.
func BuildScoreTable(runs []RunResult, score string, opt TableOptions) (*Table, error) {
	keys, byKey := groupRuns(runs)
	var sel []RunResult
	var ks []int
	var ownNames []string
	for _, k := range keys {
		has := slices.ContainsFunc(byKey[k], func(r RunResult) bool { _, ok := r.Scores[score]; return ok && r.Status == StatusDone })
		if !has {
			continue
		}
		for _, r := range byKey[k] {
			c := r
			c.PerSet = r.Scores[score]
			sel = append(sel, c)
			if r.Status != StatusDone {
				continue
			}
			if score == "knn" && r.KNNK > 0 && !slices.Contains(ks, r.KNNK) {
				ks = append(ks, r.KNNK)
			}
			if r.Score == score && !slices.Contains(ownNames, MethodName(r.Method)) {
				ownNames = append(ownNames, MethodName(r.Method))
			}
		}
	}
	if len(sel) == 0 {
		return nil, fmt.Errorf("report: no done run has the score %s", score)
	}
	slices.Sort(ks)
	title := "Score: " + ScoreDescription(score, ks)
	if len(ownNames) > 0 {
		title += "; the own score of " + strings.Join(ownNames, ", ") + ", whose rows repeat the main table"
	}
	if opt.Title != "" {
		title = opt.Title + ". " + title
	}
	opt.Title = title
	return BuildTable(sel, opt)
}

// Package metrics computes the out-of-distribution (OOD) detection metrics
// of the DOS paper and of OpenOOD v1.5 from two score sets: scores of
// in-distribution (ID) test samples and scores of OOD test samples, where a
// higher score means "more ID".
//
// Two incompatible quantities are both called "FPR95" in the literature; this
// package reports both under distinct names:
//
//   - Result.FPR95 (ID-positive; the DOS paper, NTOM, POEM, Energy): the
//     fraction of OOD samples accepted as ID at the threshold that keeps 95% of
//     ID samples. Formula of the official DOS code (lygjwy/DOS,
//     utils/metrics.py, fpr_tpr; identical to OpenOOD v1.0's fpr_recall):
//     n = floor(0.95 * N_id), threshold = the n-th largest ID score,
//     FPR95 = (number of OOD scores strictly greater than the threshold) / N_ood.
//     For N_id = 1, n = 0 and the official indexing sort(id)[-0] picks the only
//     ID score, which is also the 1st largest; n is therefore raised to 1.
//     Not implemented: the OE/Energy code (utils/display_results.py,
//     fpr_and_fdr_at_recall, also ID-positive) takes the distinct-threshold
//     point whose recall is *nearest* to 0.95 (possibly below it) and counts
//     OOD scores >= the threshold; it can differ from this formula on ties
//     and small sets.
//   - Result.FPR95OODPositive (OpenOOD v1.5, evaluators/metrics.py,
//     auc_and_fpr_recall): OOD is the positive class with score -s; on the ROC
//     curve that scikit-learn's roc_curve returns (drop_intermediate=True, the
//     default: collinear interior points are removed), take the first point
//     whose true-positive rate (share of OOD caught) is >= 0.95 and report its
//     false-positive rate (share of ID rejected).
//
// AUROC is the area under the ROC curve with ties counted as one half (the
// Mann-Whitney statistic; equals scikit-learn roc_auc_score). For the area
// under the precision-recall curve both common summaries are given:
// AUPRIn/AUPROut are trapezoidal (scikit-learn auc(recall, precision) on
// precision_recall_curve, which is what the DOS code and OpenOOD report);
// APIn/APOut are average precision (scikit-learn average_precision_score,
// the step-wise sum of (R_k - R_{k-1}) * P_k). "In" takes ID as the positive
// class with score s, "Out" takes OOD as positive with score -s.
//
// All rates are fractions in [0, 1], not percentages.
//
// # Degenerate scores
//
// Some score sets make these numbers meaningless. A diverged network (say a
// learning rate of 5) can give every test image the same score without any
// NaN: then no OOD score is strictly above the threshold, and FPR95 is 0 -
// a perfect-looking value - next to FPR95OODPositive 1 and AUROC 0.5. The
// official strict inequality is kept (the numbers are those of the official
// code), but Compute reports such cases in Result.Warnings, which
// results.json records per test set and the report marks:
//
//   - all scores, ID and OOD, equal;
//   - all ID scores equal, or all OOD scores equal (sets of two or more);
//   - the FPR95 threshold ties more than TieShare (5%) of the OOD scores:
//     these ties are exactly what the strict '>' decides, so counting them
//     (>=) instead would raise FPR95 by their share; the warning gives both.
package metrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// TPRLevel is the true-positive rate at which both FPR95 variants are taken.
const TPRLevel = 0.95

// TieShare is the share of the OOD scores that may equal the FPR95
// threshold before Compute warns: above it, the official strict inequality
// (OOD scores strictly above the threshold count) decides a material part
// of FPR95 (more than 5 points).
const TieShare = 0.05

// Result holds the OOD detection metrics for one (ID, OOD) pair of score sets.
type Result struct {
	// NumID and NumOOD are the numbers of ID and OOD scores.
	NumID  int `json:"n_id"`
	NumOOD int `json:"n_ood"`
	// FPR95 is the ID-positive FPR at 95% TPR of the DOS paper: the share of
	// OOD scores strictly above the floor(0.95*N_id)-th largest ID score.
	FPR95 float64 `json:"fpr95"`
	// FPR95Threshold is the ID score used as threshold for FPR95.
	FPR95Threshold float64 `json:"fpr95_threshold"`
	// FPR95OODPositive is OpenOOD v1.5's FPR@95TPR with OOD as the positive
	// class: the share of ID samples rejected at the first ROC point that
	// catches 95% of OOD.
	FPR95OODPositive float64 `json:"fpr95_ood_positive"`
	// AUROC is the area under the ROC curve (ties count one half).
	AUROC float64 `json:"auroc"`
	// AUPRIn is the trapezoidal area under the precision-recall curve with
	// ID as the positive class.
	AUPRIn float64 `json:"aupr_in"`
	// AUPROut is the trapezoidal area under the precision-recall curve with
	// OOD as the positive class (score negated).
	AUPROut float64 `json:"aupr_out"`
	// APIn is the average precision with ID as the positive class.
	APIn float64 `json:"ap_in"`
	// APOut is the average precision with OOD as the positive class.
	APOut float64 `json:"ap_out"`
	// Warnings say why the scores are degenerate (constant scores, or a
	// threshold that ties more than TieShare of the OOD scores; see the
	// package documentation); empty for sound scores. In JSON a list of
	// strings, left out when empty. Reports mark numbers computed from
	// degenerate scores and never rank them best.
	Warnings Warnings `json:"warnings,omitempty"`
}

// Degenerate reports whether the scores behind r are degenerate (r has
// warnings).
func (r Result) Degenerate() bool { return r.Warnings != "" }

// Warnings are the warnings of a Result, one per line. They are held in a
// string, not a slice, so that a Result stays comparable with == (a resumed
// run's metrics are checked that way); in JSON they are a list of strings.
type Warnings string

// NewWarnings makes Warnings of a list of one-line warnings ("" for none).
func NewWarnings(list ...string) Warnings { return Warnings(strings.Join(list, "\n")) }

// List returns the warnings (nil for none).
func (w Warnings) List() []string {
	if w == "" {
		return nil
	}
	return strings.Split(string(w), "\n")
}

// MarshalJSON writes the warnings as a JSON list of strings.
func (w Warnings) MarshalJSON() ([]byte, error) {
	l := w.List()
	if l == nil {
		l = []string{}
	}
	return json.Marshal(l)
}

// UnmarshalJSON reads a JSON list of strings (or null).
func (w *Warnings) UnmarshalJSON(b []byte) error {
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("metrics: warnings: %w", err)
	}
	*w = NewWarnings(l...)
	return nil
}

// Convention selects which FPR95 a report shows.
type Convention int

const (
	// IDPositive is the DOS paper's FPR95 (Result.FPR95). It is the default.
	IDPositive Convention = iota
	// OODPositive is OpenOOD v1.5's FPR@95TPR (Result.FPR95OODPositive).
	OODPositive
)

// String returns the convention's name as used on command lines.
func (c Convention) String() string {
	switch c {
	case IDPositive:
		return "id-positive"
	case OODPositive:
		return "ood-positive"
	}
	return fmt.Sprintf("Convention(%d)", int(c))
}

// Describe returns a one-line human description of the convention, for
// table captions.
func (c Convention) Describe() string {
	switch c {
	case IDPositive:
		return "FPR95 ID-positive (share of OOD accepted at the threshold keeping 95% of ID; DOS paper)"
	case OODPositive:
		return "FPR@95TPR OOD-positive (share of ID rejected at the first threshold catching 95% of OOD; OpenOOD v1.5)"
	}
	return c.String()
}

// ParseConvention parses "id-positive" or "ood-positive".
func ParseConvention(s string) (Convention, error) {
	switch s {
	case "id-positive", "":
		return IDPositive, nil
	case "ood-positive":
		return OODPositive, nil
	}
	return 0, fmt.Errorf("metric convention %q: want id-positive or ood-positive", s)
}

// FPR returns the FPR95 of r under convention c.
func (r Result) FPR(c Convention) float64 {
	if c == OODPositive {
		return r.FPR95OODPositive
	}
	return r.FPR95
}

// level is one distinct score value with the number of ID and OOD samples
// that have it.
type level struct {
	v        float64
	nID, nOD int
}

// Compute returns the metrics for ID scores id and OOD scores ood (higher
// score = more ID). It fails if either set is empty or holds a NaN; ±Inf
// are ordered like any other value.
func Compute(id, ood []float64) (Result, error) {
	if len(id) == 0 {
		return Result{}, errors.New("metrics: no ID scores (want at least one)")
	}
	if len(ood) == 0 {
		return Result{}, errors.New("metrics: no OOD scores (want at least one)")
	}
	if i := slices.IndexFunc(id, math.IsNaN); i >= 0 {
		return Result{}, fmt.Errorf("metrics: ID score %d of %d is NaN", i, len(id))
	}
	if i := slices.IndexFunc(ood, math.IsNaN); i >= 0 {
		return Result{}, fmt.Errorf("metrics: OOD score %d of %d is NaN", i, len(ood))
	}
	sid := slices.Clone(id)
	sod := slices.Clone(ood)
	slices.Sort(sid)
	slices.Sort(sod)
	nID, nOD := len(sid), len(sod)

	r := Result{NumID: nID, NumOOD: nOD}
	r.FPR95, r.FPR95Threshold = fprIDPositive(sid, sod)

	lv := levels(sid, sod) // ascending by value
	r.AUROC = auroc(lv, nID, nOD)

	// ID positive: thresholds from the highest value down.
	down := make([]level, len(lv))
	for i := range lv {
		down[i] = lv[len(lv)-1-i]
	}
	r.AUPRIn, r.APIn = prAreas(down, true, nID)
	// OOD positive (score -s): thresholds from the lowest value up.
	r.AUPROut, r.APOut = prAreas(lv, false, nOD)
	r.FPR95OODPositive = fprOODPositive(lv, nID, nOD)
	r.Warnings = NewWarnings(degenerate(sid, sod, r.FPR95, r.FPR95Threshold)...)
	return r, nil
}

// degenerate returns the warnings of sorted score sets (see the package
// documentation), given the FPR95 and its threshold.
func degenerate(sid, sod []float64, fpr, thr float64) []string {
	nID, nOD := len(sid), len(sod)
	lowID, highID, lowOD, highOD := sid[0], sid[nID-1], sod[0], sod[nOD-1]
	if lowID == highID && lowOD == highOD && lowID == lowOD {
		return []string{fmt.Sprintf("all %d scores (%d ID, %d OOD) equal %g: the scores separate nothing (a diverged network?), "+
			"FPR95 %g only because no OOD score is strictly above the threshold, AUROC 0.5",
			nID+nOD, nID, nOD, lowID, fpr)}
	}
	var w []string
	if nID > 1 && lowID == highID {
		w = append(w, fmt.Sprintf("all %d ID scores equal %g: the ID scores do not rank anything", nID, lowID))
	}
	if nOD > 1 && lowOD == highOD {
		w = append(w, fmt.Sprintf("all %d OOD scores equal %g: the OOD scores do not rank anything", nOD, lowOD))
	}
	lo, _ := slices.BinarySearch(sod, thr)
	hi := lo
	for hi < nOD && sod[hi] == thr {
		hi++
	}
	if ties := hi - lo; float64(ties) > TieShare*float64(nOD) {
		w = append(w, fmt.Sprintf("%d of %d OOD scores (%.1f%%) equal the FPR95 threshold %g: the official strict '>' counts "+
			"none of them, giving FPR95 %g; counting them (>=) would give %g", ties, nOD, 100*float64(ties)/float64(nOD), thr,
			fpr, fpr+float64(ties)/float64(nOD)))
	}
	return w
}

// fprIDPositive implements the official DOS formula on sorted scores.
func fprIDPositive(sid, sod []float64) (fpr, thr float64) {
	n := int(math.Floor(TPRLevel * float64(len(sid))))
	if n < 1 {
		n = 1
	}
	thr = sid[len(sid)-n]
	// Count OOD scores strictly greater than thr.
	k, found := slices.BinarySearch(sod, thr)
	if found {
		for k < len(sod) && sod[k] == thr {
			k++
		}
	}
	return float64(len(sod)-k) / float64(len(sod)), thr
}

// levels merges two ascending slices into distinct values with counts.
func levels(sid, sod []float64) []level {
	out := make([]level, 0, len(sid)+len(sod))
	i, j := 0, 0
	for i < len(sid) || j < len(sod) {
		var v float64
		switch {
		case j >= len(sod) || (i < len(sid) && sid[i] <= sod[j]):
			v = sid[i]
		default:
			v = sod[j]
		}
		l := level{v: v}
		for i < len(sid) && sid[i] == v {
			l.nID++
			i++
		}
		for j < len(sod) && sod[j] == v {
			l.nOD++
			j++
		}
		out = append(out, l)
	}
	return out
}

// auroc is the probability that a random ID score exceeds a random OOD
// score, ties counting one half.
func auroc(lv []level, nID, nOD int) float64 {
	var below float64 // OOD samples strictly below the current value
	var sum float64
	for _, l := range lv {
		sum += float64(l.nID) * (below + 0.5*float64(l.nOD))
		below += float64(l.nOD)
	}
	return sum / (float64(nID) * float64(nOD))
}

// prAreas walks the thresholds in ls (most positive first) and returns the
// trapezoidal area under the precision-recall curve (starting from the point
// recall 0, precision 1 as scikit-learn does) and the average precision.
func prAreas(ls []level, idPositive bool, nPos int) (trap, ap float64) {
	var tp, fp int
	prevR, prevP := 0.0, 1.0
	for _, l := range ls {
		if idPositive {
			tp, fp = tp+l.nID, fp+l.nOD
		} else {
			tp, fp = tp+l.nOD, fp+l.nID
		}
		r := float64(tp) / float64(nPos)
		p := float64(tp) / float64(tp+fp)
		trap += (r - prevR) * (p + prevP) / 2
		ap += (r - prevR) * p
		prevR, prevP = r, p
	}
	return trap, ap
}

// fprOODPositive reproduces OpenOOD v1.5: ROC with OOD positive and score -s,
// i.e. thresholds walking the values upwards; scikit-learn's
// drop_intermediate removes interior points where both cumulative counts
// have zero second difference; the FPR of the first remaining point with
// TPR >= 0.95 is returned.
func fprOODPositive(lv []level, nID, nOD int) float64 {
	m := len(lv)
	tps := make([]int, m) // OOD with score <= value
	fps := make([]int, m) // ID with score <= value
	var tp, fp int
	for i, l := range lv {
		tp += l.nOD
		fp += l.nID
		tps[i], fps[i] = tp, fp
	}
	keep := func(i int) bool {
		if m <= 2 || i == 0 || i == m-1 {
			return true
		}
		return fps[i+1]-2*fps[i]+fps[i-1] != 0 || tps[i+1]-2*tps[i]+tps[i-1] != 0
	}
	for i := range m {
		if !keep(i) {
			continue
		}
		if float64(tps[i])/float64(nOD) >= TPRLevel {
			return float64(fps[i]) / float64(nID)
		}
	}
	// Unreachable: the last point has TPR 1.
	return 1
}

// Accuracy returns the share of positions where pred equals labels. It
// fails if the slices are empty or differ in length.
func Accuracy[T ~int | ~int32 | ~int64](pred, labels []T) (float64, error) {
	if len(pred) != len(labels) {
		return 0, fmt.Errorf("metrics: accuracy: %d predictions but %d labels", len(pred), len(labels))
	}
	if len(pred) == 0 {
		return 0, errors.New("metrics: accuracy: no predictions (want at least one)")
	}
	var ok int
	for i := range pred {
		if pred[i] == labels[i] {
			ok++
		}
	}
	return float64(ok) / float64(len(pred)), nil
}

package metrics

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

type scoreCase struct {
	Name string    `json:"name"`
	ID   []float64 `json:"id"`
	OOD  []float64 `json:"ood"`
}

type goldenCase struct {
	Name string `json:"name"`
	Result
}

func loadJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestGoldens compares against scikit-learn and the official FPR95 formula
// (testdata/gen_goldens.py) on score sets with and without ties.
func TestGoldens(t *testing.T) {
	var scores struct{ Cases []scoreCase }
	var gold struct{ Cases []goldenCase }
	loadJSON(t, "testdata/scores.json", &scores)
	loadJSON(t, "testdata/golden.json", &gold)
	if len(scores.Cases) != len(gold.Cases) || len(gold.Cases) < 10 {
		t.Fatalf("%d score cases, %d golden cases", len(scores.Cases), len(gold.Cases))
	}
	const tol = 1e-6
	for i, sc := range scores.Cases {
		g := gold.Cases[i]
		t.Run(sc.Name, func(t *testing.T) {
			if g.Name != sc.Name {
				t.Fatalf("golden case %d is %q, scores case is %q", i, g.Name, sc.Name)
			}
			r, err := Compute(sc.ID, sc.OOD)
			if err != nil {
				t.Fatal(err)
			}
			if r.NumID != g.NumID || r.NumOOD != g.NumOOD {
				t.Errorf("sizes %d/%d, want %d/%d", r.NumID, r.NumOOD, g.NumID, g.NumOOD)
			}
			for _, c := range []struct {
				name      string
				got, want float64
			}{
				{"fpr95", r.FPR95, g.FPR95},
				{"fpr95_threshold", r.FPR95Threshold, g.FPR95Threshold},
				{"fpr95_ood_positive", r.FPR95OODPositive, g.FPR95OODPositive},
				{"auroc", r.AUROC, g.AUROC},
				{"aupr_in", r.AUPRIn, g.AUPRIn},
				{"aupr_out", r.AUPROut, g.AUPROut},
				{"ap_in", r.APIn, g.APIn},
				{"ap_out", r.APOut, g.APOut},
			} {
				if math.Abs(c.got-c.want) > tol {
					t.Errorf("%s = %.9f, want %.9f (scikit-learn / official formula)", c.name, c.got, c.want)
				}
			}
		})
	}
}

// TestHandChecked works small cases by hand.
func TestHandChecked(t *testing.T) {
	// 20 ID scores 1..20: n = floor(0.95*20) = 19, threshold = 19th largest = 2.
	id := make([]float64, 20)
	for i := range id {
		id[i] = float64(i + 1)
	}
	ood := []float64{0, 1, 2, 2.5, 3, 30} // strictly above 2: 2.5, 3, 30
	r, err := Compute(id, ood)
	if err != nil {
		t.Fatal(err)
	}
	if r.FPR95Threshold != 2 || r.FPR95 != 3.0/6 {
		t.Errorf("FPR95 = %v at threshold %v, want 0.5 at 2", r.FPR95, r.FPR95Threshold)
	}
	// AUROC: pairs (id > ood) + 0.5 ties over 120 pairs.
	var wins float64
	for _, a := range id {
		for _, b := range ood {
			switch {
			case a > b:
				wins++
			case a == b:
				wins += 0.5
			}
		}
	}
	if want := wins / 120; math.Abs(r.AUROC-want) > 1e-12 {
		t.Errorf("AUROC = %v, want %v", r.AUROC, want)
	}
	// Perfect separation.
	r, err = Compute([]float64{5, 6, 7}, []float64{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]float64{"auroc": r.AUROC, "aupr_in": r.AUPRIn, "aupr_out": r.AUPROut, "ap_in": r.APIn, "ap_out": r.APOut} {
		if v != 1 {
			t.Errorf("separated: %s = %v, want 1", name, v)
		}
	}
	if r.FPR95 != 0 || r.FPR95OODPositive != 0 {
		t.Errorf("separated: FPR95 %v / %v, want 0 / 0", r.FPR95, r.FPR95OODPositive)
	}
}

// TestProperties checks invariances on random data with ties.
func TestProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 30 {
		nID, nOD := 1+rng.IntN(200), 1+rng.IntN(200)
		id := make([]float64, nID)
		ood := make([]float64, nOD)
		for i := range id {
			id[i] = math.Round(rng.NormFloat64()*4+2) / 4
		}
		for i := range ood {
			ood[i] = math.Round(rng.NormFloat64()*4) / 4
		}
		r, err := Compute(id, ood)
		if err != nil {
			t.Fatal(err)
		}
		// A strictly increasing transform leaves everything but the
		// threshold unchanged.
		tid := make([]float64, nID)
		tod := make([]float64, nOD)
		for i, v := range id {
			tid[i] = math.Exp(v) - 7
		}
		for i, v := range ood {
			tod[i] = math.Exp(v) - 7
		}
		r2, err := Compute(tid, tod)
		if err != nil {
			t.Fatal(err)
		}
		r2.FPR95Threshold = r.FPR95Threshold
		if !close(r, r2) {
			t.Errorf("trial %d: monotone transform changed results:\n%+v\n%+v", trial, r, r2)
		}
		// Swapping roles and negating scores swaps In and Out.
		nid := make([]float64, nOD)
		nod := make([]float64, nID)
		for i, v := range ood {
			nid[i] = -v
		}
		for i, v := range id {
			nod[i] = -v
		}
		r3, err := Compute(nid, nod)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(r3.AUROC-r.AUROC) > 1e-12 || math.Abs(r3.AUPRIn-r.AUPROut) > 1e-12 ||
			math.Abs(r3.APOut-r.APIn) > 1e-12 {
			t.Errorf("trial %d: swap: %+v vs %+v", trial, r3, r)
		}
		// Order of inputs does not matter.
		rng.Shuffle(nID, func(i, j int) { id[i], id[j] = id[j], id[i] })
		r4, _ := Compute(id, ood)
		if r4 != r {
			t.Errorf("trial %d: shuffling changed the result", trial)
		}
		for _, v := range []float64{r.FPR95, r.FPR95OODPositive, r.AUROC, r.AUPRIn, r.AUPROut, r.APIn, r.APOut} {
			if v < 0 || v > 1 {
				t.Errorf("trial %d: value %v outside [0,1]: %+v", trial, v, r)
			}
		}
	}
	// Infinities order like large values.
	a, _ := Compute([]float64{math.Inf(1), 2, 1}, []float64{math.Inf(-1), 1.5})
	b, _ := Compute([]float64{1e9, 2, 1}, []float64{-1e9, 1.5})
	b.FPR95Threshold = a.FPR95Threshold
	if a != b {
		t.Errorf("with infinities %+v, with finite stand-ins %+v", a, b)
	}
}

func close(a, b Result) bool {
	x := []float64{a.FPR95, a.FPR95OODPositive, a.AUROC, a.AUPRIn, a.AUPROut, a.APIn, a.APOut}
	y := []float64{b.FPR95, b.FPR95OODPositive, b.AUROC, b.AUPRIn, b.AUPROut, b.APIn, b.APOut}
	for i := range x {
		if math.Abs(x[i]-y[i]) > 1e-12 {
			return false
		}
	}
	return a.NumID == b.NumID && a.NumOOD == b.NumOOD && a.FPR95Threshold == b.FPR95Threshold
}

func TestErrors(t *testing.T) {
	for _, c := range []struct {
		id, ood []float64
		want    string
	}{
		{nil, []float64{1}, "no ID scores"},
		{[]float64{1}, nil, "no OOD scores"},
		{[]float64{1, math.NaN()}, []float64{1}, "ID score 1 of 2 is NaN"},
		{[]float64{1}, []float64{math.NaN(), 2, 3}, "OOD score 0 of 3 is NaN"},
	} {
		_, err := Compute(c.id, c.ood)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compute(%v, %v) error %v, want %q", c.id, c.ood, err, c.want)
		}
	}
}

func TestAccuracy(t *testing.T) {
	a, err := Accuracy([]int32{1, 2, 3, 4}, []int32{1, 0, 3, 0})
	if err != nil || a != 0.5 {
		t.Errorf("Accuracy = %v, %v; want 0.5", a, err)
	}
	if _, err := Accuracy([]int{1}, []int{1, 2}); err == nil || !strings.Contains(err.Error(), "1 predictions but 2 labels") {
		t.Errorf("length mismatch error %v", err)
	}
	if _, err := Accuracy([]int{}, []int{}); err == nil {
		t.Error("empty: want an error")
	}
}

func TestConvention(t *testing.T) {
	r := Result{FPR95: 0.1, FPR95OODPositive: 0.2}
	for _, s := range []string{"id-positive", "ood-positive"} {
		c, err := ParseConvention(s)
		if err != nil || c.String() != s {
			t.Errorf("ParseConvention(%q) = %v, %v", s, c, err)
		}
	}
	if r.FPR(IDPositive) != 0.1 || r.FPR(OODPositive) != 0.2 {
		t.Error("FPR picks the wrong field")
	}
	if _, err := ParseConvention("tpr"); err == nil {
		t.Error("want an error for an unknown convention")
	}
}

func TestJSONNames(t *testing.T) {
	b, _ := json.Marshal(Result{})
	for _, k := range []string{"fpr95", "fpr95_ood_positive", "auroc", "aupr_in", "aupr_out", "ap_in", "ap_out", "n_id", "n_ood"} {
		if !strings.Contains(string(b), `"`+k+`"`) {
			t.Errorf("JSON %s lacks %q", b, k)
		}
	}
}

package metrics

import (
	"math"
	"slices"
	"testing"
)

type clusterCase struct {
	Name     string    `json:"name"`
	Kind     string    `json:"kind"`
	D        int       `json:"d"`
	X        []float64 `json:"x"`
	Labels   []int     `json:"labels"`
	Selected []int     `json:"selected"`
	CH       float64   `json:"ch"`
}

// TestClusterGoldens pins CalinskiHarabasz, OneStepLabels and SelectionDiversity against
// scikit-learn's calinski_harabasz_score and KMeans(init=picks, max_iter=1)
// (testdata/gen_cluster.py).
func TestClusterGoldens(t *testing.T) {
	var gold struct{ Cases []clusterCase }
	loadJSON(t, "testdata/cluster.json", &gold)
	if len(gold.Cases) < 8 {
		t.Fatalf("%d cases in testdata/cluster.json", len(gold.Cases))
	}
	for _, c := range gold.Cases {
		t.Run(c.Name, func(t *testing.T) {
			var got float64
			var err error
			switch c.Kind {
			case "labels":
				got, err = CalinskiHarabasz(c.X, c.D, c.Labels)
			case "selection":
				centres := make([]float64, 0, len(c.Selected)*c.D)
				for _, s := range c.Selected {
					centres = append(centres, c.X[s*c.D:(s+1)*c.D]...)
				}
				if labels := OneStepLabels(c.X, c.D, centres); !slices.Equal(labels, c.Labels) {
					t.Errorf("OneStepLabels differ from scikit-learn's KMeans labels:\n got %v\nwant %v", labels, c.Labels)
				}
				got, err = SelectionDiversity(c.X, c.D, c.Selected)
			default:
				t.Fatalf("unknown kind %q", c.Kind)
			}
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-c.CH) > 1e-9*math.Abs(c.CH) {
				t.Errorf("index %.15g, want %.15g", got, c.CH)
			}
		})
	}
}

// TestSelectionDiversityOrdersSpreadAboveConcentrated: picks spread over four separated groups
// score higher than as many picks from one group.
func TestSelectionDiversityOrdersSpreadAboveConcentrated(t *testing.T) {
	var x []float64
	for g := range 4 {
		for i := range 10 {
			x = append(x, float64(10*g)+0.1*float64(i), float64(i%3)*0.1)
		}
	}
	spread, err := SelectionDiversity(x, 2, []int{0, 10, 20, 30})
	if err != nil {
		t.Fatal(err)
	}
	concentrated, err := SelectionDiversity(x, 2, []int{0, 3, 6, 9})
	if err != nil {
		t.Fatal(err)
	}
	if !(spread > 10*concentrated) {
		t.Errorf("spread picks %.4g, concentrated picks %.4g: want the spread ones far higher", spread, concentrated)
	}
}

func TestClusterErrors(t *testing.T) {
	x := []float64{0, 1, 2, 3, 4, 5}
	for _, c := range []struct {
		name string
		err  func() error
	}{
		{"one cluster", func() error { _, err := CalinskiHarabasz(x, 1, []int{1, 1, 1, 1, 1, 1}); return err }},
		{"one point per cluster", func() error { _, err := CalinskiHarabasz(x, 1, []int{0, 1, 2, 3, 4, 5}); return err }},
		{"label count", func() error { _, err := CalinskiHarabasz(x, 1, []int{0, 1}); return err }},
		{"dimension", func() error { _, err := CalinskiHarabasz(x, 4, []int{0, 1}); return err }},
		{"one pick", func() error { _, err := SelectionDiversity(x, 1, []int{2}); return err }},
		{"pick out of range", func() error { _, err := SelectionDiversity(x, 1, []int{2, 6}); return err }},
	} {
		if c.err() == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

package ondevice

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/oodlab/dos/internal/testutil"
)

// relocateGolden is testdata/relocate_golden.json (written by testdata/gen_relocate_golden.py).
type relocateGolden struct {
	X     [][]float32 `json:"x"`
	Cases map[string]struct {
		Init      [][]float32 `json:"init"`
		Centers1  [][]float32 `json:"centers_1"`
		Labels1   []int32     `json:"labels_1"`
		Centers10 [][]float32 `json:"centers_10"`
		Labels10  []int32     `json:"labels_10"`
	} `json:"cases"`
}

func flat(rows [][]float32) []float32 {
	var out []float32
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// runLloyd runs lloyd from the given initial centroids (one restart) and returns the centroids
// and each point's nearest final centroid.
func runLloyd(t *testing.T, x, init [][]float32, iters int, keepEmpty bool) ([]float32, []int32) {
	t.Helper()
	n, d, k := len(x), len(x[0]), len(init)
	exec, err := NewExec(testutil.GoBackend(t), func(xn, c0 *Node) []*Node {
		x2 := Reshape(ReduceSum(Square(xn), -1), 1, 1, n)
		c, _ := lloyd(xn, x2, c0, iters, keepEmpty)
		assign, _ := nearest(xn, x2, c)
		return []*Node{c, assign}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	out, err := exec.Exec(tensors.FromFlatDataAndDimensions(flat(x), n, d), tensors.FromFlatDataAndDimensions(flat(init), 1, k, d))
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[int32](out[1])
}

// TestLloydRelocatesEmptyClusters checks the Lloyd iterations against scikit-learn's
// (KMeans(init=..., n_init=1, algorithm="lloyd")) from initial centres that leave one, then two,
// clusters empty: after 1 and after 10 iterations the centroids and labels must match, which
// holds only if each empty cluster received the right far point and its old cluster lost it.
func TestLloydRelocatesEmptyClusters(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "relocate_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var gd relocateGolden
	if err := json.Unmarshal(raw, &gd); err != nil {
		t.Fatal(err)
	}
	if len(gd.Cases) != 2 {
		t.Fatalf("relocate_golden.json: %d cases, want 2", len(gd.Cases))
	}
	for name, c := range gd.Cases {
		for _, step := range []struct {
			iters   int
			centers [][]float32
			labels  []int32
		}{{1, c.Centers1, c.Labels1}, {10, c.Centers10, c.Labels10}} {
			got, labels := runLloyd(t, gd.X, c.Init, step.iters, false)
			for i, want := range flat(step.centers) {
				if math.Abs(float64(got[i]-want)) > 1e-5 {
					t.Errorf("%s, %d iterations: centroid values %v, scikit-learn %v", name, step.iters, got, flat(step.centers))
					break
				}
			}
			for i := range labels {
				if labels[i] != step.labels[i] {
					t.Errorf("%s, %d iterations: labels %v, scikit-learn %v", name, step.iters, labels, step.labels)
					break
				}
			}
		}
	}

	// KeepEmpty: the far centre stays where it was and never gets a point.
	c := gd.Cases["one"]
	got, labels := runLloyd(t, gd.X, c.Init, 10, true)
	if got[4] != c.Init[2][0] || got[5] != c.Init[2][1] {
		t.Errorf("KeepEmpty: empty centroid moved to (%v, %v), want it kept at %v", got[4], got[5], c.Init[2])
	}
	for i, l := range labels {
		if l == 2 {
			t.Errorf("KeepEmpty: point %d assigned to the far centroid", i)
		}
	}
}

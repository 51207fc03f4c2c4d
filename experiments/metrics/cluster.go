package metrics

import (
	"fmt"
	"math"
)

// Cluster measures: the diversity of a selection of outliers, as the DOS paper's Figure 3
// measures it (the Calinski-Harabasz index of their features).

// CalinskiHarabasz returns the Calinski-Harabasz index (the variance ratio criterion) of the
// points x, row-major with d values per point, partitioned by labels (one per point; any int
// values, each distinct value a cluster): the between-cluster dispersion over k - 1 divided by
// the within-cluster dispersion over n - k, for n points in k clusters. It is computed as
// scikit-learn's calinski_harabasz_score: 1 when the within-cluster dispersion is 0, an error
// unless 2 <= k <= n - 1. Higher means compact, well separated clusters.
func CalinskiHarabasz(x []float64, d int, labels []int) (float64, error) {
	if d < 1 || len(x)%d != 0 {
		return 0, fmt.Errorf("metrics: Calinski-Harabasz: %d values are not points of dimension %d", len(x), d)
	}
	n := len(x) / d
	if len(labels) != n {
		return 0, fmt.Errorf("metrics: Calinski-Harabasz: %d labels for %d points", len(labels), n)
	}
	cluster := map[int]int{} // label -> cluster index, in order of first appearance
	idx := make([]int, n)
	for i, l := range labels {
		c, ok := cluster[l]
		if !ok {
			c = len(cluster)
			cluster[l] = c
		}
		idx[i] = c
	}
	k := len(cluster)
	if k < 2 || k > n-1 {
		return 0, fmt.Errorf("metrics: Calinski-Harabasz: %d clusters of %d points: want 2 to %d clusters", k, n, n-1)
	}
	mean := make([]float64, d)
	means := make([]float64, k*d)
	count := make([]int, k)
	for i := range n {
		row := x[i*d : (i+1)*d]
		c := idx[i]
		count[c]++
		for j, v := range row {
			mean[j] += v
			means[c*d+j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	for c := range k {
		for j := range d {
			means[c*d+j] /= float64(count[c])
		}
	}
	var between, within float64
	for c := range k {
		between += float64(count[c]) * sqDist(means[c*d:(c+1)*d], mean)
	}
	for i := range n {
		c := idx[i]
		within += sqDist(x[i*d:(i+1)*d], means[c*d:(c+1)*d])
	}
	if within == 0 {
		return 1, nil
	}
	return between * float64(n-k) / (within * float64(k-1)), nil
}

// OneStepLabels labels the points x (row-major, d values per point) by one Lloyd iteration of
// K-means started at the given centres (row-major, d values each): every point goes to its
// nearest centre, each centre moves to the mean of its points, and every point is labelled with
// the index of its nearest moved centre (ties go to the lower index). These are the labels of
// scikit-learn's KMeans(n_clusters=len(centres), init=centres, n_init=1, max_iter=1).fit(x)
// whenever no centre is left without points by the first assignment, which holds when the
// centres are distinct points of x; a centre that is left without points stays where it is
// (scikit-learn would move it to a far point).
func OneStepLabels(x []float64, d int, centres []float64) []int {
	n, k := len(x)/d, len(centres)/d
	assign := func(c []float64, labels []int) {
		for i := range n {
			row := x[i*d : (i+1)*d]
			best, bestD := 0, math.Inf(1)
			for j := range k {
				if dd := sqDist(row, c[j*d:(j+1)*d]); dd < bestD {
					best, bestD = j, dd
				}
			}
			labels[i] = best
		}
	}
	labels := make([]int, n)
	assign(centres, labels)
	moved := append([]float64(nil), centres...)
	count := make([]int, k)
	sums := make([]float64, k*d)
	for i, l := range labels {
		count[l]++
		for j, v := range x[i*d : (i+1)*d] {
			sums[l*d+j] += v
		}
	}
	for c := range k {
		if count[c] == 0 {
			continue
		}
		for j := range d {
			moved[c*d+j] = sums[c*d+j] / float64(count[c])
		}
	}
	assign(moved, labels)
	return labels
}

// SelectionDiversity is the diversity of the points selected among x (row-major, d values per
// point; selected are row indices of x): the Calinski-Harabasz index of x labelled by
// OneStepLabels from the selected points. This is how the DOS authors' analysis script measures
// the outliers a sampler picked from its candidates (train_analysis.py at commit 2ca0913:
// KMeans(n_clusters=len(picks), init=features[picks], max_iter=1) fitted on the candidates'
// features, then calinski_harabasz_score). Selected points spread over the candidates give
// compact, well separated clusters and a high index; points concentrated in one region leave
// most candidates in a few wide clusters and give a low one. An error when fewer than 2 points
// are selected or the labels do not form 2 to n-1 clusters.
func SelectionDiversity(x []float64, d int, selected []int) (float64, error) {
	if d < 1 || len(x)%d != 0 {
		return 0, fmt.Errorf("metrics: selection diversity: %d values are not points of dimension %d", len(x), d)
	}
	n := len(x) / d
	if len(selected) < 2 {
		return 0, fmt.Errorf("metrics: selection diversity: %d points selected, want at least 2", len(selected))
	}
	centres := make([]float64, 0, len(selected)*d)
	for _, s := range selected {
		if s < 0 || s >= n {
			return 0, fmt.Errorf("metrics: selection diversity: selected point %d outside [0, %d)", s, n)
		}
		centres = append(centres, x[s*d:(s+1)*d]...)
	}
	return CalinskiHarabasz(x, d, OneStepLabels(x, d, centres))
}

func sqDist(a, b []float64) float64 {
	s := 0.0
	for j, v := range a {
		t := v - b[j]
		s += t * t
	}
	return s
}

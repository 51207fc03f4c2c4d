package ondevice

import (
	"fmt"

	"github.com/oodlab/dos/sampling"
)

// HostDOSSelection is the result of HostSelectDOS: the values of the graph's DOSSelection.
type HostDOSSelection struct {
	// Indices [BatchSize]: the selected rows of the candidate block (see DOSSelection.Indices).
	Indices []int32
	// Clustered [Clustered()]: the candidate rows that were clustered, in block order.
	Clustered []int32
	// Assign [Clustered()]: the cluster of each clustered candidate.
	Assign []int32
	// Inertia and EmptyClusters: from the K-means.
	Inertia       float32
	EmptyClusters int32
	// MeanPAbsPicked, MeanPAbsAll: mean selection uncertainty (p_abs by default) of the selected
	// candidates and of the block.
	MeanPAbsPicked, MeanPAbsAll float32
}

// HostSelectDOS is SelectDOS on the host, from the values of DOSHostInputs (unc [C]: the
// uncertainty, p_abs by default; feats [C*d] row-major) and the uniforms of cfg.HostUniforms.
// For the same inputs and uniforms it returns what SelectDOS returns on the pure-Go backend, bit
// for bit: the clustering is HostKMeans, and the ranks, picks and fill-up are the graph's
// comparisons and counts. A configuration or input that does not fit is an error.
func HostSelectDOS(unc, feats []float32, d int, uniforms []float32, cfg sampling.DOSConfig) (HostDOSSelection, error) {
	if err := cfg.Validate(); err != nil {
		return HostDOSSelection{}, err
	}
	c, b, m := cfg.Candidates, cfg.BatchSize, cfg.Clustered()
	switch {
	case len(unc) != c:
		return HostDOSSelection{}, fmt.Errorf("ondevice.HostSelectDOS: %d uncertainty values, want one per candidate (%d)", len(unc), c)
	case d < 1 || len(feats) != c*d:
		return HostDOSSelection{}, fmt.Errorf("ondevice.HostSelectDOS: %d feature values, want %d candidates x %d", len(feats), c, d)
	case len(uniforms) != cfg.UniformsSize():
		return HostDOSSelection{}, fmt.Errorf("ondevice.HostSelectDOS: %d uniforms, want %d", len(uniforms), cfg.UniformsSize())
	}
	km := cfg.KMeansConfig()
	nKM := km.NInit * km.UniformsPerRestart()
	keys := uniforms[nKM : nKM+m] // the fill-up's; with PickRandom the picks' follow

	// Candidates to cluster: all, or those whose uncertainty rank (ascending, ties by row) is in
	// [Trim, Trim+m), in block order.
	clustered := make([]int32, 0, m)
	if m < c {
		for i := range c {
			if r := ascendingRankOf(unc, i, nil); r >= cfg.Trim && r < cfg.Trim+m {
				clustered = append(clustered, int32(i))
			}
		}
	} else {
		for i := range c {
			clustered = append(clustered, int32(i))
		}
	}
	uSub := make([]float32, m)
	featSub := make([]float32, m*d)
	for i, row := range clustered {
		uSub[i] = unc[row]
		copy(featSub[i*d:(i+1)*d], feats[int(row)*d:(int(row)+1)*d])
	}

	res, err := HostKMeans(featSub, m, d, uniforms[:nKM], km)
	if err != nil {
		return HostDOSSelection{}, err
	}

	// The picks: the PerCluster best members of each of the first min(k, BatchSize) clusters, by
	// uncertainty, by distance to the centroid or by random key (ties: lowest row).
	crit := uSub
	switch {
	case cfg.PickRandom:
		crit = uniforms[nKM+m : nKM+2*m]
	case cfg.PickNearest:
		crit = make([]float32, m)
		for i := range m {
			f := featSub[i*d : (i+1)*d]
			ctr := res.Centroids[int(res.Assign[i])*d : (int(res.Assign[i])+1)*d]
			var s float32
			for t := range f {
				diff := f[t] - ctr[t]
				s += float32(diff * diff)
			}
			crit[i] = s
		}
	}
	per := cfg.PerCluster()
	firstClusters := int32(min(km.K, b))
	members := make([][]int, km.K)
	for i, a := range res.Assign {
		members[a] = append(members[a], i)
	}
	pick := make([]int32, b)
	filled := make([]bool, b)
	selected := make([]bool, m)
	for i, a := range res.Assign {
		if a >= firstClusters {
			continue
		}
		within := 0 // i's position in a stable ascending sort of its cluster by crit
		for _, j := range members[a] {
			if crit[j] < crit[i] || (crit[j] == crit[i] && j < i) {
				within++
			}
		}
		if within < per {
			slot := int(a)*per + within
			selected[i], pick[slot], filled[slot] = true, int32(i), true
		}
	}

	// Fill-up: the e-th slot left empty (in slot order) takes the unpicked candidate with the e-th
	// smallest random key.
	var byKeyRank []int32 // eligible candidates by key rank
	if nFill := b - countTrue(filled); nFill > 0 {
		eligible := make([]bool, m)
		for i := range m {
			eligible[i] = !selected[i]
		}
		byKeyRank = make([]int32, nFill)
		for i := range m {
			if eligible[i] {
				if r := ascendingRankOf(keys, i, eligible); r < nFill {
					byKeyRank[r] = int32(i)
				}
			}
		}
	}
	local := make([]int32, b)
	e := 0
	for s := range b {
		if filled[s] {
			local[s] = pick[s]
		} else {
			local[s] = byKeyRank[e]
			e++
		}
	}

	indices := make([]int32, b)
	picked := make([]float32, b)
	for s, l := range local {
		indices[s] = clustered[l]
		picked[s] = uSub[l]
	}
	return HostDOSSelection{
		Indices:        indices,
		Clustered:      clustered,
		Assign:         res.Assign,
		Inertia:        res.Inertia,
		EmptyClusters:  res.EmptyClusters,
		MeanPAbsPicked: mean32(picked),
		MeanPAbsAll:    mean32(unc),
	}, nil
}

// ascendingRankOf is ascendingRank's value for element i: the elements j (where mask[j], if mask
// is not nil) with v[j] < v[i], or v[j] == v[i] and j < i.
func ascendingRankOf(v []float32, i int, mask []bool) int {
	r := 0
	for j, x := range v {
		if (mask == nil || mask[j]) && (x < v[i] || (x == v[i] && j < i)) {
			r++
		}
	}
	return r
}

// mean32 is ReduceAllMean as GoMLX computes it: the sum in order times float32(1/n).
func mean32(v []float32) float32 {
	return sum32(v) * float32(1/float64(len(v)))
}

func countTrue(v []bool) int {
	n := 0
	for _, b := range v {
		if b {
			n++
		}
	}
	return n
}

package ondevice

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph DSL reads better unqualified.
	"github.com/gomlx/gomlx/pkg/core/shapes"

	"github.com/oodlab/dos/models/objectives"
	"github.com/oodlab/dos/sampling"
)

// DOSSelection holds the graph outputs of SelectDOS.
type DOSSelection struct {
	// Indices [BatchSize] int32: the selected candidates (rows of the candidate block), unique.
	// Slot c*PerCluster + r holds the r-th best member of cluster c; a slot whose cluster has no
	// such member holds a random fill-up.
	Indices *Node
	// Clustered [Clustered()] int32: the candidate rows that were clustered, in block order.
	Clustered *Node
	// Assign [Clustered()] int32: cluster of each clustered candidate.
	Assign *Node
	// Inertia scalar float32, EmptyClusters scalar int32: from the K-means (see KMeansResult).
	Inertia, EmptyClusters *Node
	// MeanPAbsPicked, MeanPAbsAll: scalar float32, mean selection uncertainty (p_abs, or the
	// score of cfg.Uncertainty) of the selected candidates and of all candidates of the block.
	MeanPAbsPicked, MeanPAbsAll *Node
}

// SelectDOS is DOS's per-iteration outlier selection as a graph fragment. logits [C, outputs]
// and features [C, D] are the model's outputs on the candidate block in inference mode; uniforms
// is [cfg.UniformsSize()] float32 from cfg.HostUniforms. It computes each candidate's
// uncertainty (p_abs = softmax(logits)[:, K] by default; cfg.Uncertainty); keeps the candidates
// whose uncertainty rank (ascending, ties by row) is in [cfg.Trim, cfg.Keep); L2-normalises
// their features (unless cfg.RawFeatures); clusters them with KMeans into cfg.K() clusters;
// takes from each of the first min(k, BatchSize) clusters its cfg.PerCluster() best members
// (least uncertain; nearest the centroid with cfg.PickNearest; smallest random key with
// cfg.PickRandom; ties by row); and fills the slots left with distinct random unpicked clustered
// candidates (a uniform sample without replacement, by smallest random key). With the defaults
// (k = BatchSize) that is one pick per cluster: the member with the smallest p_abs.
//
// cfg must be valid (cfg.Validate) and match the input shapes; anything else is a bug and panics
// at graph-building time.
func SelectDOS(logits, features, uniforms *Node, cfg sampling.DOSConfig) DOSSelection {
	if !uniforms.Shape().Equal(shapes.Make(dtypes.Float32, cfg.UniformsSize())) {
		panic(fmt.Errorf("ondevice.SelectDOS: uniforms must be [%d] float32, got %s", cfg.UniformsSize(), uniforms.Shape()))
	}
	km := cfg.KMeansConfig()
	nKM := km.NInit * km.UniformsPerRestart()
	kmUniforms := Reshape(Slice(uniforms, AxisRange(0, nKM)), km.NInit, km.UniformsPerRestart())
	keys := Slice(uniforms, AxisRange(nKM, cfg.UniformsSize())) // [M], or [2M] with PickRandom
	return selectDOS(logits, features, keys, cfg, func(x *Node) KMeansResult { return KMeans(x, kmUniforms, km) })
}

// SelectDOSFrom is SelectDOS with the K-means started from given centroids [K, D] of the
// clustered (normalised, unless cfg.RawFeatures) features, as scikit-learn's
// KMeans(init=centroids, n_init=1), and the random keys given: [Clustered()] for the fill-up,
// followed with cfg.PickRandom by [Clustered()] for the picks. It is the selection of the
// official code for fixed initial centroids, to compare with it exactly.
func SelectDOSFrom(logits, features, centroids, keys *Node, cfg sampling.DOSConfig) DOSSelection {
	return selectDOS(logits, features, keys, cfg, func(x *Node) KMeansResult { return KMeansFrom(x, centroids, cfg.KMeansConfig()) })
}

// selectDOS is SelectDOS with the clustering given.
func selectDOS(logits, features, keys *Node, cfg sampling.DOSConfig, cluster func(x *Node) KMeansResult) DOSSelection {
	g := logits.Graph()
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	c, b, m := cfg.Candidates, cfg.BatchSize, cfg.Clustered()
	if logits.Rank() != 2 || logits.Shape().Dimensions[0] != c || logits.Shape().Dimensions[1] < 2 {
		panic(fmt.Errorf("ondevice.SelectDOS: logits must be [%d, outputs >= 2], got %s", c, logits.Shape()))
	}
	if features.Rank() != 2 || features.Shape().Dimensions[0] != c {
		panic(fmt.Errorf("ondevice.SelectDOS: features must be [%d, D], got %s", c, features.Shape()))
	}
	nKeys := m
	if cfg.PickRandom {
		nKeys = 2 * m
	}
	if !keys.Shape().Equal(shapes.Make(dtypes.Float32, nKeys)) {
		panic(fmt.Errorf("ondevice.SelectDOS: random keys must be [%d] float32, got %s", nKeys, keys.Shape()))
	}
	km := cfg.KMeansConfig()
	fillKeys := keys
	if cfg.PickRandom {
		fillKeys = Slice(keys, AxisRange(0, m))
	}

	unc, feats := DOSHostInputs(logits, features, cfg)

	// Candidates to cluster: all, or those whose uncertainty rank (ascending, ties by row) is in
	// [Trim, Keep).
	clusteredIdx := Iota(g, shapes.Make(dtypes.Int32, c), 0)
	uSub, featSub := unc, feats
	if m < c {
		rank := ascendingRank(unc, nil) // [C]
		kept := LogicalAnd(GreaterOrEqual(rank, Scalar(g, dtypes.Int32, cfg.Trim)),
			LessThan(rank, Scalar(g, dtypes.Int32, cfg.Trim+m))) // [C]
		pos := Sub(inclusiveCumSum(ConvertDType(kept, dtypes.Int32)), Scalar(g, dtypes.Int32, 1))
		slot := Iota(g, shapes.Make(dtypes.Int32, m, c), 0)
		hit := LogicalAnd(InsertAxes(kept, 0), Equal(InsertAxes(pos, 0), slot)) // [M, C]
		clusteredIdx = selectIndex(hit)                                         // [M]
		uSub = Gather(unc, InsertAxes(clusteredIdx, -1))
		featSub = Gather(feats, InsertAxes(clusteredIdx, -1))
	}

	res := cluster(featSub)

	// The picks: the PerCluster best members of each of the first min(k, BatchSize) clusters, by
	// uncertainty, by distance to the centroid or by random key (ties: lowest row).
	crit := uSub
	switch {
	case cfg.PickNearest:
		centre := Gather(res.Centroids, InsertAxes(res.Assign, -1)) // [M, D]
		crit = ReduceSum(Square(Sub(featSub, centre)), -1)          // [M]
	case cfg.PickRandom:
		crit = Slice(keys, AxisRange(m, 2*m)) // [M]
	}
	per := cfg.PerCluster()
	within := groupRank(crit, res.Assign) // [M]
	selected := LogicalAnd(LessThan(res.Assign, Scalar(g, dtypes.Int32, min(km.K, b))),
		LessThan(within, Scalar(g, dtypes.Int32, per))) // [M]
	slotOf := Add(MulScalar(res.Assign, per), within) // [M], meaningful where selected
	slotIota := Iota(g, shapes.Make(dtypes.Int32, b, m), 0)
	pickedBy := LogicalAnd(InsertAxes(selected, 0), Equal(InsertAxes(slotOf, 0), slotIota)) // [B, M]
	filled := ReduceLogicalOr(pickedBy, 1)                                                  // [B]
	pick := selectIndex(pickedBy)                                                           // [B]

	// Fill-up: the e-th slot left empty (in slot order) takes the unpicked candidate with the
	// e-th smallest random key.
	eligible := LogicalNot(selected)
	keyRank := ascendingRank(fillKeys, eligible)                                                                  // [M]
	emptySlot := Sub(inclusiveCumSum(ConvertDType(LogicalNot(filled), dtypes.Int32)), Scalar(g, dtypes.Int32, 1)) // [B]
	fillHit := LogicalAnd(InsertAxes(eligible, 0), Equal(InsertAxes(keyRank, 0), InsertAxes(emptySlot, -1)))      // [B, M]
	fill := selectIndex(fillHit)                                                                                  // [B]

	local := Where(filled, pick, fill)                     // [B] rows of the clustered set
	indices := Gather(clusteredIdx, InsertAxes(local, -1)) // [B] rows of the block
	meanPicked := ReduceAllMean(Gather(uSub, InsertAxes(local, -1)))
	return DOSSelection{
		Indices:        indices,
		Clustered:      clusteredIdx,
		Assign:         res.Assign,
		Inertia:        res.Inertia,
		EmptyClusters:  res.EmptyClusters,
		MeanPAbsPicked: meanPicked,
		MeanPAbsAll:    ReduceAllMean(unc),
	}
}

// DOSHostInputs returns what the selection reads from the scoring pass (logits [C, outputs],
// features [C, D]): each candidate's uncertainty ([C]: cfg.Uncertainty, by default
// p_abs = softmax(logits)[:, K]) and the features to cluster ([C, D]: L2-normalised unless
// cfg.RawFeatures). SelectDOS computes them with it, and HostSelectDOS reads their values, so on
// any backend they are the values SelectDOS ranks and clusters.
func DOSHostInputs(logits, features *Node, cfg sampling.DOSConfig) (unc, feats *Node) {
	// The selection is not differentiated: inside a train step no gradient flows into the
	// scoring pass through it.
	logits = StopGradient(ConvertDType(logits, dtypes.Float32))
	features = StopGradient(ConvertDType(features, dtypes.Float32))
	unc = Uncertainty(logits, cfg.UncertaintyKind())
	feats = features
	if !cfg.RawFeatures {
		feats = L2Normalize(features, -1)
	}
	return unc, feats
}

// Uncertainty returns the out-of-distribution weight of kind (sampling.Uncertainty*) of each row
// of logits [C, outputs], over all outputs, as the official code's scores/utils.py computes its
// weights (higher = more OOD-looking): p_abs = softmax(logits)[:, last] (get_abs_weight), the
// free energy -logsumexp(logits) (get_energy_weight), -max(logits), or 1 - max softmax(logits)
// (get_msp_weight). An unknown kind is a bug (DOSConfig.Validate) and panics.
func Uncertainty(logits *Node, kind string) *Node {
	c, nOut := logits.Shape().Dimensions[0], logits.Shape().Dimensions[1]
	switch kind {
	case sampling.UncertaintyAbsent:
		return Reshape(Slice(Softmax(logits, -1), AxisRange(), AxisRange(nOut-1, nOut)), c)
	case sampling.UncertaintyEnergy:
		return Neg(objectives.LogSumExp(logits))
	case sampling.UncertaintyMaxLogit:
		return Neg(ReduceMax(logits, -1))
	case sampling.UncertaintyMSP:
		return OneMinus(objectives.MSP(logits, nOut))
	}
	panic(fmt.Errorf("ondevice.Uncertainty: unknown kind %q; want one of %v", kind, sampling.Uncertainties()))
}

// groupRank returns, for each element i of v [N], the number of elements j of the same group
// (group[j] == group[i]) with v[j] < v[i], or v[j] == v[i] and j < i: its position in a stable
// ascending sort of its group. Computed with an [N, N] comparison.
func groupRank(v, group *Node) *Node {
	same := Equal(InsertAxes(group, -1), InsertAxes(group, 0)) // [N, N]
	return ReduceSum(ConvertDType(LogicalAnd(before(v), same), dtypes.Int32), 1)
}

// before returns the [N, N] matrix whose (i, j) entry says that element j of v [N] comes before
// element i in a stable ascending sort: v[j] < v[i], or v[j] == v[i] and j < i.
func before(v *Node) *Node {
	g := v.Graph()
	n := v.Shape().Dimensions[0]
	vi := InsertAxes(v, -1) // [N, 1]: element i on rows
	vj := InsertAxes(v, 0)  // [1, N]: element j on columns
	iotaI := Iota(g, shapes.Make(dtypes.Int32, n, n), 0)
	iotaJ := Iota(g, shapes.Make(dtypes.Int32, n, n), 1)
	lt := LessThan(vj, vi)
	tie := LogicalAnd(Equal(vj, vi), LessThan(iotaJ, iotaI))
	return LogicalOr(BroadcastToShape(lt, iotaI.Shape()), tie)
}

// ascendingRank returns, for each element i of v [N], the number of elements j (restricted to
// mask, if not nil) with v[j] < v[i], or v[j] == v[i] and j < i: its position in a stable
// ascending sort of the masked elements. Computed with an [N, N] comparison (no sort op needed).
func ascendingRank(v, mask *Node) *Node {
	b := before(v) // [N, N]
	if mask != nil {
		b = LogicalAnd(b, BroadcastToShape(InsertAxes(mask, 0), b.Shape()))
	}
	return ReduceSum(ConvertDType(b, dtypes.Int32), 1)
}

// inclusiveCumSum returns the inclusive cumulative sum of the int32 vector v [N], via an [N, N]
// lower-triangular mask (exact for integers).
func inclusiveCumSum(v *Node) *Node {
	g := v.Graph()
	n := v.Shape().Dimensions[0]
	lower := LessOrEqual(Iota(g, shapes.Make(dtypes.Int32, n, n), 1), Iota(g, shapes.Make(dtypes.Int32, n, n), 0))
	terms := Where(lower, BroadcastToShape(InsertAxes(v, 0), lower.Shape()), ZerosLike(BroadcastToShape(InsertAxes(v, 0), lower.Shape())))
	return ReduceSum(terms, 1)
}

// selectIndex returns, for each row of the boolean [R, N] matrix hit (at most one true per row),
// the column of its true entry (0 if none).
func selectIndex(hit *Node) *Node {
	g := hit.Graph()
	cols := Iota(g, shapes.Make(dtypes.Int32, hit.Shape().Dimensions...), 1)
	return ReduceSum(Where(hit, cols, ZerosLike(cols)), 1)
}

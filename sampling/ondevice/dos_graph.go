package ondevice

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // graph DSL reads better unqualified.
	"github.com/gomlx/gomlx/pkg/core/shapes"

	"github.com/oodlab/dos/sampling"
)

// DOSSelection holds the graph outputs of SelectDOS.
type DOSSelection struct {
	// Indices [BatchSize] int32: the selected candidates (rows of the candidate block), unique.
	// Entry j is the pick of cluster j, or a random fill-up if cluster j is empty.
	Indices *Node
	// Clustered [Candidates-Trim] int32: the candidate rows that were clustered, in block order.
	Clustered *Node
	// Assign [Candidates-Trim] int32: cluster of each clustered candidate.
	Assign *Node
	// Inertia scalar float32, EmptyClusters scalar int32: from the K-means (see KMeansResult).
	Inertia, EmptyClusters *Node
	// MeanPAbsPicked, MeanPAbsAll: scalar float32, mean p_abs of the selected candidates and of
	// all candidates of the block.
	MeanPAbsPicked, MeanPAbsAll *Node
}

// SelectDOS is DOS's per-iteration outlier selection as a graph fragment. logits [C, K+1] and
// features [C, D] are the model's outputs on the candidate block in inference mode; uniforms is
// [cfg.UniformsSize()] float32 from cfg.HostUniforms. It computes p_abs = softmax(logits)[:, K],
// optionally drops the cfg.Trim lowest-p_abs candidates, L2-normalises the features, clusters
// them with KMeans (k = cfg.BatchSize), keeps from each cluster the member with the smallest p_abs
// (ties: lowest row), and fills empty clusters' slots with distinct random unpicked clustered
// candidates (a uniform sample without replacement, by smallest random key).
//
// cfg must be valid (cfg.Validate) and match the input shapes; anything else is a bug and panics
// at graph-building time.
func SelectDOS(logits, features, uniforms *Node, cfg sampling.DOSConfig) DOSSelection {
	g := logits.Graph()
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	c, k, m := cfg.Candidates, cfg.BatchSize, cfg.Clustered()
	if logits.Rank() != 2 || logits.Shape().Dimensions[0] != c || logits.Shape().Dimensions[1] < 2 {
		panic(fmt.Errorf("ondevice.SelectDOS: logits must be [%d, K+1], got %s", c, logits.Shape()))
	}
	if features.Rank() != 2 || features.Shape().Dimensions[0] != c {
		panic(fmt.Errorf("ondevice.SelectDOS: features must be [%d, D], got %s", c, features.Shape()))
	}
	if !uniforms.Shape().Equal(shapes.Make(dtypes.Float32, cfg.UniformsSize())) {
		panic(fmt.Errorf("ondevice.SelectDOS: uniforms must be [%d] float32, got %s", cfg.UniformsSize(), uniforms.Shape()))
	}
	km := cfg.KMeansConfig()
	nKM := km.NInit * km.UniformsPerRestart()
	kmUniforms := Reshape(Slice(uniforms, AxisRange(0, nKM)), km.NInit, km.UniformsPerRestart())
	keys := Slice(uniforms, AxisRange(nKM, nKM+m)) // [M]

	// The selection is not differentiated: inside a train step no gradient flows into the
	// scoring pass through it.
	logits = StopGradient(ConvertDType(logits, dtypes.Float32))
	features = StopGradient(ConvertDType(features, dtypes.Float32))
	nOut := logits.Shape().Dimensions[1]
	pAbs := Reshape(Slice(Softmax(logits, -1), AxisRange(), AxisRange(nOut-1, nOut)), c) // [C]
	feats := L2Normalize(features, -1)

	// Candidates to cluster: all, or those whose p_abs rank (ascending, ties by row) is >= Trim.
	clusteredIdx := Iota(g, shapes.Make(dtypes.Int32, c), 0)
	if cfg.Trim > 0 {
		rank := ascendingRank(pAbs, nil)                                // [C]
		kept := GreaterOrEqual(rank, Scalar(g, dtypes.Int32, cfg.Trim)) // [C]
		pos := Sub(inclusiveCumSum(ConvertDType(kept, dtypes.Int32)), Scalar(g, dtypes.Int32, 1))
		slot := Iota(g, shapes.Make(dtypes.Int32, m, c), 0)
		hit := LogicalAnd(InsertAxes(kept, 0), Equal(InsertAxes(pos, 0), slot)) // [M, C]
		clusteredIdx = selectIndex(hit)                                         // [M]
	}
	pSub, featSub := pAbs, feats
	if cfg.Trim > 0 {
		pSub = Gather(pAbs, InsertAxes(clusteredIdx, -1))
		featSub = Gather(feats, InsertAxes(clusteredIdx, -1))
	}

	res := KMeans(featSub, kmUniforms, km)

	// One pick per cluster: the member with the smallest p_abs.
	clusterIota := Iota(g, shapes.Make(dtypes.Int32, k, m), 0)
	member := Equal(InsertAxes(res.Assign, 0), clusterIota) // [K, M]
	inf := BroadcastToShape(Infinity(g, dtypes.Float32, 1), member.Shape())
	masked := Where(member, BroadcastToShape(InsertAxes(pSub, 0), member.Shape()), inf)
	pick := ArgMin(masked, 1)              // [K]
	nonEmpty := ReduceLogicalOr(member, 1) // [K]
	rowIota := Iota(g, shapes.Make(dtypes.Int32, k, m), 1)
	pickedBy := LogicalAnd(InsertAxes(nonEmpty, -1), Equal(InsertAxes(pick, -1), rowIota)) // [K, M]
	picked := ReduceLogicalOr(pickedBy, 0)                                                 // [M]

	// Fill-up: the e-th empty cluster (in cluster order) takes the unpicked candidate with the
	// e-th smallest random key.
	eligible := LogicalNot(picked)
	keyRank := ascendingRank(keys, eligible)                                                                        // [M]
	emptySlot := Sub(inclusiveCumSum(ConvertDType(LogicalNot(nonEmpty), dtypes.Int32)), Scalar(g, dtypes.Int32, 1)) // [K]
	fillHit := LogicalAnd(InsertAxes(eligible, 0), Equal(InsertAxes(keyRank, 0), InsertAxes(emptySlot, -1)))        // [K, M]
	fill := selectIndex(fillHit)                                                                                    // [K]

	local := Where(nonEmpty, pick, fill)                   // [K] rows of the clustered set
	indices := Gather(clusteredIdx, InsertAxes(local, -1)) // [K] rows of the block
	meanPicked := ReduceAllMean(Gather(pSub, InsertAxes(local, -1)))
	return DOSSelection{
		Indices:        indices,
		Clustered:      clusteredIdx,
		Assign:         res.Assign,
		Inertia:        res.Inertia,
		EmptyClusters:  res.EmptyClusters,
		MeanPAbsPicked: meanPicked,
		MeanPAbsAll:    ReduceAllMean(pAbs),
	}
}

// ascendingRank returns, for each element i of v [N], the number of elements j (restricted to
// mask, if not nil) with v[j] < v[i], or v[j] == v[i] and j < i: its position in a stable
// ascending sort of the masked elements. Computed with an [N, N] comparison (no sort op needed).
func ascendingRank(v, mask *Node) *Node {
	g := v.Graph()
	n := v.Shape().Dimensions[0]
	vi := InsertAxes(v, -1) // [N, 1]: element i on rows
	vj := InsertAxes(v, 0)  // [1, N]: element j on columns
	iotaI := Iota(g, shapes.Make(dtypes.Int32, n, n), 0)
	iotaJ := Iota(g, shapes.Make(dtypes.Int32, n, n), 1)
	lt := LessThan(vj, vi)
	tie := LogicalAnd(Equal(vj, vi), LessThan(iotaJ, iotaI))
	before := LogicalOr(BroadcastToShape(lt, iotaI.Shape()), tie) // [N, N]
	if mask != nil {
		before = LogicalAnd(before, BroadcastToShape(InsertAxes(mask, 0), iotaI.Shape()))
	}
	return ReduceSum(ConvertDType(before, dtypes.Int32), 1)
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

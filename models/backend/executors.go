package backend

import (
	"fmt"
	"reflect"
	"runtime"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// This file replaces how SimpleGo v0.26.0 executes float32 DotGeneral and ConvGeneral: with the
// matrix-product kernels of internal/gemm (SIMD assembly, cache blocking, threads) instead of
// SimpleGo's Go loops, which reach about 5 GFLOP/s where PyTorch reaches 100 and more on the same
// CPU. SimpleGo offers no extension point for an op's execution, so the replacement goes through
// its internals, pinned to v0.26.0:
//
//   - the table of executors (simplego.nodeExecutors), reached with go:linkname: the float32
//     DotGeneral and ConvGeneral entries are replaced at initialisation, before any graph
//     runs, and every other dtype goes on to SimpleGo's own executor;
//   - an op's parameters, which SimpleGo keeps in unexported fields of its Node (data: the
//     *dotGeneralNodeData or *convNode its builder made) and Backend (the worker pool's
//     parallelism), read through mirror structs whose field names, offsets and types
//     checkInternals verifies by reflection against SimpleGo's at initialisation.
//
// If the verification fails (another GoMLX version), nothing is replaced: the backend runs
// SimpleGo's executors, and InternalsError says why (TestExecutorsReplaced fails on it).
// Replacing the table is process-wide: a plain SimpleGo backend in the same process runs the
// same executors (there is no per-backend hook). Only float32 is affected; float64 (the
// official-code comparisons of experiments/train) runs SimpleGo's code as before.

// nodeExecutor is SimpleGo v0.26.0's executor signature.
type nodeExecutor func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, inputsOwned []bool) (*simplego.Buffer, error)

//go:linkname simplegoExecutors github.com/gomlx/gomlx/backends/simplego.nodeExecutors
var simplegoExecutors [backends.OpTypeLast]nodeExecutor

// SimpleGo's own executors for the replaced ops, for the dtypes the replacements do not handle.
var simplegoDotGeneral, simplegoConvGeneral nodeExecutor

// dotParams mirrors the leading fields of SimpleGo's dotGeneralNodeData.
type dotParams struct {
	lhsContractingAxes, lhsBatchAxes                       []int
	rhsContractingAxes, rhsBatchAxes                       []int
	batchSize, lhsCrossSize, rhsCrossSize, contractingSize int
}

// convParams mirrors the leading fields of SimpleGo's convNode.
type convParams struct {
	axes              backends.ConvolveAxesConfig
	strides           []int
	paddings          [][2]int
	inputDilations    []int
	kernelDilations   []int
	channelGroupCount int
	batchGroupCount   int
}

// internals locates SimpleGo's unexported fields.
type internals struct {
	nodeData, nodeShape uintptr      // offsets of Node.data and Node.shape
	parallelism         uintptr      // offset of Backend.workers.maxParallelism
	dotType, convType   reflect.Type // *dotGeneralNodeData, *convNode
}

var simplegoInternals, internalsErr = findInternals()

func init() {
	if internalsErr != nil {
		return
	}
	simplegoDotGeneral = simplegoExecutors[backends.OpTypeDotGeneral]
	simplegoConvGeneral = simplegoExecutors[backends.OpTypeConvGeneral]
	simplegoExecutors[backends.OpTypeDotGeneral] = execDotGeneral
	simplegoExecutors[backends.OpTypeConvGeneral] = execConvGeneral
	installElementwise()
}

// InternalsError reports why the float32 DotGeneral and ConvGeneral of the pure-Go backend run
// SimpleGo's own code rather than internal/gemm's kernels (nil when they run the kernels).
func InternalsError() error { return internalsErr }

func findInternals() (internals, error) {
	var in internals
	if simplegoExecutors[backends.OpTypeDotGeneral] == nil || simplegoExecutors[backends.OpTypeConvGeneral] == nil {
		return in, fmt.Errorf("SimpleGo's executor table has no DotGeneral or ConvGeneral entry")
	}
	nodeT := reflect.TypeFor[simplego.Node]()
	data, ok1 := nodeT.FieldByName("data")
	shape, ok2 := nodeT.FieldByName("shape")
	if !ok1 || !ok2 || data.Type != reflect.TypeFor[any]() || shape.Type != reflect.TypeFor[shapes.Shape]() {
		return in, fmt.Errorf("simplego.Node has no fields data (any) and shape (shapes.Shape)")
	}
	in.nodeData, in.nodeShape = data.Offset, shape.Offset
	workers, ok := reflect.TypeFor[simplego.Backend]().FieldByName("workers")
	if !ok || workers.Type.Kind() != reflect.Struct {
		return in, fmt.Errorf("simplego.Backend has no workers pool")
	}
	par, ok := workers.Type.FieldByName("maxParallelism")
	if !ok || par.Type.Kind() != reflect.Int {
		return in, fmt.Errorf("SimpleGo's workers pool has no maxParallelism int")
	}
	in.parallelism = workers.Offset + par.Offset

	// The parameter types, from one node of each op built by a throwaway SimpleGo builder.
	be, err := simplego.New("")
	if err != nil {
		return in, err
	}
	defer be.Finalize()
	bld := be.Builder("internals")
	x, err := bld.Parameter("x", shapes.Make(dtypes.Float32, 1, 2, 2, 1), nil)
	if err != nil {
		return in, err
	}
	k, err := bld.Parameter("k", shapes.Make(dtypes.Float32, 1, 1, 1, 1), nil)
	if err != nil {
		return in, err
	}
	dot, err := bld.DotGeneral(x, []int{3}, nil, k, []int{0}, nil)
	if err != nil {
		return in, err
	}
	conv, err := bld.ConvGeneral(x, k, backends.ConvolveAxesConfig{InputBatch: 0, InputChannels: 3, InputSpatial: []int{1, 2},
		KernelInputChannels: 2, KernelOutputChannels: 3, KernelSpatial: []int{0, 1}, OutputBatch: 0, OutputChannels: 3,
		OutputSpatial: []int{1, 2}}, []int{1, 1}, nil, []int{1, 1}, []int{1, 1}, 1, 1)
	if err != nil {
		return in, err
	}
	// DotGeneral returns a Reshape of the DotGeneral node: its first input.
	inputsF, ok := nodeT.FieldByName("inputs")
	if !ok || inputsF.Type != reflect.TypeFor[[]*simplego.Node]() {
		return in, fmt.Errorf("simplego.Node has no inputs field")
	}
	dotInputs := *(*[]*simplego.Node)(unsafe.Add(unsafe.Pointer(dot.(*simplego.Node)), inputsF.Offset))
	if len(dotInputs) != 1 {
		return in, fmt.Errorf("SimpleGo's DotGeneral is not a reshape of one node")
	}
	in.dotType = reflect.TypeOf(in.data(dotInputs[0]))
	in.convType = reflect.TypeOf(in.data(conv.(*simplego.Node)))
	if err := checkMirror(in.dotType, reflect.TypeFor[dotParams]()); err != nil {
		return in, err
	}
	if err := checkMirror(in.convType, reflect.TypeFor[convParams]()); err != nil {
		return in, err
	}
	return in, nil
}

// checkMirror verifies that the fields of mirror are leading fields of the struct that real
// points to: same names, offsets and types.
func checkMirror(real, mirror reflect.Type) error {
	if real == nil || real.Kind() != reflect.Pointer || real.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("SimpleGo node data %v is not a pointer to a struct", real)
	}
	r := real.Elem()
	if r.NumField() < mirror.NumField() {
		return fmt.Errorf("%v has %d fields, the mirror %d", r, r.NumField(), mirror.NumField())
	}
	for i := range mirror.NumField() {
		want, got := mirror.Field(i), r.Field(i)
		if got.Name != want.Name || got.Offset != want.Offset || got.Type != want.Type {
			return fmt.Errorf("%v field %d is %s %v at %d, expected %s %v at %d", r, i, got.Name, got.Type, got.Offset, want.Name, want.Type, want.Offset)
		}
	}
	return nil
}

func (in *internals) data(node *simplego.Node) any {
	return *(*any)(unsafe.Add(unsafe.Pointer(node), in.nodeData))
}

func (in *internals) shape(node *simplego.Node) shapes.Shape {
	return *(*shapes.Shape)(unsafe.Add(unsafe.Pointer(node), in.nodeShape))
}

// threads is how many goroutines an op may use on backend: its worker pool's parallelism
// (SimpleGo's "parallelism" option; 0 disables it, a negative value means no limit), at most
// GOMAXPROCS.
func (in *internals) threads(backend *simplego.Backend) int {
	p := *(*int)(unsafe.Add(unsafe.Pointer(backend), in.parallelism))
	procs := runtime.GOMAXPROCS(0)
	switch {
	case p == 0:
		return 1
	case p < 0:
		return procs
	}
	return min(p, procs)
}

func (in *internals) dotParams(node *simplego.Node) (*dotParams, error) {
	d := in.data(node)
	if reflect.TypeOf(d) != in.dotType {
		return nil, fmt.Errorf("DotGeneral node data is %T", d)
	}
	return (*dotParams)(reflect.ValueOf(d).UnsafePointer()), nil
}

func (in *internals) convParams(node *simplego.Node) (*convParams, error) {
	d := in.data(node)
	if reflect.TypeOf(d) != in.convType {
		return nil, fmt.Errorf("ConvGeneral node data is %T", d)
	}
	return (*convParams)(reflect.ValueOf(d).UnsafePointer()), nil
}

// float32Inputs returns the flat values and shapes of float32 buffers; ok is false if any
// buffer holds another dtype.
func float32Inputs(backend *simplego.Backend, bufs ...*simplego.Buffer) (flats [][]float32, shps []shapes.Shape, ok bool, err error) {
	for _, b := range bufs {
		s, err := backend.BufferShape(b)
		if err != nil {
			return nil, nil, false, err
		}
		if s.DType != dtypes.Float32 {
			return nil, nil, false, nil
		}
		f, err := backend.BufferData(b)
		if err != nil {
			return nil, nil, false, err
		}
		flats = append(flats, f.([]float32))
		shps = append(shps, s)
	}
	return flats, shps, true, nil
}

// newOutput returns a buffer of shape from SimpleGo's pool, and its values (not zeroed).
func newOutput(backend *simplego.Backend, shape shapes.Shape) (*simplego.Buffer, []float32, error) {
	buf := backend.NewBuffer(shape)
	if buf == nil {
		return nil, nil, fmt.Errorf("backend finalized")
	}
	f, err := backend.BufferData(buf)
	if err != nil {
		return nil, nil, err
	}
	return buf, f.([]float32), nil
}

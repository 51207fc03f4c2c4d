package train

import (
	"bytes"
	stdctx "context"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/oodlab/dos/experiments/store"
)

// TestHostSelectionEqualsGraph trains DOS and its dual-batch variant on the pure-Go backend twice,
// with the selection on the host (the default there) and inside the step graph
// (Settings.SelectionInGraph), and requires the same run bit for bit: every variable of the final
// checkpoint, every epoch's losses and selection diagnostics, the test metrics.
func TestHostSelectionEqualsGraph(t *testing.T) {
	for _, method := range []string{"dos", "dos-dual"} {
		t.Run(method, func(t *testing.T) {
			var recs [2][]store.EpochRecord
			var outs [2]*Outcome
			var ckpts [2]*Checkpoint
			for i, inGraph := range []bool{false, true} {
				run := tinyRun(t, method)
				run.Epochs = 2
				dir := t.TempDir()
				tr := newTinyTrainer(t, run, dir)
				tr.Settings.SelectionInGraph = inGraph
				out, err := tr.Run(stdctx.Background())
				if err != nil {
					t.Fatal(err)
				}
				_, host := tr.execs["host-selection-inputs"]
				_, graph := tr.execs["in-graph"]
				_, graphClean := tr.execs["in-graph-clean"]
				if host == inGraph || (graph || graphClean) != inGraph {
					t.Fatalf("SelectionInGraph %v: executables %v: the wrong step ran", inGraph, slices.Sorted(maps.Keys(tr.execs)))
				}
				outs[i] = out
				if recs[i], err = (&store.RunDir{Path: dir, Run: run}).Epochs(); err != nil {
					t.Fatal(err)
				}
				if ckpts[i], err = LoadCheckpoint(tr.checkpointPath()); err != nil || ckpts[i] == nil {
					t.Fatalf("checkpoint: %v", err)
				}
			}
			if len(recs[0]) != len(recs[1]) {
				t.Fatalf("%d epoch records on the host, %d in the graph", len(recs[0]), len(recs[1]))
			}
			for e := range recs[0] {
				h, g := recs[0][e], recs[1][e]
				if h.Loss != g.Loss || !reflect.DeepEqual(h.Diagnostics, g.Diagnostics) || !reflect.DeepEqual(h.FPR95, g.FPR95) {
					t.Errorf("epoch %d: host loss %v diagnostics %v fpr95 %v\ngraph loss %v diagnostics %v fpr95 %v",
						e+1, h.Loss, h.Diagnostics, h.FPR95, g.Loss, g.Diagnostics, g.FPR95)
				}
			}
			if len(ckpts[0].Vars) != len(ckpts[1].Vars) {
				t.Fatalf("%d variables on the host, %d in the graph", len(ckpts[0].Vars), len(ckpts[1].Vars))
			}
			for i, v := range ckpts[0].Vars {
				w := ckpts[1].Vars[i]
				if v.Scope != w.Scope || v.Name != w.Name || !bytes.Equal(v.Data, w.Data) {
					t.Errorf("variable %s/%s differs between the host and the graph selection", v.Scope, v.Name)
				}
			}
			if outs[0].IDAccuracy != outs[1].IDAccuracy || !reflect.DeepEqual(outs[0].PerSet, outs[1].PerSet) {
				t.Errorf("test results differ: host %+v, graph %+v", outs[0], outs[1])
			}
		})
	}
}

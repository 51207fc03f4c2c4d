package train

import (
	"bytes"
	stdctx "context"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/store"
)

// TestHostSelectionEqualsGraph trains DOS and its dual-batch variant on the pure-Go backend twice,
// with the selection on the host (the default there) and inside the step graph
// (Settings.SelectionInGraph), and requires the same run bit for bit: every variable of the final
// checkpoint, every epoch's losses and selection diagnostics, the test metrics.
func TestHostSelectionEqualsGraph(t *testing.T) {
	for _, method := range []string{"dos", "dos-dual"} {
		t.Run(method, func(t *testing.T) {
			r := hostAndGraphRuns(t, method, nil)
			for i, inGraph := range []bool{false, true} {
				_, host := r[i].tr.execs["host-selection-inputs"]
				_, graph := r[i].tr.execs["in-graph"]
				_, graphClean := r[i].tr.execs["in-graph-clean"]
				if host == inGraph || (graph || graphClean) != inGraph {
					t.Fatalf("SelectionInGraph %v: executables %v: the wrong step ran", inGraph, slices.Sorted(maps.Keys(r[i].tr.execs)))
				}
			}
			assertSameRuns(t, r)
		})
	}
}

// selectionRun is one training run of hostAndGraphRuns.
type selectionRun struct {
	tr   *Trainer
	out  *Outcome
	recs []store.EpochRecord
	ckpt *Checkpoint
}

// hostAndGraphRuns trains a tiny run of method for 2 epochs twice, each in a folder of its own:
// with the DOS selection on the host ([0]) and inside the step graph ([1]). configure, when not
// nil, adjusts the run before each training.
func hostAndGraphRuns(t *testing.T, method string, configure func(run *config.Run)) [2]selectionRun {
	t.Helper()
	var r [2]selectionRun
	for i, inGraph := range []bool{false, true} {
		run := tinyRun(t, method)
		run.Epochs = 2
		if configure != nil {
			configure(run)
		}
		dir := t.TempDir()
		tr := newTinyTrainer(t, run, dir)
		tr.Settings.SelectionInGraph = inGraph
		out, err := tr.Run(stdctx.Background())
		if err != nil {
			t.Fatal(err)
		}
		r[i] = selectionRun{tr: tr, out: out}
		if r[i].recs, err = (&store.RunDir{Path: dir, Run: run}).Epochs(); err != nil {
			t.Fatal(err)
		}
		if r[i].ckpt, err = LoadCheckpoint(tr.checkpointPath()); err != nil || r[i].ckpt == nil {
			t.Fatalf("checkpoint: %v", err)
		}
	}
	return r
}

// assertSameRuns requires the host and graph runs of hostAndGraphRuns to be the same bit for bit:
// every epoch's loss, diagnostics and FPR95, every variable of the final checkpoint, the test
// results.
func assertSameRuns(t *testing.T, r [2]selectionRun) {
	t.Helper()
	if len(r[0].recs) != len(r[1].recs) {
		t.Fatalf("%d epoch records on the host, %d in the graph", len(r[0].recs), len(r[1].recs))
	}
	for e := range r[0].recs {
		h, g := r[0].recs[e], r[1].recs[e]
		if h.Loss != g.Loss || !reflect.DeepEqual(h.Diagnostics, g.Diagnostics) || !reflect.DeepEqual(h.FPR95, g.FPR95) {
			t.Errorf("epoch %d: host loss %v diagnostics %v fpr95 %v\ngraph loss %v diagnostics %v fpr95 %v",
				e+1, h.Loss, h.Diagnostics, h.FPR95, g.Loss, g.Diagnostics, g.FPR95)
		}
	}
	if len(r[0].ckpt.Vars) != len(r[1].ckpt.Vars) {
		t.Fatalf("%d variables on the host, %d in the graph", len(r[0].ckpt.Vars), len(r[1].ckpt.Vars))
	}
	for i, v := range r[0].ckpt.Vars {
		w := r[1].ckpt.Vars[i]
		if v.Scope != w.Scope || v.Name != w.Name || !bytes.Equal(v.Data, w.Data) {
			t.Errorf("variable %s/%s differs between the host and the graph selection", v.Scope, v.Name)
		}
	}
	if r[0].out.IDAccuracy != r[1].out.IDAccuracy || !reflect.DeepEqual(r[0].out.PerSet, r[1].out.PerSet) {
		t.Errorf("test results differ: host %+v, graph %+v", r[0].out, r[1].out)
	}
}

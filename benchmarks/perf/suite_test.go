package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oodlab/dos/internal/testutil"

	"github.com/oodlab/dos/benchmarks/perf/harness"
	"github.com/oodlab/dos/internal/cli"
)

// --method matmul times each product, reports its GFLOP/s from the median, and --compare of a
// result with itself gives ratios of 1 for every product.
func TestMatmulMethod(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.json")
	var out, errOut bytes.Buffer
	args := []string{"--backend", "go", "--method", "matmul", "--matmul-shapes", "a:33:17:9,b:8:100:40", "--iters", "2", "--warmup", "0", "--json", path}
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	r, err := harness.ReadResult(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Matmul) != 2 || r.Matmul[0].Shape != (harness.MatmulShape{Name: "a", M: 33, K: 17, N: 9}) {
		t.Fatalf("matmul results %+v", r.Matmul)
	}
	for _, m := range r.Matmul {
		want := m.Shape.Flops() / (m.Timing.MedianMS / 1000) / 1e9
		if m.Timing.N != 2 || m.Timing.MedianMS <= 0 || m.GFLOPs != want {
			t.Errorf("%s: timing %+v, GFLOP/s %g (want %g)", m.Shape.Name, m.Timing, m.GFLOPs, want)
		}
	}
	if !strings.Contains(out.String(), "8x100x40") {
		t.Errorf("the table does not list the products:\n%s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"--load", path, "--compare", path}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), " 1.00x") != 2 {
		t.Errorf("--compare of a result with itself: want two ratios of 1.00x:\n%s", out.String())
	}
}

func TestSuiteFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--suite", "gpu"},
		{"--suite", "cpu", "--suite-threads", "0"},
		{"--suite", "cpu", "--suite-workloads", "resnet"},
		{"--method", "matmul", "--matmul-shapes", "a:1:2"},
		{"--method", "matmul", "--matmul-batch", "0"},
		{"--suite", "cpu", "--peer-script", "/nonexistent/peer.py"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, &out, &errOut)
		if cli.ExitCode(err) != 2 {
			t.Errorf("%v: exit code %d (%v), want 2", args, cli.ExitCode(err), err)
		}
	}
}

// The suite runs each workload on both sides with the same shapes and threads and reports
// PyTorch's median over ours. Needs a Python with torch (testutil.PeerPython).
func TestSuiteAgainstPeer(t *testing.T) {
	py := testutil.PeerPython(t)
	path := filepath.Join(t.TempDir(), "s.json")
	var out, errOut bytes.Buffer
	args := []string{"--suite", "cpu", "--suite-threads", "1", "--suite-workloads", "mlp,matmul", "--matmul-shapes", "p:64:32:16",
		"--iters", "2", "--warmup", "0", "--peer-script", "../peer/dos_peer.py", "--peer-python", py, "--json", path}
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r suiteResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Rows) != 2 || len(r.Go) != 2 || len(r.Peer) != 2 {
		t.Fatalf("rows %+v", r.Rows)
	}
	for _, row := range r.Rows {
		if row.Threads != 1 || row.GoMS <= 0 || row.TorchMS <= 0 || row.Ratio != row.TorchMS/row.GoMS {
			t.Errorf("row %+v", row)
		}
	}
	ps, gs := r.Peer[0].Shapes, r.Go[0].Shapes
	ps.KMeansIters, gs.KMeansIters = 0, 0 // different by design, and unused by a training step
	if r.Peer[0].Tool != "pytorch" || r.Peer[0].Device != "cpu (1 threads)" || r.Peer[0].Network != "mlp" || ps != gs || r.Peer[0].Params != r.Go[0].Params {
		t.Errorf("peer result %+v for ours %+v", r.Peer[0], r.Go[0])
	}
	if r.Rows[1].GoGFLOPs <= 0 || r.Rows[1].TorchGFLOPs <= 0 || !strings.Contains(r.Rows[1].Part, "64x32x16") {
		t.Errorf("matmul row %+v", r.Rows[1])
	}
	if !strings.Contains(out.String(), "MLP training step") {
		t.Errorf("table:\n%s", out.String())
	}
}

package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oodlab/dos/experiments/train"
	"github.com/oodlab/dos/internal/cli"
	"github.com/oodlab/dos/models/statedict"
)

// stateDict is a state dict of network with distinct values, num_batches_tracked 0.
func stateDict(t *testing.T, network string, outputs int) *statedict.StateDict {
	t.Helper()
	entries, err := statedict.Mapping(network, outputs)
	if err != nil {
		t.Fatal(err)
	}
	sd := &statedict.StateDict{}
	for k, e := range entries {
		if e.Layout == statedict.Counter {
			sd.Set(e.Key, statedict.FromInt64(nil, []int64{0}))
			continue
		}
		n := 1
		for _, d := range e.Shape {
			n *= d
		}
		vals := make([]float32, n)
		for i := range vals {
			vals[i] = float32((i*13+k*7)%101)/101 + 0.5
		}
		sd.Set(e.Key, statedict.FromFloat32(e.Shape, vals))
	}
	return sd
}

func runOK(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("%v: %v (stderr %q)", args, err, errOut.String())
	}
	return out.String()
}

// A .safetensors imported into a checkpoint and exported again, to .pth and .safetensors,
// gives back the same state dict; the number of outputs is read from the files.
func TestImportExport(t *testing.T) {
	dir := t.TempDir()
	sd := stateDict(t, "wrn-16-1", 7)
	in := filepath.Join(dir, "in.safetensors")
	if err := statedict.Write(in, sd); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "w.ckpt")
	msg := runOK(t, "import", in, "--network", "wrn-16-1", "--out", ckpt)
	if !strings.Contains(msg, "wrn-16-1 with 7 outputs") {
		t.Errorf("import printed %q", msg)
	}
	c, err := train.LoadCheckpoint(ckpt)
	if err != nil || c == nil {
		t.Fatalf("checkpoint: %v", err)
	}
	if c.Position != (train.Position{}) || len(c.Vars) == 0 || !strings.HasPrefix(c.Vars[0].Scope, "/"+train.ModelScope+"/") {
		t.Errorf("checkpoint at %+v with %d variables, first in scope %q", c.Position, len(c.Vars), c.Vars[0].Scope)
	}
	for _, name := range []string{"out.pth", "out.safetensors"} {
		out := filepath.Join(dir, name)
		runOK(t, "export", "--network=wrn-16-1", ckpt, "--out", out)
		got, err := statedict.Read(out)
		if err != nil {
			t.Fatal(err)
		}
		if got.Len() != sd.Len() {
			t.Errorf("%s: %d keys, want %d", name, got.Len(), sd.Len())
		}
		for _, k := range sd.Keys() {
			g, _ := got.Get(k)
			w, _ := sd.Get(k)
			if !g.Equal(w) {
				t.Errorf("%s: key %q: %s, want %s (or other data)", name, k, g, w)
			}
		}
	}
	listing := runOK(t, "inspect", filepath.Join(dir, "out.pth"))
	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(listing), "\n") {
		f := strings.Fields(l)
		lines[f[0]] = strings.Join(f, " ")
	}
	for _, want := range []string{"block1.layer.0.conv1.weight float32 [16 16 3 3]", "fc.bias float32 [7]", "bn1.num_batches_tracked int64 []", "82 keys, 175812 elements"} {
		if lines[strings.Fields(want)[0]] != want {
			t.Errorf("inspect output lacks %q:\n%s", want, listing)
		}
	}
}

// Command-line mistakes exit with 2, files that cannot be read or do not fit with 1, each
// with a message naming the problem.
func TestErrors(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pth")
	if err := statedict.Write(in, stateDict(t, "resnet18", 10)); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "r.ckpt")
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, cli.ExitUsage, "want a command"},
		{[]string{"convert"}, cli.ExitUsage, "unknown command"},
		{[]string{"import", in, "--out", ckpt}, cli.ExitUsage, "--network is required"},
		{[]string{"import", in, "--network", "resnet18"}, cli.ExitUsage, "--out is required"},
		{[]string{"import", "--network", "resnet18", "--out", ckpt}, cli.ExitUsage, "exactly one input file"},
		{[]string{"import", in, "--network", "vgg16", "--out", ckpt}, cli.ExitUsage, "unknown network"},
		{[]string{"import", in, "--network", "mlp", "--out", ckpt}, cli.ExitUsage, "no PyTorch naming"},
		{[]string{"import", in, "--network", "resnet18", "--classes", "x", "--out", ckpt}, cli.ExitUsage, ""},
		{[]string{"inspect"}, cli.ExitUsage, "exactly one file"},
		{[]string{"import", filepath.Join(dir, "absent.pth"), "--network", "resnet18", "--out", ckpt}, cli.ExitFailed, "absent.pth"},
		{[]string{"import", in, "--network", "resnet18", "--classes", "11", "--out", ckpt}, cli.ExitFailed, `"linear.weight": the state dict has float32 [10 512], the network needs float [11 512]`},
		{[]string{"import", in, "--network", "resnet50", "--classes", "10", "--out", ckpt}, cli.ExitFailed, "missing keys: layer1.0.conv3.weight"},
		{[]string{"export", filepath.Join(dir, "absent.ckpt"), "--network", "resnet18", "--out", filepath.Join(dir, "x.pth")}, cli.ExitFailed, "no such file"},
		{[]string{"inspect", filepath.Join(dir, "x.h5")}, cli.ExitFailed, "unknown state-dict format"},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), c.args, &out, &errOut)
		if code := cli.Report("weights", err, &errOut); code != c.code {
			t.Errorf("%q: exit %d, want %d (%v)", c.args, code, c.code, err)
		}
		if err != nil && !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: error %q does not mention %q", c.args, err, c.msg)
		}
		if out.Len() != 0 {
			t.Errorf("%q: printed %q on stdout", c.args, out.String())
		}
	}
	// An export from a checkpoint of another network names what is missing.
	runOK(t, "import", in, "--network", "resnet18", "--out", ckpt)
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"export", ckpt, "--network", "densenet-bc-100", "--classes", "10", "--out", filepath.Join(dir, "d.pth")}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "missing variables: /model/block1/layer0/bn1/scale") {
		t.Errorf("export of another network: %v", err)
	}
}

package train

import (
	"bytes"
	stdctx "context"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oodlab/dos/experiments/store"
)

const (
	childDirEnv    = "OODLAB_RESUME_CHILD_DIR"
	childMethodEnv = "OODLAB_RESUME_CHILD_METHOD"
)

// resumeSettings checkpoints every 3 iterations, so a kill lands mid-epoch.
func resumeTrainer(t *testing.T, method, dir string, slow bool) *Trainer {
	run := tinyRun(t, method)
	run.Epochs = 3
	tr := newTinyTrainer(t, run, dir)
	tr.Settings.CheckpointEvery = 3
	if slow {
		tr.Settings.AfterStep = func(int, int) { time.Sleep(40 * time.Millisecond) }
	}
	return tr
}

// TestResumeChild is the child process of TestExactResumeAfterKill; it does nothing otherwise.
func TestResumeChild(t *testing.T) {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		t.Skip("helper process of TestExactResumeAfterKill")
	}
	if _, err := resumeTrainer(t, os.Getenv(childMethodEnv), dir, true).Run(stdctx.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestExactResumeAfterKill kills a training child process with SIGKILL mid-epoch, resumes the
// run from its checkpoint, and checks the final weights (every variable: weights, batch-norm
// statistics, momentum, RNG state) and test metrics equal those of a run that never stopped.
func TestExactResumeAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	for _, method := range []string{"dos", "poem"} {
		t.Run(method, func(t *testing.T) {
			refDir, dir := t.TempDir(), t.TempDir()
			ref := resumeTrainer(t, method, refDir, false)
			want, err := ref.Run(stdctx.Background())
			if err != nil {
				t.Fatal(err)
			}
			wantVars, err := CaptureVariables(ref.ctx)
			if err != nil {
				t.Fatal(err)
			}

			child := exec.Command(os.Args[0], "-test.run=^TestResumeChild$")
			child.Env = append(os.Environ(), childDirEnv+"="+dir, childMethodEnv+"="+method)
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
			ckptPath := filepath.Join(dir, store.CheckpointDir, "training.ckpt")
			deadline := time.Now().Add(60 * time.Second)
			var killedAt Position
			for {
				if time.Now().After(deadline) {
					child.Process.Kill()
					t.Fatal("child wrote no mid-epoch checkpoint of epoch >= 1 in time")
				}
				c, err := LoadCheckpoint(ckptPath)
				if err == nil && c != nil && c.Position.Epoch >= 1 && c.Position.Iter > 0 {
					child.Process.Kill()
					killedAt = c.Position
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			child.Wait()
			c, err := LoadCheckpoint(ckptPath)
			if err != nil || c == nil {
				t.Fatalf("checkpoint after kill: %v", err)
			}
			t.Logf("killed at or after epoch %d iteration %d; resuming from epoch %d iteration %d",
				killedAt.Epoch, killedAt.Iter, c.Position.Epoch, c.Position.Iter)

			resumed := resumeTrainer(t, method, dir, false)
			got, err := resumed.Run(stdctx.Background())
			if err != nil {
				t.Fatal(err)
			}
			gotVars, err := CaptureVariables(resumed.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(gotVars) != len(wantVars) {
				t.Fatalf("%d variables after resume, want %d", len(gotVars), len(wantVars))
			}
			for i := range wantVars {
				w, g := wantVars[i], gotVars[i]
				if w.Scope != g.Scope || w.Name != g.Name || !bytes.Equal(w.Data, g.Data) {
					t.Fatalf("variable %s/%s differs after resume", w.Scope, w.Name)
				}
			}
			if got.IDAccuracy != want.IDAccuracy {
				t.Fatalf("accuracy %v after resume, want %v", got.IDAccuracy, want.IDAccuracy)
			}
			for name, w := range want.PerSet {
				if g := got.PerSet[name]; g != w {
					t.Fatalf("metrics of %s after resume %+v, want %+v", name, g, w)
				}
			}
			if n := len(readRecords(t, dir)); n != 3 {
				t.Fatalf("%d epoch records after resume, want 3", n)
			}
			sameRecords(t, readRecords(t, refDir), readRecords(t, dir))
		})
	}
}

// TestCancelCheckpointsAndResumes: cancelling the context (Ctrl-C) mid-epoch returns
// ErrInterrupted after writing a checkpoint of the exact position, and resuming from it ends
// with the weights of a run that never stopped.
func TestCancelCheckpointsAndResumes(t *testing.T) {
	refDir, dir := t.TempDir(), t.TempDir()
	ref := resumeTrainer(t, "share", refDir, false)
	if _, err := ref.Run(stdctx.Background()); err != nil {
		t.Fatal(err)
	}
	wantVars, _ := CaptureVariables(ref.ctx)

	ctx, cancel := stdctx.WithCancel(stdctx.Background())
	first := resumeTrainer(t, "share", dir, false)
	first.Settings.CheckpointEvery = 0
	first.Settings.AfterStep = func(epoch, iter int) {
		if epoch == 1 && iter == 4 {
			cancel()
		}
	}
	if _, err := first.Run(ctx); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("cancelled run returned %v, want ErrInterrupted", err)
	}
	c, err := LoadCheckpoint(filepath.Join(dir, store.CheckpointDir, "training.ckpt"))
	if err != nil || c == nil || c.Position != (Position{Epoch: 1, Iter: 5}) {
		t.Fatalf("checkpoint after cancel: %+v, %v; want epoch 1 iteration 5", c, err)
	}
	resumed := resumeTrainer(t, "share", dir, false)
	if _, err := resumed.Run(stdctx.Background()); err != nil {
		t.Fatal(err)
	}
	gotVars, _ := CaptureVariables(resumed.ctx)
	for i := range wantVars {
		if !bytes.Equal(wantVars[i].Data, gotVars[i].Data) {
			t.Fatalf("variable %s/%s differs after cancel and resume", wantVars[i].Scope, wantVars[i].Name)
		}
	}
	sameRecords(t, readRecords(t, refDir), readRecords(t, dir))
}

// sameRecords requires the metrics records of a resumed run to equal those of a run that never
// stopped, the epoch that was interrupted included (its loss, accuracy and diagnostics cover all
// its iterations, the ones before the checkpoint too), but for wall-clock times.
func sameRecords(t *testing.T, want, got []store.EpochRecord) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.Epoch != w.Epoch || g.Iterations != w.Iterations || g.Images != w.Images || g.Loss != w.Loss || g.LR != w.LR ||
			!maps.Equal(g.Diagnostics, w.Diagnostics) || !maps.Equal(g.FPR95, w.FPR95) ||
			(g.TestAcc == nil) != (w.TestAcc == nil) || (g.TestAcc != nil && *g.TestAcc != *w.TestAcc) {
			t.Errorf("epoch %d record after resume:\n%+v\nwant\n%+v", w.Epoch, g, w)
		}
		if g.Seconds <= 0 || g.ImagesPerSec <= 0 {
			t.Errorf("epoch %d: seconds %v, images/s %v", w.Epoch, g.Seconds, g.ImagesPerSec)
		}
	}
}

// A checkpoint with flipped bits is refused (its checksum), set aside, and the run resumes from
// the previous checkpoint, ending as a run that never stopped; with no good previous one it
// starts again from scratch; the log says which.
func TestCorruptCheckpoint(t *testing.T) {
	refDir := t.TempDir()
	ref := resumeTrainer(t, "share", refDir, false)
	if _, err := ref.Run(stdctx.Background()); err != nil {
		t.Fatal(err)
	}
	wantVars, _ := CaptureVariables(ref.ctx)
	for _, tc := range []struct {
		name     string
		dropPrev bool
		log      string
	}{{"previous kept", false, "Resuming from the previous checkpoint"}, {"no previous", true, "starts again from scratch"}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := stdctx.WithCancel(stdctx.Background())
			first := resumeTrainer(t, "share", dir, false)
			first.Settings.AfterStep = func(epoch, iter int) {
				if epoch == 1 && iter == 6 {
					cancel()
				}
			}
			if _, err := first.Run(ctx); !errors.Is(err, ErrInterrupted) {
				t.Fatalf("first run: %v", err)
			}
			path := filepath.Join(dir, store.CheckpointDir, "training.ckpt")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x10 // one flipped bit in the weights
			os.WriteFile(path, b, 0o644)
			if _, err := LoadCheckpoint(path); !errors.Is(err, ErrCorruptCheckpoint) || !strings.Contains(err.Error(), path) {
				t.Fatalf("a flipped bit: %v", err)
			}
			if tc.dropPrev {
				os.Remove(path + prevSuffix)
			}
			var log bytes.Buffer
			resumed := resumeTrainer(t, "share", dir, false)
			resumed.Settings.Log = &log
			if _, err := resumed.Run(stdctx.Background()); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(log.String(), tc.log) || !strings.Contains(log.String(), "corrupt checkpoint") {
				t.Errorf("log does not say %q:\n%s", tc.log, log.String())
			}
			if m, _ := filepath.Glob(path + ".corrupt-*"); len(m) != 1 {
				t.Errorf("the damaged checkpoint was not kept aside: %v", m)
			}
			gotVars, _ := CaptureVariables(resumed.ctx)
			for i := range wantVars {
				if !bytes.Equal(wantVars[i].Data, gotVars[i].Data) {
					t.Fatalf("variable %s/%s differs from a run that never stopped", wantVars[i].Scope, wantVars[i].Name)
				}
			}
			sameRecords(t, readRecords(t, refDir), readRecords(t, dir))
		})
	}
}

// Save keeps the checkpoint it replaces as the previous one, a file of its own, and the new one
// at the path.
func TestSaveKeepsPrevious(t *testing.T) {
	path := filepath.Join(t.TempDir(), "training.ckpt")
	for epoch := 1; epoch <= 3; epoch++ {
		if err := (&Checkpoint{Position: Position{Epoch: epoch}}).Save(path); err != nil {
			t.Fatal(err)
		}
	}
	for p, want := range map[string]int{path: 3, path + prevSuffix: 2} {
		c, err := LoadCheckpoint(p)
		if err != nil || c == nil || c.Position.Epoch != want {
			t.Errorf("%s: %+v, %v; want the checkpoint of epoch %d", filepath.Base(p), c, err, want)
		}
	}
	a, _ := os.Stat(path)
	b, _ := os.Stat(path + prevSuffix)
	if os.SameFile(a, b) {
		t.Errorf("the checkpoint and the previous one are the same file")
	}
	// A run killed while the next checkpoint is written finds the current one at path.
	beforeCheckpointWrite = func(p string) {
		if c, err := LoadCheckpoint(p); err != nil || c == nil || c.Position.Epoch != 3 {
			t.Errorf("during the write of epoch 4's checkpoint %s holds %+v, %v; want epoch 3's", filepath.Base(p), c, err)
		}
	}
	defer func() { beforeCheckpointWrite = nil }()
	if err := (&Checkpoint{Position: Position{Epoch: 4}}).Save(path); err != nil {
		t.Fatal(err)
	}
}

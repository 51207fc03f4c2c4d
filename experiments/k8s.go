package main

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/oodlab/dos/experiments/config"
	"github.com/oodlab/dos/experiments/launch"
	"github.com/oodlab/dos/experiments/store"
	"github.com/oodlab/dos/internal/atomicfile"
	"github.com/oodlab/dos/internal/cli"
)

// printK8s writes a Kubernetes Indexed Job manifest for the grid's pending runs into the store
// (runs/GRID/k8s/job.yaml) and prints it. The pods read the store and the data on the claim
// --k8s-pvc, mounted at --k8s-mount: a relative --out or --data is taken as relative to the
// mount; the data default to datasets/ there. Which runs are pending is read from the store
// at --out as this machine sees it (every run, when it is not the claim's).
func printK8s(stdout, stderr io.Writer, g *config.Grid, runs []*config.Run, loc locations, opts launch.K8sOptions) error {
	st := &store.Store{Root: loc.outDir}
	p, err := findPending(st, g.Name, runs)
	if err != nil {
		return err
	}
	if len(p.todo) == 0 {
		fmt.Fprintf(stdout, "grid %s: nothing to launch: %d of %d runs are done, %d running\n", g.Name, p.done, len(runs), len(p.locked))
		return nil
	}
	mount := opts.K8sMount()
	inPod := func(p string) string {
		if filepath.IsAbs(p) {
			if !strings.HasPrefix(path.Clean(p)+"/", path.Clean(mount)+"/") {
				fmt.Fprintf(stderr, "experiments: note: %s is not under the claim's mount %s: the image must hold it\n", p, mount)
			}
			return p
		}
		return path.Join(mount, filepath.ToSlash(p))
	}
	data := path.Join(mount, "datasets")
	if loc.dataGiven {
		data = inPod(loc.dataDir)
	}
	grid := loc.gridArg
	if !embeddedGrid(grid) {
		grid = inPod(grid)
		fmt.Fprintf(stderr, "experiments: note: the pods read the grid file at %s: copy %s there\n", grid, loc.gridArg)
	}
	pod := locations{gridArg: grid, outDir: inPod(loc.outDir), dataDir: data, dataGiven: true, backend: loc.backend}
	manifest, err := launch.K8sManifest(launch.ManifestSpec{Grid: g.Name, Options: opts, Tasks: tasks(p.todo), Args: pod.workerArgs(), Written: time.Now()})
	if err != nil {
		return cli.Usage(err)
	}
	dir := filepath.Join(loc.outDir, g.Name, "k8s")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	file := filepath.Join(dir, "job.yaml")
	if err := atomicfile.Write(file, []byte(manifest)); err != nil {
		return err
	}
	fmt.Fprint(stdout, manifest)
	fmt.Fprintf(stdout, "# written to %s: kubectl apply -f %s\n", file, file)
	return nil
}

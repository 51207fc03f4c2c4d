// Package launch runs a grid's runs somewhere other than in the calling process: in worker
// processes on the devices of this machine (Pool), as a Slurm array job (SlurmScript, Submit,
// Queue, Requeue), or as a Kubernetes Indexed Job (K8sManifest).
//
// Every launcher starts the same per-run worker command: the experiments binary with
// `--run ID` (or `--run ID,ID,... --run-index-env VAR`, where VAR holds the task's index),
// which runs exactly that one run through the run store's runner. The store's lock files
// therefore still guarantee that no run executes twice, whichever launchers share a store,
// and a worker that is stopped writes its checkpoint so that the next one resumes exactly.
//
// The package knows nothing of training: it builds command lines, scripts and manifests,
// starts and watches processes, and talks to Slurm's commands. It does not link GoMLX.
package launch

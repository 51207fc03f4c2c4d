package launch

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// K8sOptions are the settings of a grid's Kubernetes Indexed Job (the --k8s-* flags).
type K8sOptions struct {
	// Image is the container image holding the experiments binary (required).
	Image string
	// PVC is the PersistentVolumeClaim that holds the run store and the data (required).
	PVC string
	// Mount is where the claim is mounted in the pod (default /workspace).
	Mount string
	// Command is the experiments binary inside the image (default "experiments", on PATH).
	Command string
	// GPUsPerRun is the nvidia.com/gpu limit of each pod (0: no GPU).
	GPUsPerRun int
	// CPUsPerRun is each pod's CPU request (0: none).
	CPUsPerRun int
	// Mem is each pod's memory request and limit, in Slurm's form (16G, 500M: binary units)
	// or Kubernetes' (16Gi); empty: none.
	Mem string
	// Parallelism caps the pods running at once (0: every index at once).
	Parallelism int
	// RetriesPerIndex is backoffLimitPerIndex: how often one index may fail before it is
	// given up (default 3). Preemption and eviction are not counted (see K8sManifest).
	RetriesPerIndex int
	// GraceSeconds is terminationGracePeriodSeconds: the time a pod has after SIGTERM to write
	// its checkpoint (default 120).
	GraceSeconds int
}

// ManifestSpec is what a Kubernetes manifest is written from.
type ManifestSpec struct {
	// Grid is the grid's name.
	Grid string
	// Options are the Job's settings.
	Options K8sOptions
	// Tasks are the runs, one per completion index 0..len-1.
	Tasks []Task
	// Args are the worker's arguments without the run selection (grid, store and data paths
	// inside the pod, backend).
	Args []string
	// Written is the time printed in the header.
	Written time.Time
}

// IndexEnvK8s is the variable an Indexed Job's pod reads its completion index from.
const IndexEnvK8s = "JOB_COMPLETION_INDEX"

// Exit statuses of the worker command that podFailurePolicy refers to: a failed run, and a
// command-line mistake (see internal/cli). Retrying either repeats it.
var k8sFatalExitCodes = []int32{1, 2}

// The manifest's shape: only the fields written, with Kubernetes' JSON names (batch/v1 Job).
type (
	k8sJob struct {
		APIVersion string     `yaml:"apiVersion"`
		Kind       string     `yaml:"kind"`
		Metadata   k8sMeta    `yaml:"metadata"`
		Spec       k8sJobSpec `yaml:"spec"`
	}
	k8sMeta struct {
		Name   string            `yaml:"name,omitempty"`
		Labels map[string]string `yaml:"labels,omitempty"`
	}
	k8sJobSpec struct {
		CompletionMode       string              `yaml:"completionMode"`
		Completions          int                 `yaml:"completions"`
		Parallelism          int                 `yaml:"parallelism"`
		BackoffLimitPerIndex int                 `yaml:"backoffLimitPerIndex"`
		PodFailurePolicy     k8sPodFailurePolicy `yaml:"podFailurePolicy"`
		Template             k8sPodTemplate      `yaml:"template"`
	}
	k8sPodFailurePolicy struct {
		Rules []k8sPodFailureRule `yaml:"rules"`
	}
	k8sPodFailureRule struct {
		Action          string                `yaml:"action"`
		OnExitCodes     *k8sOnExitCodes       `yaml:"onExitCodes,omitempty"`
		OnPodConditions []k8sOnPodConditionsP `yaml:"onPodConditions,omitempty"`
	}
	k8sOnExitCodes struct {
		ContainerName string  `yaml:"containerName"`
		Operator      string  `yaml:"operator"`
		Values        []int32 `yaml:"values"`
	}
	k8sOnPodConditionsP struct {
		Type   string `yaml:"type"`
		Status string `yaml:"status"`
	}
	k8sPodTemplate struct {
		Metadata k8sMeta    `yaml:"metadata"`
		Spec     k8sPodSpec `yaml:"spec"`
	}
	k8sPodSpec struct {
		RestartPolicy                 string         `yaml:"restartPolicy"`
		TerminationGracePeriodSeconds int            `yaml:"terminationGracePeriodSeconds"`
		Containers                    []k8sContainer `yaml:"containers"`
		Volumes                       []k8sVolume    `yaml:"volumes"`
	}
	k8sContainer struct {
		Name         string           `yaml:"name"`
		Image        string           `yaml:"image"`
		Command      []string         `yaml:"command"`
		Args         []string         `yaml:"args"`
		Resources    k8sResources     `yaml:"resources,omitempty"`
		VolumeMounts []k8sVolumeMount `yaml:"volumeMounts"`
	}
	k8sResources struct {
		Limits   map[string]string `yaml:"limits,omitempty"`
		Requests map[string]string `yaml:"requests,omitempty"`
	}
	k8sVolumeMount struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	}
	k8sVolume struct {
		Name                  string      `yaml:"name"`
		PersistentVolumeClaim k8sClaimRef `yaml:"persistentVolumeClaim"`
	}
	k8sClaimRef struct {
		ClaimName string `yaml:"claimName"`
	}
)

// withDefaults fills in the defaults of unset options.
func (o K8sOptions) withDefaults() K8sOptions {
	if o.Mount == "" {
		o.Mount = "/workspace"
	}
	if o.Command == "" {
		o.Command = "experiments"
	}
	if o.RetriesPerIndex == 0 {
		o.RetriesPerIndex = 3
	}
	if o.GraceSeconds == 0 {
		o.GraceSeconds = 120
	}
	return o
}

// K8sMount is the mount path the manifest uses for o (o.Mount or its default).
func (o K8sOptions) K8sMount() string { return o.withDefaults().Mount }

// containerName is the worker container's name (podFailurePolicy refers to it).
const containerName = "run"

// K8sManifest returns a batch/v1 Indexed Job with one completion index per run. Each pod runs
// the worker command with --run (the list of run IDs) and --run-index-env JOB_COMPLETION_INDEX,
// on the claim that holds the store and the data. A run that fails (exit status 1) fails its
// index at once rather than being retried; a pod stopped by preemption, eviction or a node
// drain (the DisruptionTarget condition) is retried without counting against
// backoffLimitPerIndex, and the retry resumes from the checkpoint written on SIGTERM.
func K8sManifest(s ManifestSpec) (string, error) {
	o := s.Options.withDefaults()
	if len(s.Tasks) == 0 {
		return "", errors.New("k8s: no run to launch")
	}
	if o.Image == "" {
		return "", errors.New("k8s: --k8s-image is required (the container image with the experiments binary)")
	}
	if o.PVC == "" {
		return "", errors.New("k8s: --k8s-pvc is required (the PersistentVolumeClaim holding the run store and the data)")
	}
	if !dnsLabel.MatchString(o.PVC) && !dnsSubdomain.MatchString(o.PVC) {
		return "", fmt.Errorf("k8s: --k8s-pvc %q is not a Kubernetes object name (lower-case letters, digits, '-' and '.')", o.PVC)
	}
	if !path.IsAbs(o.Mount) {
		return "", fmt.Errorf("k8s: --k8s-mount %q: an absolute path is expected", o.Mount)
	}
	for _, v := range []struct {
		flag  string
		value int
	}{{"--gpus-per-run", o.GPUsPerRun}, {"--cpus-per-run", o.CPUsPerRun}, {"--array-parallelism", o.Parallelism},
		{"--k8s-retries", o.RetriesPerIndex}, {"--k8s-grace", o.GraceSeconds}} {
		if v.value < 0 {
			return "", fmt.Errorf("k8s: %s %d: want 0 or more", v.flag, v.value)
		}
	}
	if err := checkTasks(s.Tasks); err != nil {
		return "", fmt.Errorf("k8s: %w", err)
	}
	res := k8sResources{}
	if o.GPUsPerRun > 0 {
		res.Limits = map[string]string{"nvidia.com/gpu": strconv.Itoa(o.GPUsPerRun)}
	}
	if o.CPUsPerRun > 0 {
		res.Requests = map[string]string{"cpu": strconv.Itoa(o.CPUsPerRun)}
	}
	if o.Mem != "" {
		m, err := k8sMemory(o.Mem)
		if err != nil {
			return "", err
		}
		if res.Requests == nil {
			res.Requests = map[string]string{}
		}
		if res.Limits == nil {
			res.Limits = map[string]string{}
		}
		res.Requests["memory"], res.Limits["memory"] = m, m
	}
	parallelism := o.Parallelism
	if parallelism == 0 || parallelism > len(s.Tasks) {
		parallelism = len(s.Tasks)
	}
	name := k8sName(s.Grid)
	labels := map[string]string{"app.kubernetes.io/name": "dos-experiments", "dos.oodlab/grid": name[len("dos-"):]}
	job := k8sJob{
		APIVersion: "batch/v1", Kind: "Job",
		Metadata: k8sMeta{Name: name, Labels: labels},
		Spec: k8sJobSpec{
			CompletionMode: "Indexed", Completions: len(s.Tasks), Parallelism: parallelism,
			BackoffLimitPerIndex: o.RetriesPerIndex,
			PodFailurePolicy: k8sPodFailurePolicy{Rules: []k8sPodFailureRule{
				{Action: "FailIndex", OnExitCodes: &k8sOnExitCodes{ContainerName: containerName, Operator: "In", Values: k8sFatalExitCodes}},
				{Action: "Ignore", OnPodConditions: []k8sOnPodConditionsP{{Type: "DisruptionTarget", Status: "True"}}},
			}},
			Template: k8sPodTemplate{
				Metadata: k8sMeta{Labels: labels},
				Spec: k8sPodSpec{
					RestartPolicy: "Never", TerminationGracePeriodSeconds: o.GraceSeconds,
					Containers: []k8sContainer{{
						Name: containerName, Image: o.Image, Command: []string{o.Command},
						Args:         append(append([]string(nil), s.Args...), "--run", runList(s.Tasks), "--run-index-env", IndexEnvK8s),
						Resources:    res,
						VolumeMounts: []k8sVolumeMount{{Name: "store", MountPath: o.Mount}},
					}},
					Volumes: []k8sVolume{{Name: "store", PersistentVolumeClaim: k8sClaimRef{ClaimName: o.PVC}}},
				},
			},
		},
	}
	body, err := yaml.Marshal(job)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Grid %s: %d runs, one per completion index of this Kubernetes Indexed Job.\n", s.Grid, len(s.Tasks))
	fmt.Fprintf(&b, "# Written by `experiments --k8s-print` on %s; apply with `kubectl apply -f FILE`.\n", s.Written.Format(time.RFC3339))
	fmt.Fprintf(&b, "# The store and the data are on the claim %s, mounted at %s in every pod.\n", o.PVC, o.Mount)
	fmt.Fprintf(&b, "#\n# index  run\n")
	for _, t := range s.Tasks {
		fmt.Fprintf(&b, "# %5d  %s\n", t.Index, t.Name)
	}
	b.Write(body)
	return b.String(), nil
}

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// k8sName is the Job's name for a grid: "dos-" and the grid's name in lower case, with
// anything but letters and digits replaced by '-', cut so that the pods' names (the Job's
// name, the index and a random suffix) stay within Kubernetes' 63 characters.
func k8sName(grid string) string {
	n := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return '-'
	}, grid)
	n = strings.Trim(n, "-")
	if n == "" {
		n = "grid"
	}
	name := "dos-" + n
	if len(name) > 40 {
		name = strings.TrimRight(name[:40], "-")
	}
	return name
}

// k8sMemory converts a memory size in Slurm's form (a number with K, M, G or T, binary
// units; a bare number is megabytes) to a Kubernetes quantity; one already in Kubernetes' form
// (Ki, Mi, Gi, Ti) is kept.
func k8sMemory(s string) (string, error) {
	m := memPattern.FindStringSubmatch(s)
	if m == nil {
		return "", fmt.Errorf("--mem %q: a size such as 16G, 500M or 16Gi is expected", s)
	}
	unit := strings.ToUpper(m[2])
	switch {
	case unit == "":
		unit = "M"
	case strings.HasSuffix(unit, "I"):
		unit = unit[:1]
	}
	return m[1] + unit + "i", nil
}

var memPattern = regexp.MustCompile(`^([0-9]+)([KkMmGgTt]i?)?$`)

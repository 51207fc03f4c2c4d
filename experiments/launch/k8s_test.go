package launch

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"
)

// decodeJob decodes a manifest strictly into Kubernetes' own batch/v1 Job: YAML to JSON (a
// duplicate key is an error there), then JSON into the API type with Kubernetes' own strict
// decoder (sigs.k8s.io/json, which the API server uses): field names match case-sensitively,
// and an unknown or duplicate field is an error, as `kubectl apply --validate=strict` makes it.
func decodeJob(t *testing.T, manifest string) *batchv1.Job {
	t.Helper()
	var doc any
	if err := yaml.Unmarshal([]byte(manifest), &doc); err != nil {
		t.Fatalf("manifest is not YAML: %v\n%s", err, manifest)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var job batchv1.Job
	strict, err := kjson.UnmarshalStrict(b, &job)
	if err != nil || len(strict) > 0 {
		t.Fatalf("manifest does not decode strictly into batch/v1 Job: %v %v\n%s", err, strict, manifest)
	}
	return &job
}

func testTasks(n int) []Task {
	out := make([]Task, n)
	for i := range out {
		out[i] = Task{Index: i, RunID: fmt.Sprintf("%012x", 0xabc000+i), Name: fmt.Sprintf("dos-s%d-%012x", i, 0xabc000+i)}
	}
	return out
}

func TestK8sManifestDecodesIntoBatchV1(t *testing.T) {
	spec := ManifestSpec{
		Grid: "CIFAR100_ti300k", Tasks: testTasks(5), Written: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC),
		Args: []string{"--grid", "cifar100-ti300k", "--out", "/workspace/runs", "--data", "/workspace/datasets", "--backend", "xla:cuda"},
		Options: K8sOptions{Image: "registry.example/dos:1", PVC: "dos-store", GPUsPerRun: 1, CPUsPerRun: 8, Mem: "32G",
			Parallelism: 2, RetriesPerIndex: 4},
	}
	text, err := K8sManifest(spec)
	if err != nil {
		t.Fatal(err)
	}
	job := decodeJob(t, text)
	s := job.Spec
	if job.APIVersion != "batch/v1" || job.Kind != "Job" || job.Name != "dos-cifar100-ti300k" {
		t.Errorf("apiVersion %q kind %q name %q", job.APIVersion, job.Kind, job.Name)
	}
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("completionMode %v, want Indexed", s.CompletionMode)
	}
	if s.Completions == nil || *s.Completions != 5 || s.Parallelism == nil || *s.Parallelism != 2 {
		t.Errorf("completions %v parallelism %v, want 5 and 2", s.Completions, s.Parallelism)
	}
	if s.BackoffLimitPerIndex == nil || *s.BackoffLimitPerIndex != 4 {
		t.Errorf("backoffLimitPerIndex %v, want 4", s.BackoffLimitPerIndex)
	}
	pf := s.PodFailurePolicy
	if pf == nil || len(pf.Rules) != 2 || pf.Rules[0].Action != batchv1.PodFailurePolicyActionFailIndex ||
		pf.Rules[0].OnExitCodes == nil || fmt.Sprint(pf.Rules[0].OnExitCodes.Values) != "[1 2]" ||
		pf.Rules[1].Action != batchv1.PodFailurePolicyActionIgnore || len(pf.Rules[1].OnPodConditions) != 1 ||
		pf.Rules[1].OnPodConditions[0].Type != corev1.DisruptionTarget {
		t.Errorf("podFailurePolicy %+v", pf)
	}
	pod := s.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever || len(pod.Containers) != 1 {
		t.Fatalf("pod spec %+v", pod)
	}
	c := pod.Containers[0]
	if c.Image != "registry.example/dos:1" || fmt.Sprint(c.Command) != "[experiments]" {
		t.Errorf("image %q command %q", c.Image, c.Command)
	}
	if pf.Rules[0].OnExitCodes.ContainerName == nil || *pf.Rules[0].OnExitCodes.ContainerName != c.Name {
		t.Errorf("the exit-code rule names container %v, the container is %q", pf.Rules[0].OnExitCodes.ContainerName, c.Name)
	}
	// The worker command: the arguments given, then the runs and the index variable.
	var ids []string
	for _, tk := range spec.Tasks {
		ids = append(ids, tk.RunID)
	}
	want := append(append([]string(nil), spec.Args...), "--run", strings.Join(ids, ","), "--run-index-env", "JOB_COMPLETION_INDEX")
	if fmt.Sprint(c.Args) != fmt.Sprint(want) {
		t.Errorf("args\n%q\nwant\n%q", c.Args, want)
	}
	gpu := c.Resources.Limits["nvidia.com/gpu"]
	mem := c.Resources.Limits[corev1.ResourceMemory]
	cpu := c.Resources.Requests[corev1.ResourceCPU]
	if gpu.Value() != 1 || mem.Value() != 32<<30 || cpu.Value() != 8 {
		t.Errorf("resources: gpu %s memory %s cpu %s", gpu.String(), mem.String(), cpu.String())
	}
	if len(pod.Volumes) != 1 || pod.Volumes[0].PersistentVolumeClaim == nil || pod.Volumes[0].PersistentVolumeClaim.ClaimName != "dos-store" ||
		len(c.VolumeMounts) != 1 || c.VolumeMounts[0].Name != pod.Volumes[0].Name || c.VolumeMounts[0].MountPath != "/workspace" {
		t.Errorf("volumes %+v mounts %+v", pod.Volumes, c.VolumeMounts)
	}
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds != 120 {
		t.Errorf("terminationGracePeriodSeconds %v, want the default 120", pod.TerminationGracePeriodSeconds)
	}
	for i, tk := range spec.Tasks {
		if !strings.Contains(text, fmt.Sprintf("# %5d  %s\n", i, tk.Name)) {
			t.Errorf("the header does not list index %d as %s", i, tk.Name)
		}
	}

	// Without a GPU, memory or CPU request the resources are empty, and the parallelism is
	// every index.
	spec.Options = K8sOptions{Image: "img", PVC: "store"}
	text, err = K8sManifest(spec)
	if err != nil {
		t.Fatal(err)
	}
	job = decodeJob(t, text)
	if r := job.Spec.Template.Spec.Containers[0].Resources; len(r.Limits)+len(r.Requests) != 0 || *job.Spec.Parallelism != 5 {
		t.Errorf("resources %+v parallelism %d", r, *job.Spec.Parallelism)
	}
}

func TestK8sManifestRefusesBadInput(t *testing.T) {
	good := ManifestSpec{Grid: "g", Tasks: testTasks(1), Options: K8sOptions{Image: "img", PVC: "store"}}
	for _, tc := range []struct {
		name string
		edit func(*ManifestSpec)
		want string
	}{
		{"no image", func(s *ManifestSpec) { s.Options.Image = "" }, "--k8s-image is required"},
		{"no claim", func(s *ManifestSpec) { s.Options.PVC = "" }, "--k8s-pvc is required"},
		{"bad claim", func(s *ManifestSpec) { s.Options.PVC = "My_Store" }, `--k8s-pvc "My_Store"`},
		{"relative mount", func(s *ManifestSpec) { s.Options.Mount = "data" }, "--k8s-mount"},
		{"bad memory", func(s *ManifestSpec) { s.Options.Mem = "lots" }, `--mem "lots"`},
		{"negative gpus", func(s *ManifestSpec) { s.Options.GPUsPerRun = -2 }, "--gpus-per-run -2"},
		{"no runs", func(s *ManifestSpec) { s.Tasks = nil }, "no run"},
		{"bad run ID", func(s *ManifestSpec) { s.Tasks[0].RunID = "x" }, `"x" is not a run ID`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := good
			s.Tasks = testTasks(1)
			tc.edit(&s)
			if _, err := K8sManifest(s); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestK8sMemoryAndName(t *testing.T) {
	for in, want := range map[string]string{"32G": "32Gi", "500M": "500Mi", "2t": "2Ti", "16Gi": "16Gi", "4000": "4000Mi", "64K": "64Ki"} {
		if got, err := k8sMemory(in); err != nil || got != want {
			t.Errorf("k8sMemory(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{"quick": "dos-quick", "My_Grid.v2": "dos-my-grid-v2", "__": "dos-grid",
		strings.Repeat("a", 80): "dos-" + strings.Repeat("a", 36)} {
		if got := k8sName(in); got != want || !dnsLabel.MatchString(got) {
			t.Errorf("k8sName(%q) = %q, want %q (a DNS label)", in, got, want)
		}
	}
}

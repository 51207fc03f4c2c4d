package store

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/oodlab/dos/experiments/metrics"
)

// EpochRecord is one line of metrics.jsonl: what one training epoch did.
type EpochRecord struct {
	// Epoch is the number of completed epochs (1-based).
	Epoch int `json:"epoch"`
	// Iterations is the number of training iterations of the epoch, Images the ID and outlier
	// images they trained on.
	Iterations int `json:"iterations"`
	Images     int `json:"images"`
	// Loss is the mean training loss of the epoch.
	Loss float64 `json:"loss"`
	// LR is the learning rate used in the epoch.
	LR float64 `json:"lr"`
	// Seconds is the epoch's wall time.
	Seconds float64 `json:"seconds"`
	// ImagesPerSec is the training throughput (ID + OOD images).
	ImagesPerSec float64 `json:"images_per_sec"`
	// TestAcc is the ID test accuracy, when evaluated this epoch.
	TestAcc *float64 `json:"test_acc,omitempty"`
	// FPR95 is the ID-positive FPR95 per OOD test set, when evaluated.
	FPR95 map[string]float64 `json:"fpr95,omitempty"`
	// Warnings are, per OOD test set evaluated this epoch, why its scores are degenerate
	// (metrics.Result.Warnings); absent for sound scores.
	Warnings map[string][]string `json:"warnings,omitempty"`
	// Diagnostics holds anything else worth plotting (ID and OOD loss
	// terms, empty clusters, sampler time, ...).
	Diagnostics map[string]float64 `json:"diagnostics,omitempty"`
	// Time is when the epoch finished.
	Time time.Time `json:"time"`
}

// Diagnostics of the outliers an outlier-exposure run trains on, recorded in EpochRecord.Diagnostics
// by package train's outlier probe (see train.Settings.Probes) and drawn by the report: per epoch,
// the mean over the epoch's probes. They are defined here, with the record, because the report
// reads them without linking the trainer.
const (
	// DiagDiversity is the diversity of the outliers trained on: the Calinski-Harabasz index of
	// the probe's candidates labelled by one K-means step from the outliers' features
	// (metrics.SelectionDiversity), as in the DOS paper's Figure 3a.
	DiagDiversity = "outliers/diversity"
	// DiagUncertaintyPrefix, followed by an uncertainty kind (UncertaintyPAbs, ...), is the mean
	// uncertainty of the outliers trained on (the DOS paper's Figure 3b uses p_abs).
	DiagUncertaintyPrefix = "outliers/uncertainty/"
	// DiagReferenceUncertaintyPrefix, followed by the kind, is the same mean over the probe's
	// uniform sample of the pool: the level a sampler that ignored uncertainty would reach.
	DiagReferenceUncertaintyPrefix = "outliers/pool-uncertainty/"
)

// Uncertainty kinds: how OOD-like the model finds an outlier (higher = more OOD-like, so a low
// value marks an outlier close to the ID data): the absent-class probability for a net with the
// absent class, otherwise the weight the official code derives from the method's own test score
// (scores/utils.py at commit 2ca0913: 1 - MSP, or the free energy -logsumexp).
const (
	// UncertaintyPAbs is p_abs = softmax(logits)[K], of a net with the absent class.
	UncertaintyPAbs = "p_abs"
	// UncertaintyMSP is 1 - the maximum softmax probability over the K ID classes (score msp).
	UncertaintyMSP = "1-msp"
	// UncertaintyEnergy is the free energy -logsumexp of the K ID logits (score energy).
	UncertaintyEnergy = "energy"
	// UncertaintyMaxLogit is minus the largest ID logit (score maxlogit).
	UncertaintyMaxLogit = "-maxlogit"
)

// Results is results.json, written last (atomically) when a run finishes:
// its presence marks the run done.
type Results struct {
	// RunID is the run's config ID.
	RunID string `json:"run_id"`
	// Method is the method name.
	Method string `json:"method"`
	// Seed is the run's seed.
	Seed uint64 `json:"seed"`
	// Sets holds the OOD metrics per test set, by data set name, of the method's own test score
	// (its method.score): the headline numbers.
	Sets map[string]metrics.Result `json:"sets"`
	// Score names the method's own test score, that of Sets (absent in runs made before it was
	// recorded).
	Score string `json:"score,omitempty"`
	// Scores holds the OOD metrics of every post-hoc score that applies to the trained model,
	// by score name (msp, maxlogit, energy, absent for a net with the absent class, knn), then
	// by test set. The method's own score is among them, with the same numbers as Sets. Their
	// score files are scores/<score>/<set>.npy. Absent in runs made before it was recorded.
	Scores map[string]map[string]metrics.Result `json:"scores,omitempty"`
	// KNNK is the k of the knn score (Scores["knn"]), and KNNTrain the number of ID training
	// images it searched.
	KNNK     int `json:"knn_k,omitempty"`
	KNNTrain int `json:"knn_train,omitempty"`
	// IDAccuracy is the ID test accuracy (first K logits).
	IDAccuracy float64 `json:"id_accuracy"`
	// Epochs is the number of epochs trained.
	Epochs int `json:"epochs"`
	// WallSeconds is the total training and evaluation time, summed over
	// resumptions.
	WallSeconds float64 `json:"wall_seconds"`
	// Backend is the GoMLX backend used (go, xla:cuda, ...).
	Backend string `json:"backend"`
	// BackendDescription is the backend's own description: for XLA the PJRT plugin's name,
	// path and version.
	BackendDescription string `json:"backend_description,omitempty"`
	// Device describes the device (e.g. "NVIDIA H100 80GB HBM3").
	Device string `json:"device"`
	// DataChecksums maps each data file used to its checksum.
	DataChecksums map[string]string `json:"data_checksums,omitempty"`
	// InitSHA256 is the SHA-256 of the weights file the run started from (its init), if any.
	InitSHA256 string `json:"init_sha256,omitempty"`
	// Code identifies the code that produced the results.
	Code CodeInfo `json:"code"`
	// CommandLine is the command that ran (os.Args).
	CommandLine []string `json:"command_line"`
	// Finished is when the run finished.
	Finished time.Time `json:"finished"`
}

// CodeInfo identifies the code and toolchain of a binary.
type CodeInfo struct {
	// Revision is the VCS revision the binary was built from (vcs.revision;
	// empty under go run or without VCS information).
	Revision string `json:"revision"`
	// Modified reports uncommitted changes at build time (vcs.modified).
	Modified bool `json:"modified"`
	// GoVersion is the Go toolchain version.
	GoVersion string `json:"go_version"`
	// GoMLXVersion is the GoMLX module version.
	GoMLXVersion string `json:"gomlx_version"`
	// RevisionSource says where Revision came from: "build info", or "git" when the binary
	// carries none (go run, -buildvcs=false) and git answered in the working directory.
	RevisionSource string `json:"revision_source,omitempty"`
}

// Code reads CodeInfo from the running binary's build information.
func Code() CodeInfo {
	c := CodeInfo{GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return c
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			c.Revision, c.RevisionSource = s.Value, "build info"
		case "vcs.modified":
			c.Modified = s.Value == "true"
		}
	}
	if c.Revision == "" {
		c.Revision, c.Modified, c.RevisionSource = gitRevision()
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/gomlx/gomlx" {
			c.GoMLXVersion = d.Version
			if d.Replace != nil {
				c.GoMLXVersion += " => " + d.Replace.Path + " " + d.Replace.Version
			}
		}
	}
	return c
}

// gitRevision asks git for the checked-out revision and whether tracked files are modified,
// for binaries built without VCS stamping (go run does not stamp). Empty when git is absent or
// the working directory is not a checkout.
func gitRevision() (rev string, modified bool, source string) {
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "", false, ""
	}
	status, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output()
	if err != nil {
		return "", false, ""
	}
	return strings.TrimSpace(string(out)), len(bytes.TrimSpace(status)) > 0, "git"
}

// NewResults returns Results with the provenance fields filled in (code
// version, command line, finish time); the executor fills in the rest.
func NewResults(runID string) *Results {
	return &Results{RunID: runID, Sets: map[string]metrics.Result{}, Code: Code(),
		CommandLine: append([]string(nil), os.Args...), Finished: time.Now()}
}

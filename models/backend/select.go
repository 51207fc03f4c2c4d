// Package backend selects the GoMLX backend that every command of the project uses, and
// completes GoMLX's pure-Go backend ("go", SimpleGo) with the ops it lacks in v0.26.0, so that
// the same model code trains on XLA (CPU, CUDA, TPU) and on the pure-Go backend.
//
// Names accepted by New, the --backend flag and GOMLX_BACKEND:
//
//	""                       automatic: XLA when a PJRT plugin is present or can be installed,
//	                         otherwise the pure-Go backend with a one-line notice saying why
//	go                       the completed pure-Go backend (go:parallelism=N is passed through)
//	xla                      XLA with the first available plugin (CUDA preferred, then CPU)
//	xla:cpu, xla:cuda        XLA with a named plugin
//	xla:/abs/path/plugin.so  XLA with the PJRT plugin at that path
//
// # Matrix products and convolutions on the pure-Go backend
//
// SimpleGo's float32 DotGeneral reaches about 5 GFLOP/s on this project's 2-core machine, where
// PyTorch reaches 100 and more, and its ConvGeneral is slower still; a WRN-10-1 training step
// took 23 times PyTorch's. This package therefore replaces how SimpleGo executes float32
// DotGeneral and ConvGeneral (executors.go): both run on internal/gemm, a matrix-product driver
// with SIMD micro-kernels in Go assembly (AVX-512 or AVX2 with FMA, chosen when the program
// starts; a portable Go kernel with the same results elsewhere; no cgo), cache blocking and
// threads (the backend's parallelism, at most GOMAXPROCS). A convolution is one product whose
// patches are gathered block by block from a padded copy of the input, never stored whole. The
// element-wise ops of batch normalisation and ReLU get loops without SimpleGo's per-element
// index iterators (elementwise.go). Together they bring the training step to about half
// PyTorch's speed on one thread (benchmarks/README.md, section 8).
//
// Why a kernel of the project's own: no maintained Go library offers a fast float32 matrix
// product without cgo. gonum's Sgemm is pure Go (with SSE assembly only for its vector loops)
// and reaches a few GFLOP/s, about SimpleGo's own speed; go-highway's SIMD needs
// GOEXPERIMENT=simd on amd64; the GEMM packages of newer GoMLX versions are not published
// for v0.26.0, the version the module proxy serves; the others found (vek and the like) are
// unmaintained or wrap C. internal/gemm's package documentation states the order in which a
// product is summed, on which the host K-means of sampling/ondevice relies to reproduce the
// backend's results bit for bit.
package backend

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/gomlx/go-xla/pkg/installer"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/backends/xla"
)

// EnvVar is the environment variable read when no backend is named explicitly.
const EnvVar = "GOMLX_BACKEND"

// Accepted lists the backend names New understands, for error messages and help texts.
const Accepted = `"go", "xla", "xla:cpu", "xla:cuda", "xla:/abs/path/plugin.so" (empty = automatic)`

// Info describes the backend a run uses; every run logs it.
type Info struct {
	// Name is "go" or "xla".
	Name string `json:"name"`
	// Config is what followed the colon: plugin name or path for xla, options for go.
	Config string `json:"config,omitempty"`
	// Plugin is the PJRT plugin name or path (xla only).
	Plugin string `json:"plugin,omitempty"`
	// Devices are the device descriptions reported by the backend.
	Devices []string `json:"devices"`
	// Notice explains an automatic choice (e.g. why the pure-Go backend was chosen).
	Notice string `json:"notice,omitempty"`
}

// String renders Info as one log line.
func (i Info) String() string {
	s := fmt.Sprintf("backend=%s", i.Name)
	if i.Plugin != "" {
		s += " plugin=" + i.Plugin
	}
	if i.Name == "go" && i.Config != "" {
		s += " config=" + i.Config
	}
	s += fmt.Sprintf(" devices=%q", i.Devices)
	return s
}

// Flag registers the --backend flag on fs (flag.CommandLine when nil) and returns its value.
func Flag(fs *flag.FlagSet) *string {
	if fs == nil {
		fs = flag.CommandLine
	}
	return fs.String("backend", "", "GoMLX backend: "+Accepted+"; default $"+EnvVar+" or automatic")
}

// New returns the backend for name (see the package documentation). An empty name reads
// GOMLX_BACKEND, and if that is empty too, chooses automatically.
func New(name string) (backends.Backend, Info, error) {
	if name == "" {
		name = strings.TrimSpace(os.Getenv(EnvVar))
	}
	kind, config, _ := strings.Cut(name, ":")
	switch kind {
	case "":
		return auto()
	case "go", simplegoAlias:
		b, err := NewGo(config)
		if err != nil {
			return nil, Info{}, fmt.Errorf("backend %q: %w", name, err)
		}
		return b, describe(b, "go", config, ""), nil
	case "xla", "stablehlo":
		return newXLA(name, config)
	default:
		return nil, Info{}, fmt.Errorf("unknown backend %q: accepted are %s", name, Accepted)
	}
}

// simplegoAlias is GoMLX's own name for the pure-Go backend; it selects the completed one too.
const simplegoAlias = "simplego"

// NewGo returns GoMLX's pure-Go backend completed with the ops this project needs
// (see GoBackend). config is passed to SimpleGo (e.g. "parallelism=2").
func NewGo(config string) (backends.Backend, error) {
	if !strings.Contains(config, "ops_parallel") && !strings.Contains(config, "ops_sequential") {
		// SimpleGo v0.26.0 can deadlock when it runs independent ops in parallel: each op holds a
		// worker while its DotGeneral waits for free workers, which never come. Executing ops
		// one after the other (each still parallel inside) avoids it; ops_parallel restores it.
		config = strings.TrimPrefix(config+",ops_sequential", ",")
	}
	inner, err := simplego.New(config)
	if err != nil {
		return nil, err
	}
	return &GoBackend{Backend: inner}, nil
}

func newXLA(name, config string) (backends.Backend, Info, error) {
	if strings.ContainsRune(config, os.PathSeparator) {
		plugin, _, _ := strings.Cut(config, ",")
		if !filepath.IsAbs(plugin) {
			return nil, Info{}, fmt.Errorf("backend %q: plugin path %q must be absolute", name, plugin)
		}
		if _, err := os.Stat(plugin); err != nil {
			return nil, Info{}, fmt.Errorf("backend %q: PJRT plugin %q does not exist", name, plugin)
		}
	}
	b, err := xla.New(config)
	if err != nil {
		return nil, Info{}, fmt.Errorf("backend %q: %s", name, oneLine(err))
	}
	plugin := config
	if plugin == "" {
		plugin = xla.GetAvailablePlugins()[0]
	}
	return b, describe(b, "xla", config, plugin), nil
}

// auto prefers XLA when a plugin is present or can be installed, else the pure-Go backend.
func auto() (backends.Backend, Info, error) {
	reason := ""
	if err := autoInstall(); err != nil {
		reason = "PJRT plugin auto-install failed: " + oneLine(err)
	}
	if plugins := xla.GetAvailablePlugins(); len(plugins) > 0 {
		b, err := xla.New(plugins[0])
		if err == nil {
			return b, describe(b, "xla", plugins[0], plugins[0]), nil
		}
		reason = fmt.Sprintf("XLA plugin %q failed to start: %s", plugins[0], oneLine(err))
	} else if reason == "" {
		reason = "no PJRT plugin found (auto-install disabled by " + xla.NoAutoInstallEnv + ")"
	}
	b, err := NewGo("")
	if err != nil {
		return nil, Info{}, err
	}
	info := describe(b, "go", "", "")
	info.Notice = "using the pure-Go backend: " + reason
	return b, info, nil
}

// autoInstall tries once per process to install the CPU PJRT plugin (unless
// GOMLX_NO_AUTO_INSTALL is set): a grid opens a backend for every run, and offline each attempt
// would go to the network again only to fail the same way.
var autoInstall = newAutoInstall(func() error { return installer.AutoInstall("", true, installer.Quiet) })

// newAutoInstall returns a function that calls install the first time only, and thereafter
// returns what that call returned.
func newAutoInstall(install func() error) func() error {
	return sync.OnceValue(func() error {
		var err error
		if _, off := os.LookupEnv(xla.NoAutoInstallEnv); !off {
			err = install()
		}
		// Nor should go-xla's own lookup retry the download.
		xla.EnableAutoInstall(false)
		return err
	})
}

func describe(b backends.Backend, name, config, plugin string) Info {
	info := Info{Name: name, Config: config, Plugin: plugin}
	for d := range b.NumDevices() {
		info.Devices = append(info.Devices, b.DeviceDescription(backends.DeviceNum(d)))
	}
	return info
}

// oneLine keeps the first line of an error, without the stack traces some errors carry.
func oneLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// EnvXLA opens the XLA backend that GOMLX_BACKEND names, for the device checks that compare a
// device with the pure-Go backend. named is false, and nothing is opened, when the variable
// names no XLA backend; err reports an XLA backend that was named but cannot be opened.
func EnvXLA() (be backends.Backend, info Info, named bool, err error) {
	name := os.Getenv(EnvVar)
	if !strings.HasPrefix(name, "xla") {
		return nil, Info{}, false, nil
	}
	be, info, err = New(name)
	if err != nil {
		return nil, Info{}, true, fmt.Errorf("backend %q: %w", name, err)
	}
	return be, info, true, nil
}

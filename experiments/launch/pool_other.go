//go:build !linux

package launch

import (
	"os/exec"
	"syscall"
)

// workerProcAttr: elsewhere than on Linux, workers stay in the parent's process group.
func workerProcAttr() *syscall.SysProcAttr { return nil }

// allowedCPUs is unknown here: AllowedCPUs falls back to runtime.NumCPU.
func allowedCPUs() []int { return nil }

// startPinned cannot bind CPUs here: GOMAXPROCS alone divides the cores.
func startPinned(cmd *exec.Cmd, _ []int, _ <-chan struct{}) error { return cmd.Start() }

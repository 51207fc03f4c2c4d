//go:build unix

package harness

import (
	"runtime"
	"syscall"
)

// maxRSSMB returns getrusage(RUSAGE_SELF)'s maximum resident set size in MiB (0 if unavailable).
func maxRSSMB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return float64(ru.Maxrss) / (1 << 20) // bytes
	}
	return float64(ru.Maxrss) / 1024 // KiB
}

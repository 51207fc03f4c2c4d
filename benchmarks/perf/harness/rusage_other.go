//go:build !unix

package harness

// maxRSSMB is unavailable on this system: 0.
func maxRSSMB() float64 { return 0 }

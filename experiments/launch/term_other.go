//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package launch

import "os"

// TerminalWidth is unknown here: 0 (the display's default width is used).
func TerminalWidth(*os.File) int { return 0 }

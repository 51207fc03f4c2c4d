//go:build unix

package store

import "syscall"

// accessWrite checks write permission on path (access(2), W_OK) without writing.
func accessWrite(path string) error { return syscall.Access(path, 0x2) }

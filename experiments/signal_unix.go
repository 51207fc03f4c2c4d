//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// onUSR1 calls fn (once) when the process receives SIGUSR1, as Slurm sends before a task's time
// limit (--signal=B:USR1@SECONDS); stop ends the watch.
func onUSR1(fn func()) (stop func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() {
		select {
		case <-c:
			fn()
		case <-done:
		}
	}()
	return func() {
		signal.Stop(c)
		close(done)
	}
}

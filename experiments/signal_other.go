//go:build !unix

package main

// onUSR1: there is no SIGUSR1 here (nor Slurm).
func onUSR1(func()) (stop func()) { return func() {} }

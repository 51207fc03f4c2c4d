// Package cli is the one shape of the project's commands: each command is a function
//
//	run(ctx context.Context, args []string, stdout, stderr io.Writer) error
//
// that tests call directly, and a main that hands it to Main. Main cancels ctx on the first
// SIGINT or SIGTERM (a second one kills at once), prints the error, and exits with the code
// ExitCode gives: 0 on success, 2 for a usage error, 130 when interrupted, 1 otherwise.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes.
const (
	ExitOK          = 0
	ExitFailed      = 1
	ExitUsage       = 2
	ExitInterrupted = 130
)

// UsageError is a mistake in the command line: Main prints it and exits with ExitUsage.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// Usage wraps err (nil stays nil) as a UsageError.
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return &UsageError{Err: err}
}

// ErrInterrupted is returned by a command stopped by a signal (or a cancelled ctx) after it
// saved what it had; errors wrapping it, or context.Canceled, exit with ExitInterrupted.
var ErrInterrupted = errors.New("interrupted")

// errPrinted marks an error whose message the command already printed (flag parsing).
var errPrinted = errors.New("usage error printed")

// Parse parses args with fs, whose output should go to the command's stderr. A parse error
// (already printed by the flag package, with the usage) or -h comes back as a UsageError.
func Parse(fs *flag.FlagSet, args []string) error {
	fs.Init(fs.Name(), flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return &UsageError{Err: fmt.Errorf("%w: %w", errPrinted, err)}
	}
	return nil
}

// ParseInterleaved parses flags that may appear before, between or after the positional
// arguments, and returns the positional arguments in order.
func ParseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := Parse(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// ExitCode returns the exit code of a command's error (0 for a request of the usage, -h).
func ExitCode(err error) int {
	var ue *UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	case errors.Is(err, ErrInterrupted), errors.Is(err, context.Canceled):
		return ExitInterrupted
	}
	return ExitFailed
}

// Report prints err to stderr as "name: message" (nothing for nil, or for flag errors the flag
// package printed already) and returns its exit code.
func Report(name string, err error, stderr io.Writer) int {
	if err != nil && !errors.Is(err, errPrinted) && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
	}
	return ExitCode(err)
}

// Main runs a command with the process's arguments and streams and exits with its code.
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default handling: a second one kills at once.
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := Report(name, run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr)
	stop()
	os.Exit(code)
}

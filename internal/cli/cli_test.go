package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"testing"
)

func TestExitCodesAndReport(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
		out  string
	}{
		{nil, ExitOK, ""},
		{errors.New("data missing"), ExitFailed, "cmd: data missing\n"},
		{Usagef("--grid is required"), ExitUsage, "cmd: --grid is required\n"},
		{fmt.Errorf("run x: %w", context.Canceled), ExitInterrupted, "cmd: run x: context canceled\n"},
		{fmt.Errorf("stopped: %w", ErrInterrupted), ExitInterrupted, "cmd: stopped: interrupted\n"},
	} {
		var buf bytes.Buffer
		if got := Report("cmd", tc.err, &buf); got != tc.code || buf.String() != tc.out {
			t.Errorf("Report(%v) = %d %q, want %d %q", tc.err, got, buf.String(), tc.code, tc.out)
		}
	}
	var stderr bytes.Buffer
	fs := flag.NewFlagSet("cmd", flag.ContinueOnError)
	fs.SetOutput(&stderr)
	fs.Int("n", 1, "a number")
	err := Parse(fs, []string{"-n", "x"})
	if ExitCode(err) != ExitUsage {
		t.Fatalf("bad flag: %v", err)
	}
	var buf bytes.Buffer
	if Report("cmd", err, &buf); buf.Len() != 0 || stderr.Len() == 0 {
		t.Errorf("a flag error is printed once, by the flag package: %q then %q", stderr.String(), buf.String())
	}
	if code := Report("cmd", Parse(fs, []string{"-h"}), &buf); code != ExitOK {
		t.Errorf("-h exits %d, want 0", code)
	}
}

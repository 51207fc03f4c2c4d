package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/oodlab/dos/internal/cli"
)

func TestModelInfo(t *testing.T) {
	cases := []struct {
		args []string
		want Info
	}{
		{[]string{"densenet-bc-100", "--classes", "10"}, Info{"densenet-bc-100", 10, 769_162, 342, [3]int{32, 32, 3}}},
		{[]string{"--classes=101", "wrn-40-2"}, Info{"wrn-40-2", 101, 2_255_285, 128, [3]int{32, 32, 3}}},
		{[]string{"resnet50", "--classes", "1000", "--input", "64x64x3"}, Info{"resnet50", 1000, 25_557_032, 2048, [3]int{64, 64, 3}}},
		{[]string{"mlp"}, Info{"mlp", 10, 196*64 + 64 + 64*64 + 64 + 64*10 + 10, 64, [3]int{28, 28, 1}}},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), c.args, &out, &errOut); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if strings.Count(out.String(), "\n") != 1 {
			t.Errorf("%v: output %q is not one line", c.args, out.String())
		}
		var got Info
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%v: output %q: %v", c.args, out.String(), err)
		}
		if got != c.want {
			t.Errorf("%v: got %+v, want %+v", c.args, got, c.want)
		}
	}
}

// TestModelInfoErrors: mistakes in the command line are usage errors (exit
// status 2) printed on one line, with nothing on stdout; -h prints the usage
// and exits 0.
func TestModelInfoErrors(t *testing.T) {
	for _, args := range [][]string{{"vgg16"}, {}, {"mlp", "resnet18"}, {"mlp", "--classes", "0"}, {"mlp", "--input", "28x28"}, {"wrn-41-2"}} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, &out, &errOut)
		if err == nil {
			t.Errorf("%v: no error", args)
			continue
		}
		if code := cli.Report("modelinfo", err, &errOut); code != cli.ExitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, cli.ExitUsage)
		}
		if strings.Count(errOut.String(), "\n") != 1 || !strings.HasPrefix(errOut.String(), "modelinfo: ") || out.Len() != 0 {
			t.Errorf("%v: stderr %q should be one line with nothing on stdout", args, errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"mlp", "--classes", "x"}, &out, &errOut)
	if code := cli.Report("modelinfo", err, &errOut); code != cli.ExitUsage || !strings.Contains(errOut.String(), `invalid value "x" for flag -classes`) {
		t.Errorf("--classes x: exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	err = run(context.Background(), []string{"-h"}, &out, &errOut)
	if code := cli.Report("modelinfo", err, &errOut); code != cli.ExitOK || !strings.Contains(errOut.String(), "usage: modelinfo NAME") || out.Len() != 0 {
		t.Errorf("-h: exit %d, stderr %q", code, errOut.String())
	}
}

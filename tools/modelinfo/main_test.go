package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
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
		if err := run(c.args, &out, &errOut); err != nil {
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

func TestModelInfoErrors(t *testing.T) {
	for _, args := range [][]string{{"vgg16"}, {}, {"mlp", "resnet18"}, {"mlp", "--classes", "0"}, {"mlp", "--input", "28x28"}, {"wrn-41-2"}} {
		var out, errOut bytes.Buffer
		err := run(args, &out, &errOut)
		if err == nil {
			t.Errorf("%v: no error", args)
			continue
		}
		if strings.Contains(err.Error(), "\n") || out.Len() != 0 {
			t.Errorf("%v: error %q should be one line with nothing on stdout", args, err)
		}
	}
}

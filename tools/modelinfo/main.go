// Command modelinfo prints, as one JSON object, a network's trainable
// parameter count, feature size and input shape.
//
// Usage:
//
//	go run ./tools/modelinfo NAME [--classes N] [--input HxWxC]
//
// NAME is a registry name (densenet-bc-100, wrn-D-K, resnet18, resnet50,
// small-cnn, mlp). --classes is the number of outputs (default 10); --input
// overrides the network's default input shape. Errors are printed on one line;
// a bad command line (unknown network, bad --classes or --input, a flag error,
// which the usage follows) exits with status 2, any other failure with 1.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/oodlab/dos/internal/cli"
	"github.com/oodlab/dos/models"
)

// Info is the JSON object printed.
type Info struct {
	Name        string `json:"name"`
	Classes     int    `json:"classes"`
	Params      int    `json:"params"`
	FeatureSize int    `json:"feature_size"`
	InputShape  [3]int `json:"input_shape"`
}

func main() { cli.Main("modelinfo", run) }

// run parses args (flags may come before or after the name) and writes the
// JSON object to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("modelinfo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	classes := fs.Int("classes", 10, "number of network outputs (K, or K+1)")
	input := fs.String("input", "", "input shape HxWxC (default: the network's own)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: modelinfo NAME [--classes N] [--input HxWxC]\nnetworks: %s, or wrn-D-K with D=6n+4\n",
			strings.Join(models.Names(), ", "))
		fs.PrintDefaults()
	}
	positional, err := cli.ParseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return cli.Usagef("want exactly one network name, got %d arguments %q (networks: %s)",
			len(positional), positional, strings.Join(models.Names(), ", "))
	}
	arch, err := models.Lookup(positional[0])
	if err != nil {
		return cli.Usage(err)
	}
	if *classes < 1 {
		return cli.Usagef("--classes %d: must be >= 1", *classes)
	}
	shape := arch.InputShape
	if *input != "" {
		if shape, err = parseShape(*input); err != nil {
			return cli.Usage(err)
		}
	}
	n, err := models.CountParams(arch, *classes, shape)
	if err != nil {
		return err
	}
	out, err := json.Marshal(Info{Name: arch.Name, Classes: *classes, Params: n, FeatureSize: arch.FeatureSize(*classes), InputShape: shape})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, string(out))
	return err
}

// parseShape reads "HxWxC".
func parseShape(s string) ([3]int, error) {
	var shape [3]int
	parts := strings.Split(s, "x")
	if len(parts) != 3 {
		return shape, fmt.Errorf("--input %q: want HxWxC, e.g. 32x32x3", s)
	}
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 1 {
			return shape, fmt.Errorf("--input %q: want three positive integers HxWxC, e.g. 32x32x3", s)
		}
		shape[i] = v
	}
	return shape, nil
}

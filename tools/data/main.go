// Command data inspects local data sets:
//
//	go run ./tools/data inspect cifar10 --dir datasets
//
// verifies the set and prints one JSON object with its split sizes, image
// shape, label histograms, per-channel mean and standard deviation of the
// raw pixels (0-255 scale) and the checksum status.
//
// A bad command line (no or another subcommand, not exactly one name, an
// unknown name, a flag error) exits with status 2; a set that is missing or
// cannot be read, with 1; an interrupt (Ctrl-C) stops the scan with 130.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"

	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/internal/cli"
)

func main() { cli.Main("data", run) }

const usage = "usage: data inspect NAME [--dir DIR]"

// SplitReport describes one split.
type SplitReport struct {
	N              int       `json:"n"`
	LabelHistogram []int     `json:"label_histogram,omitempty"`
	Mean           []float64 `json:"mean"`
	Std            []float64 `json:"std"`
}

// Report is the JSON object printed by inspect.
type Report struct {
	Name            string                 `json:"name"`
	Dir             string                 `json:"dir"`
	Shape           [3]int                 `json:"shape"`
	Classes         int                    `json:"classes"`
	Splits          map[string]SplitReport `json:"splits"`
	Checksum        string                 `json:"checksum"`
	ChecksumDetails []string               `json:"checksum_details,omitempty"`
}

// run is the whole command: flags may come before or after the name.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", data.DefaultDir(), "data directory (default $OOD_DATA, else ./datasets: the experiments command's default)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fs.Usage()
		return nil
	}
	if len(args) == 0 || args[0] != "inspect" {
		fmt.Fprintln(stderr, usage)
		return cli.Usagef("want the subcommand inspect")
	}
	pos, err := cli.ParseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return cli.Usagef("want exactly one data-set name, got %d", len(pos))
	}
	if _, err := data.Lookup(pos[0]); err != nil {
		return cli.Usage(err)
	}
	rep, err := inspect(ctx, pos[0], *dir)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// inspect reads every split of the set; a cancelled ctx stops it.
func inspect(ctx context.Context, name, dir string) (*Report, error) {
	spec, err := data.Lookup(name)
	if err != nil {
		return nil, err
	}
	if miss := data.Missing(name, dir); len(miss) > 0 {
		return nil, fmt.Errorf("%s: missing %v", name, miss)
	}
	rep := &Report{Name: name, Dir: dir, Classes: spec.Classes, Splits: map[string]SplitReport{}}
	for _, split := range spec.Splits {
		src, err := data.Open(name, dir, split)
		if err != nil {
			return nil, err
		}
		sr, shape, err := splitStats(ctx, src, spec.Classes)
		data.CloseSource(src)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", name, split, err)
		}
		rep.Shape = shape
		rep.Splits[split] = sr
	}
	rep.Checksum, rep.ChecksumDetails = data.ChecksumStatus(name, dir)
	return rep, nil
}

// splitStats streams over the images (TI-300K stays memory-mapped), checking
// ctx every 1024 images.
func splitStats(ctx context.Context, src data.Source, classes int) (SplitReport, [3]int, error) {
	h, w, c := src.Dims()
	sr := SplitReport{N: src.Len()}
	sum, sq := make([]float64, c), make([]float64, c)
	buf := make([]uint8, h*w*c)
	for i := range src.Len() {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return sr, [3]int{}, fmt.Errorf("stopped at image %d of %d: %w", i, src.Len(), err)
			}
		}
		if err := src.Image(i, buf); err != nil {
			return sr, [3]int{}, err
		}
		for p, v := range buf {
			f := float64(v)
			sum[p%c] += f
			sq[p%c] += f * f
		}
	}
	if l, ok := src.(interface{ Labels() []int32 }); ok && classes > 0 {
		sr.LabelHistogram = histogram(l.Labels(), classes)
	} else if m, ok := src.(*data.Images); ok && m.Labels != nil && classes > 0 {
		sr.LabelHistogram = histogram(m.Labels, classes)
	}
	cnt := float64(src.Len() * h * w)
	sr.Mean, sr.Std = make([]float64, c), make([]float64, c)
	for ch := range c {
		if cnt == 0 {
			break
		}
		sr.Mean[ch] = sum[ch] / cnt
		sr.Std[ch] = math.Sqrt(math.Max(0, sq[ch]/cnt-sr.Mean[ch]*sr.Mean[ch]))
	}
	return sr, [3]int{h, w, c}, nil
}

func histogram(labels []int32, classes int) []int {
	hist := make([]int, classes)
	for _, l := range labels {
		if int(l) < classes && l >= 0 {
			hist[l]++
		}
	}
	return hist
}

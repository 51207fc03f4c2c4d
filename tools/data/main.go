// Command data inspects and packs local data sets:
//
//	go run ./tools/data inspect cifar10 --dir datasets
//	go run ./tools/data pack imagenet10 --dir datasets [--shard-size BYTES]
//
// inspect verifies the set and prints one JSON object with its split sizes, image shape, label
// histograms, per-channel mean and standard deviation of the raw pixels (0-255 scale), the
// checksum status and, for a packed set, the SHA-256 check of every shard. A set with missing
// files is an error listing each missing path and how to get it.
//
// pack writes each split of an image-folder set (ImageNet-10, the ImageNet pools, ImageNet-1K,
// the MOS test sets, ...) into shard files under DIR/packed/NAME/ (data.Pack: tar shards with
// a JSON index of offsets, labels, CRC-32C and SHA-256); from then on every command reads the
// set from its shards.
//
// A bad command line (no or another subcommand, not exactly one name, an unknown name, a flag
// error) exits with status 2; a set that is missing or cannot be read, with 1; an interrupt
// (Ctrl-C) stops the scan with 130.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"

	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/internal/cli"
)

func main() { cli.Main("data", run) }

const usage = "usage: data inspect NAME [--dir DIR] | data pack NAME [--dir DIR] [--shard-size BYTES]"

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
	// Packed lists, per packed split, its shards and whether their SHA-256 matched the index.
	Packed map[string]PackedReport `json:"packed,omitempty"`
}

// PackedReport describes the shards of one packed split.
type PackedReport struct {
	Shards   int    `json:"shards"`
	Bytes    int64  `json:"bytes"`
	Verified bool   `json:"verified"`
	Dir      string `json:"dir"`
}

// run is the whole command: flags may come before or after the name.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("data", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", data.DefaultDir(), "data directory (default $OOD_DATA, else ./datasets: the experiments command's default)")
	shardSize := fs.Int64("shard-size", data.DefaultShardBytes, "pack: target size of one shard in bytes")
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fs.Usage()
		return nil
	}
	if len(args) == 0 || (args[0] != "inspect" && args[0] != "pack") {
		fmt.Fprintln(stderr, usage)
		return cli.Usagef("want the subcommand inspect or pack")
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
	if args[0] == "pack" {
		if *shardSize <= 0 {
			return cli.Usagef("--shard-size %d: want > 0", *shardSize)
		}
		return pack(ctx, pos[0], *dir, *shardSize, stdout, stderr)
	}
	rep, err := inspect(ctx, pos[0], *dir)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// missingError lists what a set lacks, one path per line.
func missingError(name string, miss []string) error {
	return fmt.Errorf("%s: missing:\n  %s", name, strings.Join(miss, "\n  "))
}

// pack writes every split of an image-folder set into shards.
func pack(ctx context.Context, name, dir string, shardBytes int64, stdout, stderr io.Writer) error {
	spec, _ := data.Lookup(name)
	for _, split := range spec.Splits {
		src, err := data.OpenOriginal(name, dir, split)
		if err != nil {
			if miss := data.Missing(name, dir); len(miss) > 0 && !data.Packed(dir, name, split) {
				return missingError(name, miss)
			}
			return err
		}
		fi, ok := src.(*data.FolderImages)
		if !ok {
			data.CloseSource(src)
			return fmt.Errorf("%s: not an image-folder set (it is read from %T, already a few files); nothing to pack", name, src)
		}
		last := -1
		idx, err := data.Pack(ctx, fi, dir, name, split, data.PackOptions{ShardBytes: shardBytes, Progress: func(done, total int) {
			if pct := done * 100 / total; pct/10 != last/10 {
				last = pct
				fmt.Fprintf(stderr, "%s %s: %d/%d images (%d%%)\n", name, split, done, total, pct)
			}
		}})
		if err != nil {
			return err
		}
		var bytes int64
		for _, s := range idx.Shards {
			bytes += s.Size
		}
		fmt.Fprintf(stdout, "%s %s: %d images in %d shards (%.1f MB) under %s\n", name, split, idx.Records.Len(), len(idx.Shards), float64(bytes)/1e6, data.PackedDir(dir, name))
	}
	return nil
}

// inspect reads every split of the set; a cancelled ctx stops it.
func inspect(ctx context.Context, name, dir string) (*Report, error) {
	spec, err := data.Lookup(name)
	if err != nil {
		return nil, err
	}
	if miss := data.Missing(name, dir); len(miss) > 0 {
		return nil, missingError(name, miss)
	}
	rep := &Report{Name: name, Dir: dir, Classes: spec.Classes, Splits: map[string]SplitReport{}}
	for _, split := range spec.Splits {
		if data.Packed(dir, name, split) {
			errs, err := data.VerifyShards(ctx, dir, name, split, runtime.GOMAXPROCS(0))
			if err != nil {
				return nil, err
			}
			if len(errs) > 0 {
				var msgs []string
				for _, e := range errs {
					msgs = append(msgs, e.Error())
				}
				return nil, fmt.Errorf("%s %s: %d damaged shards:\n  %s", name, split, len(errs), strings.Join(msgs, "\n  "))
			}
			s, err := data.OpenShards(dir, name, split)
			if err != nil {
				return nil, err
			}
			pr := PackedReport{Shards: len(s.Index.Shards), Verified: true, Dir: data.PackedDir(dir, name)}
			for _, e := range s.Index.Shards {
				pr.Bytes += e.Size
			}
			s.Close()
			if rep.Packed == nil {
				rep.Packed = map[string]PackedReport{}
			}
			rep.Packed[split] = pr
		}
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
	if labels := data.SourceLabels(src); labels != nil && classes > 0 {
		sr.LabelHistogram = histogram(labels, classes)
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

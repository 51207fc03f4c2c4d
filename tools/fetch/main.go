// Command fetch downloads data sets from their publishers' addresses into a
// data directory, resuming partial downloads, verifying checksums and
// unpacking archives safely:
//
//	go run ./tools/fetch cifar100 ti300k svhn --dir datasets
//	go run ./tools/fetch --list
//
// A data set already fetched and verified is not downloaded again. Sets that
// need a licence or login (ImageNet) print what to place where.
//
// A bad command line (no or an unknown name, a flag error) exits with status
// 2, a set that could not be fetched with 1, an interrupt (Ctrl-C, SIGTERM)
// with 130; a partial download is resumed by the next run.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/internal/cli"
)

func main() { cli.Main("fetch", run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fetch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", data.DefaultDir(), "data directory (default $OOD_DATA, else ./datasets: the experiments command's default)")
	base := fs.String("base-url", "", "fetch every file from this base address instead of the publisher's (mirrors, tests)")
	list := fs.Bool("list", false, "print the download table (addresses, checksums and their sources) and exit")
	quiet := fs.Bool("quiet", false, "no progress bar")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: fetch NAME... [--dir DIR] [--base-url URL] [--quiet]\n       fetch --list\nnames: %s\n", strings.Join(data.Names(), ", "))
		fs.PrintDefaults()
	}
	names, err := cli.ParseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if *list {
		for _, d := range data.Downloads() {
			sum := "md5 " + d.MD5
			if d.MD5 == "" {
				sum = "no digest"
			}
			fmt.Fprintf(stdout, "%-14s %s\n    %s (%s)\n", d.Set, d.URL, sum, d.ChecksumSource)
		}
		return nil
	}
	if len(names) == 0 {
		fs.Usage()
		return cli.Usagef("no data set named")
	}
	for _, n := range names {
		if _, err := data.Lookup(n); err != nil {
			return cli.Usage(err)
		}
	}
	f := &data.Fetcher{Dir: *dir, BaseURL: *base}
	if !*quiet {
		f.Progress = stderr
	}
	var failed []string
	for i, n := range names {
		if err := f.Fetch(ctx, n); err != nil {
			fmt.Fprintln(stderr, err)
			if ctx.Err() != nil {
				return fmt.Errorf("not fetched: %s (a partial download resumes on the next run): %w",
					strings.Join(append(failed, names[i:]...), ", "), ctx.Err())
			}
			failed = append(failed, n)
			continue
		}
		fmt.Fprintf(stdout, "%s: ready in %s\n", n, *dir)
	}
	if len(failed) > 0 {
		return fmt.Errorf("not fetched: %s", strings.Join(failed, ", "))
	}
	return nil
}

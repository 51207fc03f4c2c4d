// Command fetch downloads data sets from their publishers' addresses into a
// data directory, resuming partial downloads, verifying checksums and
// unpacking archives safely:
//
//	go run ./tools/fetch cifar100 ti300k svhn --dir datasets
//	go run ./tools/fetch --list
//
// A data set already fetched and verified is not downloaded again. Sets that
// need a licence or login (ImageNet) print what to place where.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/oodlab/dos/data"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fetch:", err)
		os.Exit(1)
	}
}

// parseInterleaved parses flags that may appear before, between or after
// the positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

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
	names, err := parseInterleaved(fs, args)
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
		return errors.New("no data set named")
	}
	f := &data.Fetcher{Dir: *dir, BaseURL: *base}
	if !*quiet {
		f.Progress = stderr
	}
	var failed []string
	for _, n := range names {
		if err := f.Fetch(ctx, n); err != nil {
			fmt.Fprintln(stderr, err)
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

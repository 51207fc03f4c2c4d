// Command pngcheck checks that a PNG image is not blank: it decodes the file
// and counts its distinct colours and the pixels that differ from the most
// common (background) colour.
//
// Usage:
//
//	go run ./tools/report/pngcheck [--min-colours N] [--min-ink F] FILE.png
//
// It prints "FILE: WxH, C distinct colours, P% non-background pixels" and
// exits 0 when there are at least --min-colours colours (default 16) and at
// least --min-ink percent non-background pixels (default 0.5); 1 when the
// image looks blank or cannot be read as a PNG; 2 for a bad command line.
package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"

	"github.com/oodlab/dos/internal/cli"
)

func main() { cli.Main("pngcheck", run) }

// Stats describes an image's content.
type Stats struct {
	// Width and Height are the image size in pixels.
	Width, Height int
	// Colours counts the distinct RGBA colours.
	Colours int
	// Ink is the share of pixels, in percent, whose colour is not the most
	// common one.
	Ink float64
}

// Measure counts the colours of img.
func Measure(img image.Image) Stats {
	b := img.Bounds()
	counts := map[[4]uint32]int{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			counts[[4]uint32{r, g, bl, a}]++
		}
	}
	most := 0
	for _, n := range counts {
		most = max(most, n)
	}
	total := b.Dx() * b.Dy()
	s := Stats{Width: b.Dx(), Height: b.Dy(), Colours: len(counts)}
	if total > 0 {
		s.Ink = 100 * float64(total-most) / float64(total)
	}
	return s
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pngcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	minColours := fs.Int("min-colours", 16, "fewest distinct colours of a non-blank image")
	minInk := fs.Float64("min-ink", 0.5, "least percentage of non-background pixels of a non-blank image")
	const usage = "usage: pngcheck [--min-colours N] [--min-ink F] FILE.png"
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, usage)
		return cli.Usagef("want one PNG file, got %d arguments", fs.NArg())
	}
	path := fs.Arg(0)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return fmt.Errorf("%s: not a PNG image: %w", path, err)
	}
	s := Measure(img)
	fmt.Fprintf(stdout, "%s: %dx%d, %d distinct colours, %.1f%% non-background pixels\n", path, s.Width, s.Height, s.Colours, s.Ink)
	if s.Colours < *minColours || s.Ink < *minInk {
		return fmt.Errorf("%s looks blank (want at least %d colours and %.1f%% non-background pixels)", path, *minColours, *minInk)
	}
	return nil
}

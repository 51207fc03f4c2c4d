package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oodlab/dos/internal/cli"
)

// check runs the command and returns its exit status, printing its error to
// stderr as main does.
func check(args []string, stdout, stderr *bytes.Buffer) int {
	return cli.Report("pngcheck", run(context.Background(), args, stdout, stderr), stderr)
}

func writePNG(t *testing.T, img image.Image) string {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "x.png")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBlankAndDrawn(t *testing.T) {
	blank := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for i := range blank.Pix {
		blank.Pix[i] = 255
	}
	var out, errb bytes.Buffer
	if code := check([]string{writePNG(t, blank)}, &out, &errb); code != cli.ExitFailed || !strings.Contains(out.String(), "40x30, 1 distinct colours, 0.0% non-background") ||
		!strings.Contains(errb.String(), "looks blank") {
		t.Errorf("blank image: exit %d, %q %q; want 1", code, out.String(), errb.String())
	}
	// A white image with a 20x10 block of 20 grey levels: 21 colours, 200 of 1200 pixels inked.
	drawn := image.NewRGBA(image.Rect(0, 0, 40, 30))
	copy(drawn.Pix, blank.Pix)
	for y := range 10 {
		for x := range 20 {
			v := uint8(10 * x)
			drawn.Set(x, y, color.RGBA{v, v, v, 255})
		}
	}
	s := Measure(drawn)
	if s.Colours != 21 || s.Ink < 16.66 || s.Ink > 16.67 {
		t.Errorf("Measure = %+v, want 21 colours, 16.67%% ink", s)
	}
	out.Reset()
	if code := check([]string{writePNG(t, drawn)}, &out, &errb); code != cli.ExitOK {
		t.Errorf("drawn image: exit %d, %q", code, out.String())
	}
	// An unreadable file is a failure (1), a bad command line a usage error (2).
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{filepath.Join(t.TempDir(), "none.png")}, cli.ExitFailed, "pngcheck: open "},
		{[]string{"main.go"}, cli.ExitFailed, "pngcheck: main.go: not a PNG image"},
		{nil, cli.ExitUsage, "usage: pngcheck"},
		{[]string{"--min-ink", "x", "a.png"}, cli.ExitUsage, "invalid value"},
	} {
		errb.Reset()
		if code := check(c.args, &out, &errb); code != c.code || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errb.String(), c.code, c.want)
		}
	}
}

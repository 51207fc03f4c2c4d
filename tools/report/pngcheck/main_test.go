package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
	if code := run([]string{writePNG(t, blank)}, &out, &errb); code != 1 || !strings.Contains(out.String(), "40x30, 1 distinct colours, 0.0% non-background") {
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
	if code := run([]string{writePNG(t, drawn)}, &out, &errb); code != 0 {
		t.Errorf("drawn image: exit %d, %q", code, out.String())
	}
	if code := run([]string{filepath.Join(t.TempDir(), "none.png")}, &out, &errb); code != 2 {
		t.Errorf("missing file: exit %d, want 2", code)
	}
}

package data

import (
	"archive/zip"
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Goldens written by testdata/gen_goldens.py (NumPy, SciPy, Pillow).

func TestNPYGoldensFromNumpy(t *testing.T) {
	a, err := ReadNPY("testdata/v1_f4.npy")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := a.Float64s()
	if a.DType != "f4" || len(a.Shape) != 2 || a.Shape[0] != 3 || a.Shape[1] != 4 {
		t.Fatalf("v1: dtype %s shape %v", a.DType, a.Shape)
	}
	for i := range 12 {
		if v[i] != float64(i)*0.5-1 {
			t.Fatalf("v1 value %d = %v", i, v[i])
		}
	}
	b, err := ReadNPY("testdata/v2_u1.npy")
	if err != nil {
		t.Fatal(err)
	}
	if b.DType != "u1" || len(b.Shape) != 4 || b.Len() != 54 {
		t.Fatalf("v2: dtype %s shape %v", b.DType, b.Shape)
	}
	for i, x := range b.Values.([]uint8) {
		if int(x) != i%256 {
			t.Fatalf("v2 byte %d = %d", i, x)
		}
	}
	h, _ := readNPYHeader(bytes.NewReader(mustRead(t, "testdata/v2_u1.npy")))
	if h.Major != 2 {
		t.Fatalf("v2_u1.npy parsed as version %d", h.Major)
	}
	c, err := ReadNPY("testdata/fortran_i8.npy")
	if err != nil {
		t.Fatal(err)
	}
	cv, _ := c.Float64s()
	if !c.Fortran {
		t.Fatal("fortran_order not read")
	}
	for i := range 6 {
		if cv[i] != float64(i) {
			t.Fatalf("fortran value %d = %v (all %v)", i, cv[i], cv)
		}
	}
	d, err := ReadNPY("testdata/f8.npy")
	if err != nil {
		t.Fatal(err)
	}
	dv, _ := d.Float64s()
	if dv[0] != 0.1 || dv[1] != -2.5 || dv[2] != 1e300 {
		t.Fatalf("f8 values %v", dv)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSVHNMatFromScipy(t *testing.T) {
	for _, f := range []string{"testdata/svhn_compressed.mat", "testdata/svhn_plain.mat"} {
		m, err := ReadSVHN(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if m.N != 3 || m.H != 4 || m.W != 5 || m.C != 3 {
			t.Fatalf("%s: shape %dx%dx%dx%d", f, m.N, m.H, m.W, m.C)
		}
		for n := range 3 {
			img := m.At(n)
			for r := range 4 {
				for c := range 5 {
					for ch := range 3 {
						want := uint8((r*7 + c*3 + ch*11 + n*13) % 256)
						if got := img[(r*5+c)*3+ch]; got != want {
							t.Fatalf("%s: image %d (%d,%d,%d) = %d want %d", f, n, r, c, ch, got, want)
						}
					}
				}
			}
		}
		if want := []int32{0, 3, 1}; m.Labels[0] != want[0] || m.Labels[1] != want[1] || m.Labels[2] != want[2] {
			t.Fatalf("%s: labels %v want %v (10 means digit 0)", f, m.Labels, want)
		}
	}
	if _, err := ReadMAT("testdata/svhn_compressed.mat", "Z"); err == nil || !strings.Contains(err.Error(), `"Z" not found`) {
		t.Fatalf("missing variable: %v", err)
	}
}

func TestImageNet64NPZFromNumpy(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "train_data_batch_1.npz"), mustRead(t, "testdata/imagenet64_tiny.npz"), 0o644)
	m, err := ReadImageNet64(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.N != 3 || m.H != 4 || m.C != 3 {
		t.Fatalf("shape %dx%dx%dx%d", m.N, m.H, m.W, m.C)
	}
	for n := range 3 {
		for r := range 4 {
			for c := range 4 {
				for ch := range 3 {
					want := uint8((n*50 + ch*16 + r*4 + c) % 256)
					if got := m.At(n)[(r*4+c)*3+ch]; got != want {
						t.Fatalf("image %d (%d,%d,%d) = %d want %d", n, r, c, ch, got, want)
					}
				}
			}
		}
	}
	if m.Labels[0] != 0 || m.Labels[1] != 999 || m.Labels[2] != 4 {
		t.Fatalf("labels %v, want 0-based [0 999 4]", m.Labels)
	}
}

func TestNPZRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.npz")
	f, _ := os.Create(p)
	zw := zip.NewWriter(f)
	w, _ := zw.Create("a.npy")
	EncodeNPY(w, []int{2, 2}, []float32{1, 2, 3, 4}, 1)
	w, _ = zw.Create("b.npy")
	EncodeNPY(w, []int{3}, []uint8{7, 8, 9}, 2)
	zw.Close()
	f.Close()
	arrs, err := ReadNPZ(p)
	if err != nil {
		t.Fatal(err)
	}
	av, _ := arrs["a"].Float64s()
	if len(arrs) != 2 || av[3] != 4 || arrs["b"].Values.([]uint8)[2] != 9 {
		t.Fatalf("npz round trip: %v %v", av, arrs["b"].Values)
	}
}

func TestResizeMatchesPIL(t *testing.T) {
	for _, name := range []string{"down", "up", "tall"} {
		pix, w, h, err := DecodeRGB("testdata/resize_" + name + "_in.png")
		if err != nil {
			t.Fatal(err)
		}
		want, err := ReadNPY("testdata/resize_" + name + "_out.npy")
		if err != nil {
			t.Fatal(err)
		}
		oh, ow := want.Shape[0], want.Shape[1]
		size := 32
		if name == "up" {
			size = 9
		}
		if gw, gh := resizeShorter(w, h, size); gw != ow || gh != oh {
			t.Fatalf("%s: Resize(%d) of %dx%d gives %dx%d, PIL golden is %dx%d", name, size, w, h, gw, gh, ow, oh)
		}
		got := ResizeBilinear(pix, w, h, 3, ow, oh)
		wantPix := want.Values.([]uint8)
		for i := range got {
			if got[i] != wantPix[i] {
				t.Fatalf("%s: byte %d (y %d x %d c %d) = %d, PIL %d", name, i, i/3/ow, i/3%ow, i%3, got[i], wantPix[i])
			}
		}
	}
}

func TestCenterCropOffsets(t *testing.T) {
	// 5 wide, crop 2: torchvision left = int(round(1.5)) = 2 (half to even).
	pix := []uint8{0, 1, 2, 3, 4}
	if got := CenterCrop(pix, 5, 1, 1, 2, 1); got[0] != 2 || got[1] != 3 {
		t.Fatalf("crop of 5 to 2: %v, want [2 3]", got)
	}
	// 4 wide, crop 1: int(round(1.5)) = 2.
	if got := CenterCrop(pix[:4], 4, 1, 1, 1, 1); got[0] != 2 {
		t.Fatalf("crop of 4 to 1: %v, want [2]", got)
	}
	// 7 wide, crop 2: int(round(2.5)) = 2.
	if got := CenterCrop([]uint8{0, 1, 2, 3, 4, 5, 6}, 7, 1, 1, 2, 1); got[0] != 2 {
		t.Fatalf("crop of 7 to 2: %v, want [2 3]", got)
	}
	// Smaller than the crop: zero padded.
	if got := CenterCrop([]uint8{9}, 1, 1, 1, 3, 1); got[0] != 0 || got[1] != 9 || got[2] != 0 {
		t.Fatalf("pad 1 to 3: %v", got)
	}
}

func TestCIFARRoundTrip(t *testing.T) {
	dir := t.TempDir()
	m := Synthetic(SyntheticConfig{N: 7, H: 32, W: 32, C: 3, Classes: 10, Look: 1, Draw: 2})
	sub := filepath.Join(dir, cifar10Dir)
	os.MkdirAll(sub, 0o755)
	for _, f := range cifar10Train {
		if err := WriteCIFAR(filepath.Join(sub, f), m.Subset([]int{0, 1, 2}), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteCIFAR(filepath.Join(sub, "test_batch.bin"), m, nil); err != nil {
		t.Fatal(err)
	}
	// Independent check of the published layout: label byte then the red plane.
	raw := mustRead(t, filepath.Join(sub, "test_batch.bin"))
	if len(raw) != 7*3073 || raw[0] != byte(m.Labels[0]) || raw[1] != m.Pix[0] || raw[2] != m.Pix[3] || raw[1+1024] != m.Pix[1] {
		t.Fatal("CIFAR-10 record layout wrong")
	}
	got, err := Load("cifar10", dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Pix, m.Pix) || got.N != 7 {
		t.Fatal("CIFAR-10 pixels differ after round trip")
	}
	for i := range m.Labels {
		if got.Labels[i] != m.Labels[i] {
			t.Fatalf("label %d: %d want %d", i, got.Labels[i], m.Labels[i])
		}
	}
	tr, err := Load("cifar10", dir, "train")
	if err != nil || tr.N != 15 || !bytes.Equal(tr.At(14), m.At(2)) {
		t.Fatalf("train: %v", err)
	}

	// CIFAR-100: coarse then fine label byte.
	m100 := Synthetic(SyntheticConfig{N: 5, H: 32, W: 32, C: 3, Classes: 100, Look: 3, Draw: 4})
	coarse := []int32{1, 2, 3, 4, 19}
	os.MkdirAll(filepath.Join(dir, cifar100Dir), 0o755)
	for _, s := range []string{"train", "test"} {
		if err := WriteCIFAR(filepath.Join(dir, cifar100Dir, s+".bin"), m100, coarse); err != nil {
			t.Fatal(err)
		}
	}
	raw = mustRead(t, filepath.Join(dir, cifar100Dir, "test.bin"))
	if raw[3074] != 2 || raw[3075] != byte(m100.Labels[1]) {
		t.Fatal("CIFAR-100 record layout wrong")
	}
	g100, err := Load("cifar100", dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g100.Pix, m100.Pix) {
		t.Fatal("CIFAR-100 pixels differ")
	}
	for i := range m100.Labels {
		if g100.Labels[i] != m100.Labels[i] {
			t.Fatalf("fine label %d: %d want %d", i, g100.Labels[i], m100.Labels[i])
		}
	}
}

func TestIDXRoundTripAndGoMNIST(t *testing.T) {
	dir := t.TempDir()
	m := Synthetic(SyntheticConfig{N: 4, H: 28, W: 28, C: 1, Classes: 10, Look: 5, Draw: 6})
	sub := filepath.Join(dir, "fashion-mnist")
	os.MkdirAll(sub, 0o755)
	labs := make([]uint8, 4)
	for i, l := range m.Labels {
		labs[i] = uint8(l)
	}
	for _, s := range []string{"train", "test"} {
		WriteIDX(filepath.Join(sub, mnistFiles[s][0]), []int{4, 28, 28}, m.Pix)
		WriteIDX(filepath.Join(sub, mnistFiles[s][1]), []int{4}, labs)
	}
	got, err := Load("fashion-mnist", dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	if got.H != 28 || got.C != 1 || !bytes.Equal(got.Pix, m.Pix) || got.Labels[3] != m.Labels[3] {
		t.Fatal("IDX round trip differs")
	}

	// The real MNIST from the Go module: published sizes and the usual
	// normalisation constants (mean 0.1307, std 0.3081 of the train split).
	mn, err := Load("mnist", t.TempDir(), "train")
	if err != nil {
		t.Fatal(err)
	}
	if mn.N != 60000 || mn.H != 28 || mn.W != 28 {
		t.Fatalf("mnist train %dx%dx%d", mn.N, mn.H, mn.W)
	}
	norm := ComputeNormalize(mn)
	if d := norm.Mean[0] - 0.1307; d > 1e-4 || d < -1e-4 {
		t.Fatalf("mnist mean %v want 0.1307", norm.Mean[0])
	}
	if d := norm.Std[0] - 0.3081; d > 1e-4 || d < -1e-4 {
		t.Fatalf("mnist std %v want 0.3081", norm.Std[0])
	}
}

func TestNPYImagesMapped(t *testing.T) {
	dir := t.TempDir()
	m := Synthetic(SyntheticConfig{N: 9, H: 32, W: 32, C: 3, Look: 7, Draw: 8})
	p := filepath.Join(dir, "300K_random_images.npy")
	if err := WriteNPY(p, []int{9, 32, 32, 3}, m.Pix); err != nil {
		t.Fatal(err)
	}
	src, err := Open("ti300k", dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	defer CloseSource(src)
	if src.Len() != 9 {
		t.Fatalf("len %d", src.Len())
	}
	buf := make([]uint8, 3072)
	for i := range 9 {
		src.Image(i, buf)
		if !bytes.Equal(buf, m.At(i)) {
			t.Fatalf("image %d differs", i)
		}
	}
	if _, err := Open("ti300k", dir, "test"); err == nil || !strings.Contains(err.Error(), `split "test"`) {
		t.Fatalf("missing split: %v", err)
	}
}

func TestImageFolders(t *testing.T) {
	dir := t.TempDir()
	// LSUN-C layout: LSUN/test/*.png of 36x36, centre-cropped to 32.
	big := Synthetic(SyntheticConfig{N: 3, H: 36, W: 36, C: 3, Look: 9, Draw: 10})
	os.MkdirAll(filepath.Join(dir, "LSUN", "test"), 0o755)
	for i := range 3 {
		writePNG(t, filepath.Join(dir, "LSUN", "test", string(rune('a'+i))+".png"), big.At(i), 36, 36)
	}
	got, err := Load("lsun-c", dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	if got.N != 3 || got.H != 32 {
		t.Fatalf("lsun-c %dx%d", got.N, got.H)
	}
	for i := range 3 {
		want := CenterCrop(big.At(i), 36, 36, 3, 32, 32)
		if !bytes.Equal(got.At(i), want) {
			t.Fatalf("lsun-c image %d differs", i)
		}
		// Offset 2 on each side: pixel (0,0) of the crop is (2,2) of the input.
		if got.At(i)[0] != big.At(i)[(2*36+2)*3] {
			t.Fatal("centre crop offset is not 2")
		}
	}
	// Textures layout: dtd/images/<class>/*.png, resize 32 + crop.
	for ci, cl := range []string{"banded", "zigzagged"} {
		os.MkdirAll(filepath.Join(dir, "dtd", "images", cl), 0o755)
		writePNG(t, filepath.Join(dir, "dtd", "images", cl, "x.png"), big.At(ci), 36, 36)
	}
	tex, err := Load("textures", dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	if tex.N != 2 || tex.Labels[1] != 1 {
		t.Fatalf("textures n %d labels %v", tex.N, tex.Labels)
	}
	if want := ResizeBilinear(big.At(1), 36, 36, 3, 32, 32); !bytes.Equal(tex.At(1), want) {
		t.Fatal("textures transform differs from Resize(32)+CenterCrop(32)")
	}
}

func writePNG(t *testing.T, p string, pix []uint8, w, h int) {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range w * h {
		copy(img.Pix[i*4:], pix[i*3:i*3+3])
		img.Pix[i*4+3] = 255
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	png.Encode(f, img)
	f.Close()
}

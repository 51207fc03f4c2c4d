package data

import (
	"image"
)

// Colour conversion of decoded JPEGs as libjpeg-turbo does it for Pillow (and so for
// torchvision's default image loader): chroma planes upsampled with libjpeg's "fancy"
// (triangular) filter, then YCbCr to RGB with its fixed-point tables. Go's image/jpeg keeps
// the chroma planes subsampled and its YCbCr colour model repeats each chroma sample, which
// puts decoded pixels tens of levels away from Pillow's at sharp colour edges; with this
// conversion only the inverse DCTs differ (a level or two). The filters below follow the
// behaviour documented in libjpeg-turbo's jdsample.c (h2v1 and h2v2 fancy upsampling, edges
// replicated) and jdcolor.c (ycc_rgb_convert); they are written from that description.

// libjpeg's fixed-point YCbCr to RGB tables (SCALEBITS 16, values rounded as in jdcolor.c).
var (
	jpegCrR, jpegCbB, jpegCrG, jpegCbG [256]int32
)

func init() {
	const scaleBits = 16
	const half = 1 << (scaleBits - 1)
	fix := func(x float64) int32 { return int32(x*(1<<scaleBits) + 0.5) }
	for i := range 256 {
		x := int32(i - 128)
		jpegCrR[i] = (fix(1.40200)*x + half) >> scaleBits
		jpegCbB[i] = (fix(1.77200)*x + half) >> scaleBits
		jpegCrG[i] = -fix(0.71414) * x
		jpegCbG[i] = -fix(0.34414)*x + half
	}
}

func clampByte(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// yccToRGB converts one pixel with libjpeg's tables.
func yccToRGB(y, cb, cr uint8) (uint8, uint8, uint8) {
	yy := int32(y)
	return clampByte(yy + jpegCrR[cr]),
		clampByte(yy + (jpegCbG[cb]+jpegCrG[cr])>>16),
		clampByte(yy + jpegCbB[cb])
}

// upsampleRowH2 doubles one chroma row of n samples into out (2n values) with libjpeg's
// h2v1 fancy filter: each output is 3/4 of the nearer input and 1/4 of the farther one, the
// rounding alternating between the two outputs of an input, the ends replicated.
func upsampleRowH2(in []uint8, out []uint8) {
	n := len(in)
	if n == 1 {
		out[0], out[1] = in[0], in[0]
		return
	}
	out[0] = in[0]
	out[1] = uint8((int(in[0])*3 + int(in[1]) + 2) >> 2)
	for i := 1; i < n-1; i++ {
		v := int(in[i]) * 3
		out[2*i] = uint8((v + int(in[i-1]) + 1) >> 2)
		out[2*i+1] = uint8((v + int(in[i+1]) + 2) >> 2)
	}
	v := int(in[n-1]) * 3
	out[2*n-2] = uint8((v + int(in[n-2]) + 1) >> 2)
	out[2*n-1] = in[n-1]
}

// upsampleRowsH2V2 makes the two output rows of chroma row r (of a plane with rows 0..rows-1
// reached through row(r)) with libjpeg's h2v2 fancy filter: vertically 3/4 of row r and 1/4
// of the row above (first output) or below (second), edges replicated, then horizontally as
// h2v1 but on the 4x-scaled column sums with 4-bit rounding.
func upsampleRowsH2V2(row func(int) []uint8, r, rows int, top, bottom []uint8) {
	cur := row(r)
	for v, out := range [2][]uint8{top, bottom} {
		nr := r - 1
		if v == 1 {
			nr = r + 1
		}
		nr = max(0, min(rows-1, nr))
		near := row(nr)
		n := len(cur)
		if n == 1 {
			s := int(cur[0])*3 + int(near[0])
			out[0] = uint8((s*4 + 8) >> 4)
			out[1] = uint8((s*4 + 7) >> 4)
			continue
		}
		this := int(cur[0])*3 + int(near[0])
		next := int(cur[1])*3 + int(near[1])
		out[0] = uint8((this*4 + 8) >> 4)
		out[1] = uint8((this*3 + next + 7) >> 4)
		last := this
		this = next
		for i := 1; i < n-1; i++ {
			next = int(cur[i+1])*3 + int(near[i+1])
			out[2*i] = uint8((this*3 + last + 8) >> 4)
			out[2*i+1] = uint8((this*3 + next + 7) >> 4)
			last, this = this, next
		}
		out[2*n-2] = uint8((this*3 + last + 8) >> 4)
		out[2*n-1] = uint8((this*4 + 7) >> 4)
	}
}

// ycbcrLibjpeg converts a decoded JPEG to RGB as libjpeg-turbo would have: 4:2:0 and 4:2:2
// chroma upsampled with the fancy filter, 4:4:4 as is; libjpeg's colour tables. It returns false
// for other subsamplings (4:4:0, 4:1:1, 4:1:0), which the caller converts otherwise.
func ycbcrLibjpeg(dst []uint8, m *image.YCbCr, w, h int) bool {
	b := m.Rect
	if b.Min.X != 0 || b.Min.Y != 0 {
		return false
	}
	cw := (w + 1) / 2
	sub := m.SubsampleRatio
	if (sub == image.YCbCrSubsampleRatio420 || sub == image.YCbCrSubsampleRatio422) && cw <= 2 {
		// libjpeg upsamples chroma this narrow by replication, not with the fancy filter;
		// so does Go's colour model.
		return false
	}
	switch sub {
	case image.YCbCrSubsampleRatio444:
		for y := range h {
			yr := m.Y[y*m.YStride : y*m.YStride+w]
			cb := m.Cb[y*m.CStride : y*m.CStride+w]
			cr := m.Cr[y*m.CStride : y*m.CStride+w]
			out := dst[y*w*3 : (y+1)*w*3]
			for x := range w {
				out[3*x], out[3*x+1], out[3*x+2] = yccToRGB(yr[x], cb[x], cr[x])
			}
		}
	case image.YCbCrSubsampleRatio422:
		cbUp, crUp := make([]uint8, 2*cw), make([]uint8, 2*cw)
		for y := range h {
			upsampleRowH2(m.Cb[y*m.CStride:y*m.CStride+cw], cbUp)
			upsampleRowH2(m.Cr[y*m.CStride:y*m.CStride+cw], crUp)
			convertRow(dst[y*w*3:(y+1)*w*3], m.Y[y*m.YStride:y*m.YStride+w], cbUp, crUp)
		}
	case image.YCbCrSubsampleRatio420:
		ch := (h + 1) / 2
		cbRow := func(r int) []uint8 { return m.Cb[r*m.CStride : r*m.CStride+cw] }
		crRow := func(r int) []uint8 { return m.Cr[r*m.CStride : r*m.CStride+cw] }
		cb0, cb1 := make([]uint8, 2*cw), make([]uint8, 2*cw)
		cr0, cr1 := make([]uint8, 2*cw), make([]uint8, 2*cw)
		for r := range ch {
			upsampleRowsH2V2(cbRow, r, ch, cb0, cb1)
			upsampleRowsH2V2(crRow, r, ch, cr0, cr1)
			for v, rows := range [2][2][]uint8{{cb0, cr0}, {cb1, cr1}} {
				y := 2*r + v
				if y >= h {
					break
				}
				convertRow(dst[y*w*3:(y+1)*w*3], m.Y[y*m.YStride:y*m.YStride+w], rows[0], rows[1])
			}
		}
	default:
		return false
	}
	return true
}

// convertRow converts one row of full-resolution Y, Cb, Cr samples (cb and cr may be longer).
func convertRow(out, yr, cb, cr []uint8) {
	for x, yv := range yr {
		out[3*x], out[3*x+1], out[3*x+2] = yccToRGB(yv, cb[x], cr[x])
	}
}

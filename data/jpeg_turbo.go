//go:build libjpeg && cgo

package data

// JPEG decoding with libjpeg-turbo through its TurboJPEG API, built only with the libjpeg tag
// (go build -tags libjpeg; needs cgo and Debian's libturbojpeg0-dev). It decodes as Pillow does
// (accurate integer inverse DCT, fancy chroma upsampling, libjpeg's colour conversion), so
// decoded pixels equal torchvision's default loader's, and it is several times faster than
// image/jpeg (benchmarks/README.md). The default build has no cgo and uses image/jpeg.

/*
#cgo LDFLAGS: -lturbojpeg
#include <stdio.h>
#include <stdlib.h>
#include <turbojpeg.h>

static int decode_rgb(const unsigned char *buf, unsigned long size, unsigned char *dst, int w, int h, char *msg, int msglen) {
	tjhandle t = tjInitDecompress();
	if (t == NULL) {
		snprintf(msg, msglen, "%s", tjGetErrorStr2(NULL));
		return -1;
	}
	int rc = tjDecompress2(t, buf, size, dst, w, 0, h, TJPF_RGB, 0);
	if (rc != 0 && tjGetErrorCode(t) == TJERR_FATAL) {
		snprintf(msg, msglen, "%s", tjGetErrorStr2(t));
		tjDestroy(t);
		return -1;
	}
	tjDestroy(t);
	return 0;
}

static int header(const unsigned char *buf, unsigned long size, int *w, int *h, int *cs) {
	tjhandle t = tjInitDecompress();
	if (t == NULL) return -1;
	int sub;
	int rc = tjDecompressHeader3(t, buf, size, w, h, &sub, cs);
	tjDestroy(t);
	return rc;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// FastJPEG reports whether JPEGs are decoded by libjpeg-turbo (the libjpeg build tag).
const FastJPEG = true

// turboDecode decodes a JPEG file's bytes to RGB. It declines (ok false) what it does not
// convert as Pillow would (CMYK and YCCK files), which image/jpeg then decodes.
func turboDecode(b []byte) (pix []uint8, w, h int, ok bool, err error) {
	if len(b) < 4 || b[0] != 0xff || b[1] != 0xd8 {
		return nil, 0, 0, false, nil
	}
	src := (*C.uchar)(unsafe.Pointer(&b[0]))
	var cw, ch, cs C.int
	if C.header(src, C.ulong(len(b)), &cw, &ch, &cs) != 0 {
		return nil, 0, 0, false, nil // image/jpeg reports the error
	}
	if cs == C.TJCS_CMYK || cs == C.TJCS_YCCK {
		return nil, 0, 0, false, nil
	}
	w, h = int(cw), int(ch)
	pix = make([]uint8, w*h*3)
	var msg [256]C.char
	if C.decode_rgb(src, C.ulong(len(b)), (*C.uchar)(unsafe.Pointer(&pix[0])), cw, ch, &msg[0], C.int(len(msg))) != 0 {
		return nil, 0, 0, true, fmt.Errorf("libjpeg-turbo: %s", C.GoString(&msg[0]))
	}
	return pix, w, h, true, nil
}

//go:build !(libjpeg && cgo)

package data

// FastJPEG reports whether JPEGs are decoded by libjpeg-turbo (the libjpeg build tag; see
// jpeg_turbo.go). In this build image/jpeg decodes them.
const FastJPEG = false

func turboDecode([]byte) ([]uint8, int, int, bool, error) { return nil, 0, 0, false, nil }

package data

import (
	"fmt"
	"os"
)

// NPYImages is a pool of uint8 images stored in a .npy file of shape
// (N, H, W, C) or (N, H, W), such as TI-300K (300K_random_images.npy,
// (300000, 32, 32, 3)). The file is memory-mapped where the platform allows
// (read with pread otherwise), so the pool is never copied into the heap:
// npyio parses the header, and the data region is mapped at the offset that
// readNPYHeader counts (npyio reads whole arrays only).
type NPYImages struct {
	path       string
	n, h, w, c int
	f          *os.File
	mapped     []byte // whole file when memory-mapped
	offset     int64
}

// OpenNPYImages opens a uint8 image array stored as .npy.
func OpenNPYImages(path string) (*NPYImages, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	hdr, err := readNPYHeader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("npy: %s: %w", path, err)
	}
	m := &NPYImages{path: path, f: f, offset: hdr.Offset}
	shape := hdr.Descr.Shape
	switch {
	case hdr.DType != "u1":
		err = fmt.Errorf("npy: %s: dtype %s, want uint8 (|u1) images", path, hdr.DType)
	case hdr.Descr.Fortran:
		err = fmt.Errorf("npy: %s: Fortran order, want C order (N, H, W, C)", path)
	case len(shape) == 4:
		m.n, m.h, m.w, m.c = shape[0], shape[1], shape[2], shape[3]
	case len(shape) == 3:
		m.n, m.h, m.w, m.c = shape[0], shape[1], shape[2], 1
	default:
		err = fmt.Errorf("npy: %s: shape %v, want (N, H, W, C) or (N, H, W)", path, shape)
	}
	if err == nil {
		var st os.FileInfo
		st, err = f.Stat()
		if err == nil {
			want := hdr.Offset + hdr.DataBytes()
			if st.Size() != want {
				err = fmt.Errorf("npy: %s: shape %v needs %d bytes (header %d + data %d), file has %d",
					path, shape, want, hdr.Offset, hdr.DataBytes(), st.Size())
			} else if st.Size() > 0 {
				m.mapped, _ = mmapFile(f, st.Size()) // on failure, fall back to pread
			}
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return m, nil
}

// Len returns the number of images.
func (m *NPYImages) Len() int { return m.n }

// Dims returns the image height, width and channels.
func (m *NPYImages) Dims() (h, w, c int) { return m.h, m.w, m.c }

// Image copies image i into dst.
func (m *NPYImages) Image(i int, dst []uint8) error {
	if i < 0 || i >= m.n {
		return fmt.Errorf("npy: %s: image %d out of range [0, %d)", m.path, i, m.n)
	}
	size := m.h * m.w * m.c
	if len(dst) < size {
		return fmt.Errorf("npy: image buffer of %d bytes, want %d", len(dst), size)
	}
	off := m.offset + int64(i)*int64(size)
	if m.mapped != nil {
		copy(dst[:size], m.mapped[off:off+int64(size)])
		return nil
	}
	_, err := m.f.ReadAt(dst[:size], off)
	if err != nil {
		return fmt.Errorf("npy: %s: image %d: %w", m.path, i, err)
	}
	return nil
}

// Close unmaps and closes the file.
func (m *NPYImages) Close() error {
	if m.mapped != nil {
		munmap(m.mapped)
		m.mapped = nil
	}
	return m.f.Close()
}

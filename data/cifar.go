package data

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// CIFAR binary layout (https://www.cs.toronto.edu/~kriz/cifar.html): each
// record is the label byte(s) followed by 3072 pixel bytes, the 1024 red
// values of the 32x32 image in row-major order, then green, then blue.
const (
	cifarSide   = 32
	cifarPixels = cifarSide * cifarSide * 3
)

// CIFAR-10 and CIFAR-100 file names inside the publishers' archives.
var (
	cifar10Dir   = "cifar-10-batches-bin"
	cifar10Train = []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}
	cifar10Test  = []string{"test_batch.bin"}
	cifar100Dir  = "cifar-100-binary"
)

func cifarFiles(name, dir, split string) ([]string, error) {
	var files []string
	switch name {
	case "cifar10":
		names := map[string][]string{"train": cifar10Train, "test": cifar10Test}[split]
		for _, f := range names {
			files = append(files, filepath.Join(dir, cifar10Dir, f))
		}
	case "cifar100":
		if split == "train" || split == "test" {
			files = []string{filepath.Join(dir, cifar100Dir, split+".bin")}
		}
	}
	if files == nil {
		return nil, fmt.Errorf("%s: split %q: want train or test", name, split)
	}
	return files, nil
}

// ReadCIFAR10 reads split "train" (data_batch_1..5.bin, 50,000 images) or
// "test" (test_batch.bin, 10,000 images) from dir/cifar-10-batches-bin.
func ReadCIFAR10(dir, split string) (*Images, error) {
	files, err := cifarFiles("cifar10", dir, split)
	if err != nil {
		return nil, err
	}
	return readCIFARFiles(files, 1, 0, 10)
}

// ReadCIFAR100 reads split "train" or "test" from dir/cifar-100-binary with
// the 100 fine labels.
func ReadCIFAR100(dir, split string) (*Images, error) {
	files, err := cifarFiles("cifar100", dir, split)
	if err != nil {
		return nil, err
	}
	return readCIFARFiles(files, 2, 1, 100)
}

// ReadCIFARFile reads one CIFAR binary file whose records carry labelBytes
// label bytes (1 for CIFAR-10, 2 for CIFAR-100); the label kept is byte
// labelIndex, and it must be below numClasses.
func ReadCIFARFile(path string, labelBytes, labelIndex, numClasses int) (*Images, error) {
	return readCIFARFiles([]string{path}, labelBytes, labelIndex, numClasses)
}

func readCIFARFiles(files []string, labelBytes, labelIndex, numClasses int) (*Images, error) {
	rec := labelBytes + cifarPixels
	total := 0
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("cifar: %w", err)
		}
		if st.Size()%int64(rec) != 0 || st.Size() == 0 {
			return nil, fmt.Errorf("cifar: %s: %d bytes, want a positive multiple of the %d-byte record (%d label byte(s) + 3072 pixels)",
				f, st.Size(), rec, labelBytes)
		}
		total += int(st.Size() / int64(rec))
	}
	out := NewImages(total, cifarSide, cifarSide, 3, true)
	buf := make([]byte, rec)
	n := 0
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, fmt.Errorf("cifar: %w", err)
		}
		br := bufio.NewReaderSize(fh, 1<<20)
		for k := 0; ; k++ {
			if _, err := io.ReadFull(br, buf); err == io.EOF {
				break
			} else if err != nil {
				fh.Close()
				return nil, fmt.Errorf("cifar: %s: record %d: %w", f, k, err)
			}
			if n >= total {
				fh.Close()
				return nil, fmt.Errorf("cifar: %s: file grew while reading", f)
			}
			lab := int(buf[labelIndex])
			if lab >= numClasses {
				fh.Close()
				return nil, fmt.Errorf("cifar: %s: record %d: label %d, want 0..%d (is this the right CIFAR variant?)", f, k, lab, numClasses-1)
			}
			out.Labels[n] = int32(lab)
			planarToHWC(out.At(n), buf[labelBytes:], cifarSide, cifarSide, 3)
			n++
		}
		fh.Close()
	}
	return out, nil
}

// WriteCIFAR writes m (32x32x3 images) as a CIFAR binary file: CIFAR-10
// records (label, pixels) when coarse is nil, else CIFAR-100 records
// (coarse label, fine label = m.Labels, pixels).
func WriteCIFAR(path string, m *Images, coarse []int32) error {
	if m.H != cifarSide || m.W != cifarSide || m.C != 3 || m.Labels == nil {
		return fmt.Errorf("cifar: %s: images %dx%dx%d (labelled %v), want labelled 32x32x3", path, m.H, m.W, m.C, m.Labels != nil)
	}
	if coarse != nil && len(coarse) != m.N {
		return fmt.Errorf("cifar: %s: %d coarse labels for %d images", path, len(coarse), m.N)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	rec := make([]byte, 0, 2+cifarPixels)
	planar := make([]byte, cifarPixels)
	for i := range m.N {
		rec = rec[:0]
		if coarse != nil {
			rec = append(rec, byte(coarse[i]))
		}
		rec = append(rec, byte(m.Labels[i]))
		hwcToPlanar(planar, m.At(i), cifarSide, cifarSide, 3)
		rec = append(rec, planar...)
		if _, err := bw.Write(rec); err != nil {
			f.Close()
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

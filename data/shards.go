package data

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"image"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oodlab/dos/internal/atomicfile"
)

// Packed shards: an image-folder data set written once into a few large files, so that
// training opens a handful of files instead of one per image (1.28 million for ImageNet-1K)
// and reads each image with one positioned read.
//
// Layout, under DIR/packed/<set>/:
//
//	<split>-00000.tar, <split>-00001.tar, ...   the shards
//	<split>.json                                 the index, written last (its presence marks a complete pack)
//
// Each shard is a POSIX tar file in the WebDataset convention: record k is the member
// "<key>.<ext>" holding the original file's bytes (JPEG or PNG, not re-encoded, so decoding
// and every transform give exactly what the image folder gives), followed by "<key>.cls"
// holding its class index as decimal text; key is the record number and the original path.
// Any tar tool lists and extracts a shard, and WebDataset reads it. The index holds, per
// shard, its size and SHA-256; per record, its shard, the byte offset and length of the image
// bytes, its label, its CRC-32C and the original file name; and the set's class list (the
// synsets in label order) and test transform.
//
// Reading checks each shard's size and tar header when the set is opened, and each record's
// CRC-32C on every read; VerifyShards checks the SHA-256 of whole shards (tools/data inspect).
// Records are read by offset, so any visiting order (the per-epoch permutations of the
// training loaders) costs one positioned read per image; pools are packed in their fixed
// shuffled order, so the contiguous windows of the epoch samplers read forward through a shard.

// ShardFormat names this layout in the index.
const ShardFormat = "dos-shards/1"

// DefaultShardBytes is the target size of one shard (the last is smaller).
const DefaultShardBytes = 1 << 30

// ShardIndex is the JSON index of a packed split.
type ShardIndex struct {
	Format    string       `json:"format"`
	Set       string       `json:"set"`
	Split     string       `json:"split"`
	Created   string       `json:"created"`
	Classes   []string     `json:"classes,omitempty"`
	Transform Transform    `json:"transform"`
	Shards    []ShardEntry `json:"shards"`
	Records   ShardRecords `json:"records"`
}

// ShardEntry describes one shard file.
type ShardEntry struct {
	File   string `json:"file"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Count  int    `json:"count"`
}

// ShardRecords holds one column per field, one row per image.
type ShardRecords struct {
	Shard  []int32  `json:"shard"`
	Offset []int64  `json:"offset"`
	Size   []int32  `json:"size"`
	Label  []int32  `json:"label"`
	CRC32C []uint32 `json:"crc32c"`
	Name   []string `json:"name"`
}

// Len returns the number of records.
func (r *ShardRecords) Len() int { return len(r.Offset) }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// PackedDir is where data set set's packed shards live under the data directory dir.
func PackedDir(dir, set string) string { return filepath.Join(dir, "packed", set) }

func shardIndexPath(dir, set, split string) string {
	return filepath.Join(PackedDir(dir, set), split+".json")
}

// Packed reports whether split of set has a complete pack under dir.
func Packed(dir, set, split string) bool { return fileExists(shardIndexPath(dir, set, split)) }

// PackOptions tunes Pack.
type PackOptions struct {
	// ShardBytes is the target shard size (0: DefaultShardBytes).
	ShardBytes int64
	// Progress, when set, is called after each record with the records done and the total.
	Progress func(done, total int)
}

// Pack writes split of the image-folder set src (as data.Open gives it) into shards under
// PackedDir(dir, set), then writes the index. Shards are written to temporary names and renamed
// when complete (atomicfile); the index goes last, so an interrupted pack leaves no index and
// is redone.
func Pack(ctx context.Context, src *FolderImages, dir, set, split string, opt PackOptions) (*ShardIndex, error) {
	if opt.ShardBytes <= 0 {
		opt.ShardBytes = DefaultShardBytes
	}
	out := PackedDir(dir, set)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("pack %s: %w", set, err)
	}
	idx := &ShardIndex{Format: ShardFormat, Set: set, Split: split, Created: time.Now().UTC().Format(time.RFC3339),
		Classes: src.Classes, Transform: src.Transform}
	n := src.Len()
	labels := src.Labels()
	r := &idx.Records
	for i := 0; i < n; {
		e := ShardEntry{File: fmt.Sprintf("%s-%05d.tar", split, len(idx.Shards))}
		path := filepath.Join(out, e.File)
		var recErr error // a record's error, returned as it is
		fail := func(err error) error {
			recErr = err
			return err
		}
		err := atomicfile.WriteFunc(path, func(w io.Writer) error {
			hw := &hashWriter{w: w, h: sha256.New()}
			tw := tar.NewWriter(hw)
			for ; i < n; i++ {
				if i%256 == 0 {
					if err := ctx.Err(); err != nil {
						return fail(fmt.Errorf("pack %s %s: stopped at image %d of %d: %w", set, split, i, n, err))
					}
				}
				if hw.n >= opt.ShardBytes {
					break
				}
				file := src.Files[i]
				b, err := os.ReadFile(file)
				if err != nil {
					return fail(fmt.Errorf("pack %s %s: %w", set, split, err))
				}
				if _, _, err := image.DecodeConfig(bytes.NewReader(b)); err != nil {
					return fail(fmt.Errorf("pack %s %s: %s: not a readable image: %w", set, split, file, err))
				}
				name := file
				if rel, err := filepath.Rel(src.Root, file); err == nil && src.Root != "" {
					name = rel
				}
				off, err := addRecord(tw, hw, i, name, b, labels[i])
				if err != nil {
					return fail(fmt.Errorf("pack %s %s: %s: %w", set, split, path, err))
				}
				r.Shard = append(r.Shard, int32(len(idx.Shards)))
				r.Offset = append(r.Offset, off)
				r.Size = append(r.Size, int32(len(b)))
				r.Label = append(r.Label, labels[i])
				r.CRC32C = append(r.CRC32C, crc32.Checksum(b, castagnoli))
				r.Name = append(r.Name, name)
				e.Count++
				if opt.Progress != nil {
					opt.Progress(i+1, n)
				}
			}
			if err := tw.Close(); err != nil {
				return err
			}
			e.Size, e.SHA256 = hw.n, hex.EncodeToString(hw.h.Sum(nil))
			return nil
		})
		if recErr != nil {
			return nil, recErr
		}
		if err != nil {
			return nil, fmt.Errorf("pack %s %s: %w", set, split, err)
		}
		idx.Shards = append(idx.Shards, e)
	}
	js, err := json.Marshal(idx)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(shardIndexPath(dir, set, split), js); err != nil {
		return nil, fmt.Errorf("pack %s %s: index: %w", set, split, err)
	}
	return idx, nil
}

// hashWriter passes writes on to w, hashing and counting them.
type hashWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (h *hashWriter) Write(p []byte) (int, error) {
	h.h.Write(p)
	n, err := h.w.Write(p)
	h.n += int64(n)
	return n, err
}

// addRecord writes record i (the image bytes, then its label) to a shard's tar writer, whose
// output hw counts, and returns the offset of the image bytes in the shard.
func addRecord(tw *tar.Writer, hw *hashWriter, i int, name string, b []byte, label int32) (int64, error) {
	key := fmt.Sprintf("%08d", i)
	ext := strings.ToLower(filepath.Ext(name))
	base := strings.TrimSuffix(filepath.ToSlash(name), filepath.Ext(name))
	// The key keeps the original path without its extension (WebDataset groups members by the
	// part of the name before the first dot of the last path element).
	base = strings.ReplaceAll(base, ".", "_")
	hdr := &tar.Header{Name: key + "/" + base + ext, Mode: 0o644, Size: int64(len(b)), ModTime: time.Unix(0, 0)}
	if err := tw.WriteHeader(hdr); err != nil { // the header blocks are written at once
		return 0, err
	}
	off := hw.n
	if _, err := tw.Write(b); err != nil {
		return 0, err
	}
	cls := []byte(strconv.Itoa(int(label)))
	if err := tw.WriteHeader(&tar.Header{Name: key + "/" + base + ".cls", Mode: 0o644, Size: int64(len(cls)), ModTime: time.Unix(0, 0)}); err != nil {
		return 0, err
	}
	if _, err := tw.Write(cls); err != nil {
		return 0, err
	}
	return off, tw.Flush()
}

// ShardError is a problem with a packed set's files; Path names the file.
type ShardError struct {
	Path string
	Msg  string
}

func (e *ShardError) Error() string {
	return fmt.Sprintf("packed shards: %s: %s (pack the set again: go run ./tools/data pack SET)", e.Path, e.Msg)
}

// ShardImages is a packed split: a RawSource (and Source) whose images are read from shards.
type ShardImages struct {
	dir   string
	Index *ShardIndex
	files []*os.File
	h, w  int
}

// OpenShards opens the packed split of set under the data directory dir: the index is read
// and checked, and each shard's size and first tar header are checked.
func OpenShards(dir, set, split string) (*ShardImages, error) {
	ip := shardIndexPath(dir, set, split)
	b, err := os.ReadFile(ip)
	if err != nil {
		return nil, err
	}
	idx := &ShardIndex{}
	if err := json.Unmarshal(b, idx); err != nil {
		return nil, &ShardError{ip, "unreadable index: " + err.Error()}
	}
	if err := idx.check(); err != nil {
		return nil, &ShardError{ip, err.Error()}
	}
	if idx.Set != set || idx.Split != split {
		return nil, &ShardError{ip, fmt.Sprintf("index of %s %s, want %s %s", idx.Set, idx.Split, set, split)}
	}
	s := &ShardImages{dir: PackedDir(dir, set), Index: idx, h: idx.Transform.CropH, w: idx.Transform.CropW}
	for _, e := range idx.Shards {
		p := filepath.Join(s.dir, e.File)
		f, err := os.Open(p)
		if err != nil {
			s.Close()
			return nil, &ShardError{p, "missing shard: " + err.Error()}
		}
		s.files = append(s.files, f)
		st, err := f.Stat()
		if err != nil {
			s.Close()
			return nil, &ShardError{p, err.Error()}
		}
		if st.Size() != e.Size {
			s.Close()
			what := "truncated"
			if st.Size() > e.Size {
				what = "longer than written"
			}
			return nil, &ShardError{p, fmt.Sprintf("%s: %d bytes, the index says %d", what, st.Size(), e.Size)}
		}
		var hdr [512]byte
		if _, err := f.ReadAt(hdr[:], 0); err != nil || !isTarHeader(hdr[:]) {
			s.Close()
			return nil, &ShardError{p, "not a tar shard (no valid tar header at byte 0)"}
		}
	}
	return s, nil
}

// isTarHeader checks the magic and the header checksum of a tar header block.
func isTarHeader(h []byte) bool {
	if string(h[257:262]) != "ustar" {
		return false
	}
	want, err := strconv.ParseInt(strings.Trim(string(h[148:156]), " \x00"), 8, 64)
	if err != nil {
		return false
	}
	sum := int64(0)
	for i, c := range h {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int64(c)
	}
	return sum == want
}

func (idx *ShardIndex) check() error {
	if idx.Format != ShardFormat {
		return fmt.Errorf("format %q, want %q", idx.Format, ShardFormat)
	}
	r := &idx.Records
	n := r.Len()
	if len(r.Shard) != n || len(r.Size) != n || len(r.Label) != n || len(r.CRC32C) != n || len(r.Name) != n {
		return fmt.Errorf("record columns of unequal lengths")
	}
	if idx.Transform.CropH <= 0 || idx.Transform.CropW <= 0 {
		return fmt.Errorf("transform %+v has no crop", idx.Transform)
	}
	counts := make([]int, len(idx.Shards))
	for k := range n {
		s := int(r.Shard[k])
		if s < 0 || s >= len(idx.Shards) || r.Offset[k] < 0 || r.Size[k] < 0 || r.Offset[k]+int64(r.Size[k]) > idx.Shards[s].Size {
			return fmt.Errorf("record %d points outside its shard", k)
		}
		counts[s]++
	}
	for s, e := range idx.Shards {
		if counts[s] != e.Count {
			return fmt.Errorf("shard %s: %d records, the index lists %d", e.File, e.Count, counts[s])
		}
	}
	return nil
}

// Len returns the number of images.
func (s *ShardImages) Len() int { return s.Index.Records.Len() }

// Dims returns the size of the images Image gives (the set's test transform), 3 channels.
func (s *ShardImages) Dims() (h, w, c int) { return s.h, s.w, 3 }

// Labels returns the class index of every image.
func (s *ShardImages) Labels() []int32 { return s.Index.Records.Label }

// Bytes returns record i's stored file bytes after checking its CRC-32C.
func (s *ShardImages) Bytes(i int) ([]byte, error) {
	r := &s.Index.Records
	if i < 0 || i >= r.Len() {
		return nil, fmt.Errorf("packed shards %s: image %d out of range [0, %d)", s.dir, i, r.Len())
	}
	sh := r.Shard[i]
	b := make([]byte, r.Size[i])
	path := filepath.Join(s.dir, s.Index.Shards[sh].File)
	if _, err := s.files[sh].ReadAt(b, r.Offset[i]); err != nil {
		return nil, &ShardError{path, fmt.Sprintf("record %d (%s): %v", i, r.Name[i], err)}
	}
	if got := crc32.Checksum(b, castagnoli); got != r.CRC32C[i] {
		return nil, &ShardError{path, fmt.Sprintf("record %d (%s) fails its checksum: CRC-32C %08x, the index says %08x; the shard is damaged", i, r.Name[i], got, r.CRC32C[i])}
	}
	return b, nil
}

// Raw decodes record i as stored (RawSource).
func (s *ShardImages) Raw(i int) ([]uint8, int, int, error) {
	b, err := s.Bytes(i)
	if err != nil {
		return nil, 0, 0, err
	}
	return decodeRGB(b, filepath.Join(s.dir, s.Index.Records.Name[i]))
}

// Image decodes record i and applies the set's test transform.
func (s *ShardImages) Image(i int, dst []uint8) error {
	pix, w, h, err := s.Raw(i)
	if err != nil {
		return err
	}
	pix, w, h = s.Index.Transform.Apply(pix, w, h, 3)
	if w != s.w || h != s.h {
		return fmt.Errorf("packed shards %s: record %d is %dx%d after the transform, want %dx%d", s.dir, i, w, h, s.w, s.h)
	}
	copy(dst, pix)
	return nil
}

// Close closes the shard files.
func (s *ShardImages) Close() error {
	var errs []error
	for _, f := range s.files {
		errs = append(errs, f.Close())
	}
	s.files = nil
	return errors.Join(errs...)
}

// VerifyShards computes the SHA-256 of every shard of split of set, in parallel over workers
// goroutines, and returns one error per shard that differs from its index entry.
func VerifyShards(ctx context.Context, dir, set, split string, workers int) ([]error, error) {
	s, err := OpenShards(dir, set, split)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	errs := make([]error, len(s.Index.Shards))
	var wg sync.WaitGroup
	next := make(chan int)
	for range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				e := s.Index.Shards[k]
				p := filepath.Join(s.dir, e.File)
				h := sha256.New()
				if _, err := io.Copy(h, io.NewSectionReader(s.files[k], 0, e.Size)); err != nil {
					errs[k] = &ShardError{p, err.Error()}
					continue
				}
				if got := hex.EncodeToString(h.Sum(nil)); got != e.SHA256 {
					errs[k] = &ShardError{p, fmt.Sprintf("checksum mismatch: SHA-256 %s, the index says %s", got, e.SHA256)}
				}
			}
		}()
	}
	for k := range s.Index.Shards {
		if ctx.Err() != nil {
			break
		}
		next <- k
	}
	close(next)
	wg.Wait()
	var out []error
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	return out, ctx.Err()
}

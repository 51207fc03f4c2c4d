package data

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Download is one file published for a data set.
type Download struct {
	// Set is the registry name of the data set.
	Set string
	// URL is the publisher's address.
	URL string
	// Dest is the folder under the data directory that receives the file,
	// or the archive's contents when Extract is set ("" = the data
	// directory itself).
	Dest string
	// Extract unpacks a .tar, .tar.gz/.tgz or .zip archive into Dest.
	Extract bool
	// MD5 and SHA256 are the expected digests (hex); either may be empty.
	MD5, SHA256 string
	// ChecksumSource says where the digest comes from.
	ChecksumSource string
}

// File returns the file name of the download (the last element of URL).
func (d Download) File() string { return path.Base(d.URL) }

// Downloads returns the table of every publisher file the fetch command
// knows, with checksums and where each checksum was taken from. This is the
// one place where data-set addresses and digests live.
func Downloads() []Download {
	const (
		kriz        = "publisher's page https://www.cs.toronto.edu/~kriz/cifar.html"
		methodDoc   = "docs/method.md section 7 (md5 of the file the DOS/Energy authors published)"
		tvSVHN      = "torchvision/datasets/svhn.py split_list (the publisher gives none)"
		tvDTD       = "torchvision/datasets/dtd.py _MD5"
		tvFashion   = "torchvision/datasets/mnist.py FashionMNIST.resources"
		pytorchOOD  = "pytorch-ood, src/pytorch_ood/dataset/img/odin.py (ODIN gives none)"
		noneKnown   = "none published; the verified digest is recorded on first fetch"
		fashionBase = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
	)
	return []Download{
		{Set: "cifar10", URL: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", Extract: true,
			MD5: "c32a1d4ab5d03f1284b67883e8d87530", ChecksumSource: kriz},
		{Set: "cifar100", URL: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz", Extract: true,
			MD5: "03b5dce01913d631647c71ecec9e9cb8", ChecksumSource: kriz},
		{Set: "ti300k", URL: "https://people.eecs.berkeley.edu/~hendrycks/300K_random_images.npy",
			MD5: "64ca64357de98351f28454274a112dc3", ChecksumSource: methodDoc},
		{Set: "svhn", URL: "http://ufldl.stanford.edu/housenumbers/test_32x32.mat", Dest: "svhn",
			MD5: "eb5a983be6a315427106f1b164d9cef3", ChecksumSource: tvSVHN},
		{Set: "textures", URL: "https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz", Extract: true,
			MD5: "fff73e5086ae6bdbea199a49dfb8a4c1", ChecksumSource: tvDTD},
		{Set: "places365", URL: "http://data.csail.mit.edu/places/places365/test_256.tar", Dest: "places365", Extract: true,
			ChecksumSource: noneKnown},
		{Set: "places365", URL: "https://raw.githubusercontent.com/jfc43/informative-outlier-mining/master/datasets/ood_datasets/places365/test_subset/places365_test_list.txt",
			Dest: "places365", ChecksumSource: noneKnown + " (the fixed 10,000-image list of the NTOM repository)"},
		{Set: "lsun-c", URL: "https://www.dropbox.com/s/fhtsw1m3qxlwj6h/LSUN.tar.gz?dl=1", Extract: true,
			MD5: "458a0a0ab8e5f1cb4516d7400568e460", ChecksumSource: pytorchOOD},
		{Set: "lsun-r", URL: "https://www.dropbox.com/s/moqh2wh8696c3yl/LSUN_resize.tar.gz?dl=1", Extract: true,
			MD5: "278b7b31c8cb7e804a1465a8ce03a2dc", ChecksumSource: pytorchOOD},
		{Set: "isun", URL: "https://www.dropbox.com/s/ssz7qxfqae0cca5/iSUN.tar.gz?dl=1", Extract: true,
			ChecksumSource: noneKnown},
		{Set: "fashion-mnist", URL: fashionBase + "train-images-idx3-ubyte.gz", Dest: "fashion-mnist",
			MD5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d", ChecksumSource: tvFashion},
		{Set: "fashion-mnist", URL: fashionBase + "train-labels-idx1-ubyte.gz", Dest: "fashion-mnist",
			MD5: "25c81989df183df01b3e8a0aad5dffbe", ChecksumSource: tvFashion},
		{Set: "fashion-mnist", URL: fashionBase + "t10k-images-idx3-ubyte.gz", Dest: "fashion-mnist",
			MD5: "bef4ecab320f06d8554ea6380940ec79", ChecksumSource: tvFashion},
		{Set: "fashion-mnist", URL: fashionBase + "t10k-labels-idx1-ubyte.gz", Dest: "fashion-mnist",
			MD5: "bb300cfdad3c16e7a12a480ee83cd310", ChecksumSource: tvFashion},
	}
}

// ErrManual marks data sets that cannot be downloaded automatically (licence
// or login required); the error text says what to place where.
var ErrManual = errors.New("manual download required")

// Fetcher downloads, verifies and unpacks data sets into Dir.
type Fetcher struct {
	// Dir is the data directory.
	Dir string
	// BaseURL, when set, replaces the publisher's address: file F is
	// fetched from BaseURL + "/" + F (used by tests and mirrors).
	BaseURL string
	// Client is the HTTP client (http.DefaultClient when nil).
	Client *http.Client
	// Progress receives a progress bar with bytes and rate (none when nil).
	Progress io.Writer
}

// stateDir holds partial downloads, markers of verified sets, and the
// quarantine.
func (f *Fetcher) stateDir() string { return filepath.Join(f.Dir, ".fetch") }

func (f *Fetcher) url(d Download) string {
	if f.BaseURL == "" {
		return d.URL
	}
	return strings.TrimSuffix(f.BaseURL, "/") + "/" + strings.SplitN(d.File(), "?", 2)[0]
}

func fileName(d Download) string { return strings.SplitN(d.File(), "?", 2)[0] }

// Fetch makes data set name present and verified in Dir. A download whose
// verified marker exists, and whose files are present, is not fetched again.
func (f *Fetcher) Fetch(ctx context.Context, name string) error {
	spec, err := Lookup(name)
	if err != nil {
		return err
	}
	if spec.Manual != "" {
		return fmt.Errorf("%s: %w: %s", name, ErrManual, spec.Manual)
	}
	var ds []Download
	for _, d := range Downloads() {
		if d.Set == name {
			ds = append(ds, d)
		}
	}
	if len(ds) == 0 {
		return fmt.Errorf("%s: nothing to fetch (%s)", name, spec.Note)
	}
	allVerified := true
	for _, d := range ds {
		allVerified = allVerified && f.Verified(d)
	}
	if allVerified && len(Missing(name, f.Dir)) == 0 {
		return nil // idempotent: already fetched and verified
	}
	if allVerified {
		// Verified once, but files were removed since: fetch everything again.
		for _, d := range ds {
			os.Remove(f.marker(d))
		}
	}
	for _, d := range ds {
		if err := f.fetchOne(ctx, d); err != nil {
			return err
		}
	}
	if miss := Missing(name, f.Dir); len(miss) > 0 {
		return fmt.Errorf("%s: fetched and verified, but still missing: %s", name, strings.Join(miss, "; "))
	}
	return nil
}

func (f *Fetcher) marker(d Download) string {
	return filepath.Join(f.stateDir(), fileName(d)+".verified")
}

// Verified reports whether download d has been fetched and verified.
func (f *Fetcher) Verified(d Download) bool { return fileExists(f.marker(d)) }

func (f *Fetcher) fetchOne(ctx context.Context, d Download) error {
	name := fileName(d)
	if f.Verified(d) {
		return nil
	}
	if err := os.MkdirAll(f.stateDir(), 0o755); err != nil {
		return err
	}
	part := filepath.Join(f.stateDir(), name+".part")
	if err := f.download(ctx, f.url(d), part, name); err != nil {
		return err
	}
	sum, err := verifyFile(part, d)
	if err != nil {
		return fmt.Errorf("%s: %s: %w; the download was moved to %s and nothing was extracted", d.Set, name, err, f.quarantine(part, name))
	}
	dest := filepath.Join(f.Dir, d.Dest)
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	if d.Extract {
		if err := extractArchive(part, name, dest, filepath.Join(f.stateDir(), "unpack-"+name)); err != nil {
			if ce := (*CorruptError)(nil); errors.As(err, &ce) {
				// Resuming would fetch nothing and fail the same way.
				return fmt.Errorf("%s: %s: %w; the download was moved to %s and nothing was extracted", d.Set, name, err, f.quarantine(part, name))
			}
			return fmt.Errorf("%s: %s: %w", d.Set, name, err)
		}
		os.Remove(part)
	} else if err := os.Rename(part, filepath.Join(dest, name)); err != nil {
		return err
	}
	return os.WriteFile(f.marker(d), []byte(sum+"  "+name+"\n"), 0o644)
}

// quarantine moves a bad download out of the way, so that the next fetch
// starts afresh, and returns where it went.
func (f *Fetcher) quarantine(part, name string) string {
	q := filepath.Join(f.stateDir(), "quarantine")
	os.MkdirAll(q, 0o755)
	bad := filepath.Join(q, fmt.Sprintf("%s.%s.bad", name, time.Now().UTC().Format("20060102T150405")))
	if err := os.Rename(part, bad); err != nil {
		os.Remove(part)
		return "(deleted)"
	}
	return bad
}

// download fetches url into part, resuming from part's current size with an
// HTTP Range request.
func (f *Fetcher) download(ctx context.Context, url, part, label string) error {
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	var have int64
	if st, err := os.Stat(part); err == nil {
		have = st.Size()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	flags := os.O_CREATE | os.O_WRONLY
	total := resp.ContentLength
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		flags |= os.O_APPEND
		if total >= 0 {
			total += have
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
		return nil // already complete; the checksum decides
	case resp.StatusCode == http.StatusOK:
		flags |= os.O_TRUNC
		have = 0
	default:
		return fmt.Errorf("fetch %s: HTTP status %s, want 200 or 206", url, resp.Status)
	}
	out, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return err
	}
	var w io.Writer = out
	var bar *progressbar.ProgressBar
	if f.Progress != nil {
		bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(f.Progress),
			progressbar.OptionSetDescription(label),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionSetWidth(20),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(f.Progress) }),
		)
		bar.Set64(have)
		w = io.MultiWriter(out, bar)
	}
	_, cerr := io.Copy(w, resp.Body)
	if bar != nil {
		bar.Finish()
	}
	if err := out.Close(); err != nil && cerr == nil {
		cerr = err
	}
	if cerr != nil {
		return fmt.Errorf("fetch %s: interrupted (%v); run the command again to resume from the partial file %s", url, cerr, part)
	}
	return nil
}

// verifyFile checks the digests of d and returns the digest line to record.
func verifyFile(p string, d Download) (string, error) {
	fh, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	hm, hs := md5.New(), sha256.New()
	if _, err := io.Copy(io.MultiWriter(hm, hs), bufio.NewReaderSize(fh, 1<<20)); err != nil {
		return "", err
	}
	gotMD5, gotSHA := hex.EncodeToString(hm.Sum(nil)), hex.EncodeToString(hs.Sum(nil))
	check := func(kind, want, got string) error {
		if want != "" && !strings.EqualFold(want, got) {
			return fmt.Errorf("checksum mismatch: want %s %s (from %s), got %s", kind, want, d.ChecksumSource, got)
		}
		return nil
	}
	if err := check("md5", d.MD5, gotMD5); err != nil {
		return "", err
	}
	if err := check("sha256", d.SHA256, gotSHA); err != nil {
		return "", err
	}
	return "md5:" + gotMD5 + " sha256:" + gotSHA, nil
}

// safeJoin joins an archive member name to root, refusing names that are
// absolute or climb out of root.
func safeJoin(root, name string) (string, error) {
	clean := filepath.Clean(filepath.FromSlash(name))
	if filepath.IsAbs(clean) || strings.HasPrefix(name, "/") || clean == ".." ||
		strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("archive member %q escapes the destination directory", name)
	}
	return filepath.Join(root, clean), nil
}

// extractArchive unpacks archive into the staging folder tmp and, only when
// every member was unpacked, moves the top-level entries into dest. A failed
// extraction leaves nothing in dest.
func extractArchive(archive, name, dest, tmp string) error {
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var err error
	switch lower := strings.ToLower(name); {
	case strings.HasSuffix(lower, ".zip"):
		err = extractZip(archive, tmp)
	case strings.HasSuffix(lower, ".tar.gz"), strings.HasSuffix(lower, ".tgz"), strings.HasSuffix(lower, ".tar"):
		err = extractTar(archive, tmp, !strings.HasSuffix(lower, ".tar"))
	default:
		err = fmt.Errorf("unknown archive type, want .tar, .tar.gz, .tgz or .zip")
	}
	if err != nil {
		return err
	}
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	for _, e := range ents {
		target := filepath.Join(dest, e.Name())
		os.RemoveAll(target) // replace an unverified earlier copy
		if err := os.Rename(filepath.Join(tmp, e.Name()), target); err != nil {
			return err
		}
	}
	return nil
}

// extractTar unpacks a tar archive, gzipped when gz is set. The gzip stream
// is read to its end, past the tar end-of-archive blocks, so that its CRC-32
// and length are checked and trailing garbage is refused.
func extractTar(archive, root string, gz bool) error {
	fh, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer fh.Close()
	var r io.Reader = bufio.NewReaderSize(fh, 1<<20)
	var zc *checked
	if gz {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("want a gzip stream: %w", err)
		}
		defer zr.Close()
		zc = newChecked(zr, "gzip")
		r = zc
	}
	// fail reports err, or the decompressor's error behind it.
	fail := func(member string, err error) error {
		err = zc.explain(err)
		if member != "" {
			return fmt.Errorf("archive member %q: %w", member, err)
		}
		return err
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			if zc != nil {
				if _, err := zc.drain(); err != nil {
					return fmt.Errorf("after the last member: %w", err)
				}
			}
			return nil
		}
		if err != nil {
			return fail("", fmt.Errorf("reading tar: %w", err))
		}
		target, err := safeJoin(root, h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := writeMember(target, tr); err != nil {
				return fail(h.Name, err)
			}
		case tar.TypeSymlink, tar.TypeLink:
			return fmt.Errorf("archive member %q is a link to %q; links are refused", h.Name, h.Linkname)
		default:
			// Skip PAX headers and other entries that carry no file data.
		}
	}
}

// extractZip unpacks a zip archive; each member is read to its end, where
// the zip reader checks its CRC-32 and size.
func extractZip(archive, root string) error {
	zr, err := zip.OpenReader(archive)
	if err != nil {
		return fmt.Errorf("want a zip archive: %w", err)
	}
	defer zr.Close()
	for _, zf := range zr.File {
		target, err := safeJoin(root, zf.Name)
		if err != nil {
			return err
		}
		if zf.FileInfo().IsDir() {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			continue
		}
		if zf.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("archive member %q is a link; links are refused", zf.Name)
		}
		rc, err := zf.Open()
		if err != nil {
			return fmt.Errorf("archive member %q: %w", zf.Name, err)
		}
		zc := newChecked(rc, "zip")
		err = writeMember(target, zc)
		rc.Close()
		err = zc.explain(err)
		if err != nil {
			return fmt.Errorf("archive member %q: %w", zf.Name, err)
		}
	}
	return nil
}

func writeMember(target string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	out, err := os.Create(target)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// FileChecksum returns the hex digest ("md5" or "sha256") of a file.
func FileChecksum(p, kind string) (string, error) {
	var h hash.Hash
	switch kind {
	case "md5":
		h = md5.New()
	case "sha256":
		h = sha256.New()
	default:
		return "", fmt.Errorf("checksum kind %q: want md5 or sha256", kind)
	}
	fh, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	if _, err := io.Copy(h, fh); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

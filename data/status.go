package data

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ChecksumStatus reports the integrity status of data set name in dir:
// "verified" when every published file was verified (at fetch time, or now
// for files kept as published), "mismatch" when a kept file fails its
// digest, "unverified" when files were placed by hand (no marker and no
// kept file to check), and "n/a" for sets with no published files
// (synthetic sets, MNIST from the Go module, whose go.sum already pins it).
// details has one line per published file.
func ChecksumStatus(name, dir string) (status string, details []string) {
	if _, err := Lookup(name); err != nil {
		return "unknown", []string{err.Error()}
	}
	f := &Fetcher{Dir: dir}
	status = "n/a"
	seen := false
	worst := 0 // 0 verified, 1 unverified, 2 mismatch
	for _, d := range Downloads() {
		if d.Set != name {
			continue
		}
		seen = true
		file := fileName(d)
		if f.Verified(d) {
			b, _ := os.ReadFile(f.marker(d))
			details = append(details, fmt.Sprintf("%s: verified at fetch (%s)", file, strings.TrimSpace(string(b))))
			continue
		}
		kept := filepath.Join(dir, d.Dest, file)
		if !d.Extract && fileExists(kept) && d.MD5 != "" {
			got, err := md5File(kept)
			if err != nil {
				details = append(details, fmt.Sprintf("%s: %v", kept, err))
				worst = max(worst, 2)
			} else if got == d.MD5 {
				details = append(details, fmt.Sprintf("%s: md5 %s matches (%s)", kept, got, d.ChecksumSource))
			} else {
				details = append(details, fmt.Sprintf("%s: md5 %s, want %s (%s)", kept, got, d.MD5, d.ChecksumSource))
				worst = max(worst, 2)
			}
			continue
		}
		details = append(details, fmt.Sprintf("%s: unverified (no fetch marker in %s; fetch it to verify the published archive)", file, f.stateDir()))
		worst = max(worst, 1)
	}
	if seen {
		status = []string{"verified", "unverified", "mismatch"}[worst]
	}
	return status, details
}

func md5File(p string) (string, error) {
	fh, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	h := md5.New()
	if _, err := io.Copy(h, fh); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

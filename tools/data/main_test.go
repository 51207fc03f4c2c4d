package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oodlab/dos/data"
	"github.com/oodlab/dos/internal/cli"
)

// TestInspectCIFAR10 writes a CIFAR-10-format directory byte by byte (not
// with the data package's writer), computes the statistics from those bytes,
// and checks what inspect reports.
func TestInspectCIFAR10(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "cifar-10-batches-bin")
	os.MkdirAll(sub, 0o755)
	rng := rand.New(rand.NewPCG(1, 2))
	type acc struct {
		n       int
		hist    [10]int
		sum, sq [3]float64
	}
	stats := map[string]*acc{"train": {}, "test": {}}
	files := map[string]string{"data_batch_1.bin": "train", "data_batch_2.bin": "train", "data_batch_3.bin": "train",
		"data_batch_4.bin": "train", "data_batch_5.bin": "train", "test_batch.bin": "test"}
	for f, split := range files {
		var buf bytes.Buffer
		a := stats[split]
		for range 3 {
			lab := rng.IntN(10)
			buf.WriteByte(byte(lab))
			a.hist[lab]++
			a.n++
			for ch := range 3 { // plane ch holds channel ch
				for range 1024 {
					v := byte(rng.IntN(256) / (ch + 1))
					buf.WriteByte(v)
					a.sum[ch] += float64(v)
					a.sq[ch] += float64(v) * float64(v)
				}
			}
		}
		os.WriteFile(filepath.Join(sub, f), buf.Bytes(), 0o644)
	}
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"inspect", "cifar10", "--dir", dir}, &out, &errb); err != nil {
		t.Fatal(err, errb.String())
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Name != "cifar10" || rep.Shape != [3]int{32, 32, 3} || rep.Checksum != "unverified" {
		t.Fatalf("report header %+v", rep)
	}
	for split, a := range stats {
		s := rep.Splits[split]
		if s.N != a.n {
			t.Fatalf("%s: n %d want %d", split, s.N, a.n)
		}
		for c := range 10 {
			if s.LabelHistogram[c] != a.hist[c] {
				t.Fatalf("%s: histogram %v want %v", split, s.LabelHistogram, a.hist)
			}
		}
		cnt := float64(a.n * 1024)
		for ch := range 3 {
			mean := a.sum[ch] / cnt
			std := math.Sqrt(a.sq[ch]/cnt - mean*mean)
			if math.Abs(s.Mean[ch]-mean) > 1e-9 || math.Abs(s.Std[ch]-std) > 1e-9 {
				t.Fatalf("%s channel %d: mean %v std %v, want %v %v", split, ch, s.Mean[ch], s.Std[ch], mean, std)
			}
		}
	}
	if rep.Splits["train"].Mean[0] < 100 || rep.Splits["train"].Mean[2] > 60 {
		t.Fatalf("channel order looks wrong: %v", rep.Splits["train"].Mean)
	}
	// A bad command line is a usage error (exit status 2), a missing set a
	// failure (1), an interrupted scan exits 130.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		ctx  context.Context
		args []string
		code int
		want string
	}{
		{context.Background(), []string{"inspect", "cifar11", "--dir", dir}, cli.ExitUsage, "cifar11"},
		{context.Background(), []string{"inspect", "--dir", dir}, cli.ExitUsage, "want exactly one data-set name, got 0"},
		{context.Background(), []string{"inspect", "cifar10", "svhn"}, cli.ExitUsage, "want exactly one data-set name, got 2"},
		{context.Background(), []string{"inspect", "cifar10", "--dri", dir}, cli.ExitUsage, "flag provided but not defined: -dri"},
		{context.Background(), []string{"inpsect", "cifar10"}, cli.ExitUsage, usage + "\ndata: want the subcommand inspect or pack\n"},
		{context.Background(), nil, cli.ExitUsage, "want the subcommand inspect or pack"},
		{context.Background(), []string{"pack", "cifar10", "--dir", dir}, cli.ExitFailed, "not an image-folder set"},
		{context.Background(), []string{"pack", "imagenet10", "--shard-size", "0"}, cli.ExitUsage, "--shard-size 0"},
		{context.Background(), []string{"--help"}, cli.ExitOK, "usage: data inspect NAME"},
		{context.Background(), []string{"inspect", "svhn", "--dir", dir}, cli.ExitFailed, "data: svhn: missing"},
		{cancelled, []string{"inspect", "cifar10", "--dir", dir}, cli.ExitInterrupted, "context canceled"},
	} {
		out.Reset()
		errb.Reset()
		code := cli.Report("data", run(c.ctx, c.args, &out, &errb), &errb)
		if code != c.code || !strings.Contains(errb.String(), c.want) || out.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit %d and %q", c.args, code, errb.String(), out.String(), c.code, c.want)
		}
	}
}

// TestImageNet10InspectAndPack: inspect names the missing ImageNet files; pack writes shards
// that inspect then verifies, and a damaged shard is named.
func TestImageNet10InspectAndPack(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"inspect", "imagenet10", "--dir", dir}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "imagenet", "train")) || !strings.Contains(err.Error(), "image-net.org") {
		t.Fatalf("inspect of an empty directory: %v", err)
	}
	if _, _, err := data.WriteImageNetTree(dir, data.ImageNetTree{Synsets: data.ImageNet10Classes[:9], Train: 2, Val: 1, MinSide: 8, MaxSide: 12}); err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), []string{"inspect", "imagenet10", "--dir", dir}, &out, &errb)
	last := data.ImageNet10Classes[9]
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "imagenet", "train", last)) || !strings.Contains(err.Error(), filepath.Join(dir, "imagenet", "val", last)) {
		t.Fatalf("inspect with synset %s missing: %v", last, err)
	}
	if _, _, err := data.WriteImageNetTree(dir, data.ImageNetTree{Synsets: data.ImageNet10Classes[9:], Train: 2, Val: 1, MinSide: 8, MaxSide: 12}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"pack", "imagenet10", "--dir", dir, "--shard-size", "3000"}, &out, &errb); err != nil {
		t.Fatal(err, errb.String())
	}
	if !strings.Contains(out.String(), "imagenet10 train: 20 images in") || !strings.Contains(out.String(), "imagenet10 test: 10 images in") {
		t.Fatalf("pack output %q", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"inspect", "imagenet10", "--dir", dir}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Shape != [3]int{224, 224, 3} || rep.Splits["train"].N != 20 || rep.Splits["test"].N != 10 ||
		!rep.Packed["train"].Verified || rep.Packed["train"].Shards < 2 {
		t.Fatalf("report %+v", rep)
	}
	for c, n := range rep.Splits["train"].LabelHistogram {
		if n != 2 {
			t.Fatalf("class %d: %d training images, want 2", c, n)
		}
	}
	shard := filepath.Join(dir, "packed", "imagenet10", "train-00001.tar")
	f, err := os.OpenFile(shard, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("xx"), 700)
	f.Close()
	err = run(context.Background(), []string{"inspect", "imagenet10", "--dir", dir}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), shard) {
		t.Fatalf("inspect of a damaged shard: %v", err)
	}
}

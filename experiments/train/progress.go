package train

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress draws a one-line progress bar of an epoch: iterations, loss, images/s and ETA.
type progress struct {
	w            io.Writer
	epoch, total int
	start, iters int
	began, last  time.Time
}

func newProgress(w io.Writer, epoch, total, start, iters int) *progress {
	return &progress{w: w, epoch: epoch, total: total, start: start, iters: iters, began: time.Now()}
}

func (p *progress) update(iter int, loss, imgPerSec float64) {
	if p.w == nil || (time.Since(p.last) < 200*time.Millisecond && iter < p.iters) {
		return
	}
	p.last = time.Now()
	const width = 24
	filled := width * iter / max(p.iters, 1)
	eta := "?"
	if done := iter - p.start; done > 0 {
		left := time.Duration(float64(time.Since(p.began)) / float64(done) * float64(p.iters-iter))
		eta = left.Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\repoch %d/%d [%s%s] %d/%d loss %.4f %.0f img/s ETA %s   ",
		p.epoch, p.total, strings.Repeat("#", filled), strings.Repeat(".", width-filled), iter, p.iters, loss, imgPerSec, eta)
}

func (p *progress) done() {
	if p.w != nil {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

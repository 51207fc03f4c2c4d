package report

import (
	"strings"
	"testing"
)

// A sweep's rows (the ablations grid: DOS with one part changed) are not the configuration of
// the paper's Table 1: only the row without a setting gets the paper's DOS numbers.
func TestCompareWithPaperVariants(t *testing.T) {
	runs := sixSetRuns()
	var extra []RunResult
	for _, r := range runs {
		if r.Method == "dos" {
			r.Variant = "clusters=16"
			extra = append(extra, r)
		}
	}
	tab, err := BuildTable(append(runs, extra...), TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := CompareWithPaper(tab)
	if err != nil {
		t.Fatal(err)
	}
	md := c.Markdown()
	var plain, swept string
	for _, line := range strings.Split(md, "\n") {
		switch {
		case strings.HasPrefix(line, "| DOS |  |"):
			plain = line
		case strings.HasPrefix(line, "| DOS | clusters=16 |"):
			swept = line
		}
	}
	if !strings.Contains(plain, "15.0 / 13.1 (+1.9)") {
		t.Errorf("the DOS row without a setting lacks the paper's SVHN cell:\n%s", md)
	}
	if swept == "" || strings.Contains(swept, " / ") {
		t.Errorf("the clusters=16 row shows paper numbers (or is missing):\n%s", md)
	}
	if !strings.Contains(c.Caption(), "not the configuration of the paper's Table 1") {
		t.Errorf("caption does not say why swept rows have no paper numbers: %s", c.Caption())
	}
}

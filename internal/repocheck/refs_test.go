package repocheck

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// repoRoot is the repository's top folder (two levels above this package).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod in %s: %v", root, err)
	}
	return root
}

// trackedFiles lists the repository's text files: git's list when the tree is a git checkout,
// else a walk that skips ignored output folders.
func trackedFiles(t *testing.T, root string) []string {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		var files []string
		for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if f != "" {
				files = append(files, f)
			}
		}
		return files
	}
	var files []string
	skip := map[string]bool{".git": true, "runs": true, "bin": true, "datasets": true, "out": true, ".cache": true}
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() && skip[rel] {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	return files
}

var textExt = map[string]bool{".go": true, ".md": true, ".yaml": true, ".yml": true, ".py": true, ".sh": true, ".txt": true, "": true}

// A reference found in a file.
type ref struct {
	file    string // where it was found, relative to the root
	line    int
	target  string // path relative to the root
	section string // "" or the section number named after it
	text    string // the reference as written
}

var (
	// docs/X.md, optionally followed by "section N" or "§N".
	docsRef = regexp.MustCompile(`(?:^|[^A-Za-z0-9_./-])(docs/[A-Za-z0-9_./-]*[A-Za-z0-9_-])(?:,? (?:section|§) ?([0-9]+))?`)
	// A Markdown link or image: [text](target).
	mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	// A path of one of this repository's own files, e.g. benchmarks/README.md or
	// experiments/config/run.go (Python paths are left out: they name the official code's files).
	ownDoc = regexp.MustCompile(`(?:^|[^A-Za-z0-9_./@-])((?:models|sampling|data|experiments|benchmarks|tools|internal|\.ci)/[A-Za-z0-9_./-]*\.(?:md|go|yaml|sh))\b`)
	// An inline code span of Markdown, which holds no links.
	codeSpan = regexp.MustCompile("`[^`]*`")
	// The team's notes outside the repository must never be referenced.
	outside = regexp.MustCompile(`\.\./shared|/work/shared`)
)

// self is this file, whose examples of broken references are not references.
const self = "internal/repocheck/refs_test.go"

// findRefs returns every reference to a repository file in the text files given.
func findRefs(t *testing.T, root string, files []string) (refs []ref, bad []string) {
	t.Helper()
	for _, f := range files {
		if !textExt[filepath.Ext(f)] || strings.Contains(f, "testdata/") && filepath.Ext(f) != ".py" || f == self {
			continue
		}
		fh, err := os.Open(filepath.Join(root, f))
		if err != nil {
			continue // deleted in the work tree but still listed
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			if outside.MatchString(line) {
				bad = append(bad, f+":"+strconv.Itoa(n)+": refers to the team's notes outside the repository: "+strings.TrimSpace(line))
			}
			for _, m := range docsRef.FindAllStringSubmatch(line, -1) {
				target := strings.TrimRight(m[1], ".")
				refs = append(refs, ref{file: f, line: n, target: target, section: m[2], text: strings.TrimSpace(m[0])})
			}
			for _, m := range ownDoc.FindAllStringSubmatch(line, -1) {
				refs = append(refs, ref{file: f, line: n, target: m[1], text: m[1]})
			}
			if filepath.Ext(f) == ".md" {
				for _, m := range mdLink.FindAllStringSubmatch(codeSpan.ReplaceAllString(line, "``"), -1) {
					target := m[1]
					if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") || strings.HasPrefix(target, "#") {
						continue
					}
					target = strings.SplitN(target, "#", 2)[0]
					rel := filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(f), target)))
					refs = append(refs, ref{file: f, line: n, target: rel, text: m[0]})
				}
			}
		}
		fh.Close()
	}
	return refs, bad
}

// hasSection reports whether the Markdown file has a heading numbered n ("## 3. Baselines").
func hasSection(path, n string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	re := regexp.MustCompile(`(?m)^#{1,4} +` + regexp.QuoteMeta(n) + `[.: )]`)
	return re.Match(b)
}

// checkRefs returns a line per reference that points nowhere.
func checkRefs(root string, refs []ref) []string {
	var broken []string
	seen := map[string]bool{}
	for _, r := range refs {
		key := r.file + ":" + strconv.Itoa(r.line) + ":" + r.target + ":" + r.section
		if seen[key] {
			continue // the same reference matched as a docs/ path and as a Markdown link
		}
		seen[key] = true
		p := filepath.Join(root, filepath.FromSlash(r.target))
		if strings.HasPrefix(r.target, "..") {
			broken = append(broken, r.file+":"+strconv.Itoa(r.line)+": "+r.text+" points outside the repository")
			continue
		}
		if _, err := os.Stat(p); err != nil {
			broken = append(broken, r.file+":"+strconv.Itoa(r.line)+": "+r.text+": no file "+r.target+" in the repository")
			continue
		}
		if r.section != "" && !hasSection(p, r.section) {
			broken = append(broken, r.file+":"+strconv.Itoa(r.line)+": "+r.text+": "+r.target+" has no section "+r.section)
		}
	}
	return broken
}

// Every docs/... reference, Markdown link and mention of one of the repository's documents
// resolves to a file in the repository (and, when a section number is named, to a heading with
// that number); nothing refers to notes outside it.
func TestReferencesResolve(t *testing.T) {
	root := repoRoot(t)
	refs, bad := findRefs(t, root, trackedFiles(t, root))
	if len(refs) < 10 {
		t.Fatalf("found only %d references: the scan is broken", len(refs))
	}
	for _, b := range append(bad, checkRefs(root, refs)...) {
		t.Error(b)
	}
}

// The check itself catches each kind of broken reference.
func TestReferenceCheckCatchesBrokenOnes(t *testing.T) {
	root := t.TempDir()
	write := func(rel, s string) {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(s), 0o644)
	}
	write("go.mod", "module x\n")
	write("docs/method.md", "# Method\n\n## 2. DOS\n")
	write("README.md", "See [the method](docs/method.md#dos) and [gone](docs/gone.md), and ../shared/docs/x.md.\n")
	write("a/b.go", "// docs/method.md section 2 is fine; docs/method.md section 7 is not; docs/nothere.md neither.\n")
	write("a/c.md", "[up](../docs/method.md) [missing](../benchmarks/README.md) [web](https://example.org/x.md)\n")
	files := []string{"go.mod", "docs/method.md", "README.md", "a/b.go", "a/c.md"}
	refs, bad := findRefs(t, root, files)
	broken := append(bad, checkRefs(root, refs)...)
	want := []string{"docs/gone.md", "../shared", "section 7", "docs/nothere.md", "benchmarks/README.md"}
	joined := strings.Join(broken, "\n")
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("the check missed %q; it reported:\n%s", w, joined)
		}
	}
	if len(broken) != len(want) {
		t.Errorf("reported %d problems, want %d:\n%s", len(broken), len(want), joined)
	}
}

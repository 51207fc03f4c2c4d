package main

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/oodlab/dos/benchmarks/report"
	"github.com/oodlab/dos/experiments/store"
)

// fact is one labelled line of a run's provenance.
type fact struct{ Label, Value string }

// runView is what the report shows about one run, shared by the Markdown
// and HTML renderings.
type runView struct {
	Name, Heading, Status string
	Facts                 []fact
	Reproduce             string
	ReproduceNote         string
	Config, ConfigNote    string
	Failure               string
}

// statusLine is one row of the status table.
type statusLine struct {
	Name, Method, Status, Epochs, Wall, Backend, Device string
	Seed                                                int
}

// view is the whole report as text values.
type view struct {
	Title, Intro, Store, Generated, Command string
	Summary                                 string
	Status                                  []statusLine
	Missing, Running, Failed                []string
	Warnings                                []string
	Degenerate                              []string
	Sections                                []*Section
	Runs                                    []runView
}

// makeView turns the report into text.
func makeView(rep *Report, secs []*Section) *view {
	g := rep.Grid
	v := &view{
		Title:     "Reproducibility report: grid " + g.Name,
		Intro:     fmt.Sprintf("Grid %s (%s): %s", g.Name, g.File, g.Description),
		Store:     rep.GridDir,
		Generated: rep.Opts.Now.UTC().Format(time.RFC3339),
		Command:   fmt.Sprintf("go run ./tools/report --grid %s --runs %s --fpr %s", rep.Opts.GridArg, rep.Opts.Runs, fprFlag(rep)),
		Warnings:  rep.Warnings,
		Sections:  secs,
	}
	for _, d := range rep.Degenerate {
		v.Degenerate = append(v.Degenerate, d.String())
	}
	c := rep.Counts()
	v.Summary = fmt.Sprintf("%d runs in the grid: %d done, %d running or interrupted, %d failed, %d missing (not started).",
		len(rep.Runs), c.Done, c.Running, c.Failed, c.Missing)
	if c.Done < len(rep.Runs) {
		v.Summary += " The grid is incomplete: tables and plots show the runs done so far (n = seeds done / runs in each table row)."
	}
	for _, e := range rep.Runs {
		r := e.Result
		sl := statusLine{Name: e.Name, Method: report.VariantName(r.Method, r.Variant), Seed: r.Seed, Status: r.Status,
			Epochs: fmt.Sprintf("%d/%d", e.EpochsDone, e.Dir.Run.Epochs), Wall: "–", Backend: "–", Device: "–"}
		if e.Results != nil {
			sl.Wall = fmt.Sprintf("%.1f", e.Results.WallSeconds)
			sl.Backend, sl.Device = orDash(e.Results.Backend), orDash(e.Results.Device)
		}
		v.Status = append(v.Status, sl)
		switch r.Status {
		case report.StatusMissing:
			v.Missing = append(v.Missing, e.Name)
		case report.StatusRunning:
			v.Running = append(v.Running, e.Name)
		case report.StatusFailed:
			v.Failed = append(v.Failed, e.Name)
		}
		v.Runs = append(v.Runs, runViewOf(rep, &e))
	}
	return v
}

func fprFlag(rep *Report) string {
	if rep.Opts.Convention == 0 {
		return "id"
	}
	return "ood"
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// runViewOf describes one run.
func runViewOf(rep *Report, e *RunEntry) runView {
	r := e.Result
	rv := runView{Name: e.Name, Status: r.Status,
		Heading: fmt.Sprintf("%s, seed %d: %s", report.VariantName(r.Method, r.Variant), r.Seed, r.Status)}
	add := func(label, value string) { rv.Facts = append(rv.Facts, fact{label, value}) }
	add("Run ID", e.Dir.ID)
	add("Directory", filepath.Join(rep.Grid.Name, e.Name))
	add("Method", r.Method)
	if r.Variant != "" {
		add("Swept values", r.Variant)
	}
	add("Seed", fmt.Sprint(r.Seed))
	status := fmt.Sprintf("%s, %d of %d epochs recorded", r.Status, e.EpochsDone, e.Dir.Run.Epochs)
	if r.Status == report.StatusMissing && e.EpochsDone == 0 {
		status = "missing: not started (no results, no epoch records)"
	}
	add("Status", status)
	if res := e.Results; res != nil {
		rev := res.Code.Revision
		if rev == "" {
			add("Code version", "not recorded (binary built without VCS information)")
		} else {
			state := "clean"
			if res.Code.Modified {
				state = "dirty: built with uncommitted changes"
			}
			add("Code version", fmt.Sprintf("revision %s (%s)", rev, state))
		}
		add("Go", orDash(res.Code.GoVersion))
		add("GoMLX", orDash(res.Code.GoMLXVersion))
		add("Backend / plugin", backendText(res.Backend, e.BackendLog))
		if res.BackendDescription != "" {
			add("Backend description (plugin version)", res.BackendDescription)
		}
		add("Device", orDash(res.Device))
		var degenerate []string
		for _, d := range rep.Degenerate {
			if d.Run == e.Name {
				degenerate = append(degenerate, report.SetName(d.Set)+": "+strings.Join(d.Warnings, "; "))
			}
		}
		if len(degenerate) > 0 {
			add("Degenerate scores", strings.Join(degenerate, " / "))
		}
		add("Data checksums", checksumText(res.DataChecksums))
		add("Wall time", fmt.Sprintf("%.1f s (training and evaluation, summed over resumptions)", res.WallSeconds))
		add("Epochs trained", fmt.Sprint(res.Epochs))
		if !res.Finished.IsZero() {
			add("Finished", res.Finished.UTC().Format(time.RFC3339))
		}
		add("Recorded command", orDash(strings.Join(res.CommandLine, " ")))
	} else if e.Corrupt {
		add("Provenance", "unreadable: "+store.ResultsFile+" is corrupt (see the failure below); left out of tables and plots")
	} else {
		add("Provenance", "not recorded: "+store.ResultsFile+" is written when a run finishes")
		if e.BackendLog != "" {
			add("Backend (run.log)", e.BackendLog)
		}
	}
	cmd := "go run ./experiments --grid " + rep.Opts.GridArg + " --only " + e.Only
	if e.Results != nil && e.Results.Backend != "" {
		cmd += " --backend " + e.Results.Backend
	}
	if e.Results != nil && e.Results.Code.Revision != "" {
		cmd = "git checkout " + e.Results.Code.Revision + "\n" + cmd
	}
	rv.Reproduce = cmd
	if e.OnlyNote != "" {
		rv.ReproduceNote = e.OnlyNote + ". "
	}
	switch {
	case e.Corrupt:
		rv.ReproduceNote += "Its " + store.ResultsFile + " is corrupt and the runner refuses the run until it is moved away; " +
			"then this command (with --out " + rep.Opts.Runs + ") resumes it from its checkpoint."
	case r.Status == report.StatusDone:
		rv.ReproduceNote += "In a store that already holds this run the runner skips it: add --out with a fresh directory to train it again."
	case r.Status == report.StatusMissing:
		rv.ReproduceNote += "This command runs it (into --out, default ./runs)."
	default:
		rv.ReproduceNote += "This command resumes it from its last checkpoint (in its store: add --out " + rep.Opts.Runs + ")."
	}
	rv.Config = e.ConfigYAML
	if e.ConfigStored {
		rv.ConfigNote = "Resolved configuration (" + store.ConfigFile + "):"
	} else {
		rv.ConfigNote = "Resolved configuration from the grid (the run has no " + store.ConfigFile + " yet):"
	}
	rv.Failure = r.Err
	return rv
}

// backendText describes the backend as recorded.
func backendText(backend, logLine string) string {
	s := orDash(backend)
	if backend == "go" {
		s += " (GoMLX's pure-Go backend; no plugin)"
	} else if strings.HasPrefix(backend, "xla") {
		s += " (PJRT plugin named after the colon; its version is not recorded)"
	}
	if logLine != "" {
		s += "; run.log: " + logLine
	}
	return s
}

// checksumText lists the data sets with their checksum status, sorted.
func checksumText(m map[string]string) string {
	if len(m) == 0 {
		return "not recorded"
	}
	var names []string
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ": " + m[n]
	}
	return strings.Join(parts, "; ")
}

// mdCell escapes text for a Markdown table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// fence wraps text in a Markdown code fence longer than any backtick run in it.
func fence(lang, text string) string {
	f := "```"
	for strings.Contains(text, f) {
		f += "`"
	}
	return f + lang + "\n" + strings.TrimRight(text, "\n") + "\n" + f + "\n"
}

// markdownReport renders report.md.
func markdownReport(rep *Report, secs []*Section) string {
	v := makeView(rep, secs)
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# %s\n\n%s\n\nRun store: `%s`. Generated %s by `%s`.\n\n", v.Title, v.Intro, v.Store, v.Generated, v.Command)
	p("## Status\n\n%s\n\n", v.Summary)
	p("| Run | Method | Seed | Status | Epochs | Wall time (s) | Backend | Device |\n| :--- | :--- | ---: | :--- | ---: | ---: | :--- | :--- |\n")
	for _, s := range v.Status {
		p("| %s | %s | %d | %s | %s | %s | %s | %s |\n", mdCell(s.Name), mdCell(s.Method), s.Seed, s.Status, s.Epochs, s.Wall,
			mdCell(s.Backend), mdCell(s.Device))
	}
	p("\n")
	list := func(label string, names []string) {
		if len(names) > 0 {
			p("**%s (%d):** %s.\n\n", label, len(names), strings.Join(names, ", "))
		}
	}
	list("Missing, not started", v.Missing)
	list("Running or interrupted", v.Running)
	list("Failed", v.Failed)
	if len(v.Warnings) > 0 {
		p("## Warnings\n\nLeft out of tables and plots:\n\n")
		for _, w := range v.Warnings {
			p("- %s\n", w)
		}
		p("\n")
	}
	if len(v.Degenerate) > 0 {
		p("## Degenerate scores\n\n%s\n\n", degenerateIntro)
		for _, d := range v.Degenerate {
			p("- %s\n", d)
		}
		p("\n")
	}
	p("## Results\n\n")
	for _, s := range secs {
		if len(secs) > 1 {
			p("### %s, %s\n\n", report.SetName(s.Benchmark), s.Network)
		}
		if s.Table == nil {
			p("%s\n\n", s.TableNote)
		} else {
			p("%s\n", s.Table.Markdown())
			p("Files: [table%[1]s.md](table%[1]s.md), [table%[1]s.csv](table%[1]s.csv), [table%[1]s.tex](table%[1]s.tex).\n\n", s.Suffix)
		}
		if s.CompareNote != "" {
			p("%s\n\n", s.CompareNote)
		}
		if s.Compare != nil {
			p("%s\n", s.Compare.Markdown())
			p("Files: [compare%[1]s.md](compare%[1]s.md), [compare%[1]s.csv](compare%[1]s.csv), [compare%[1]s.tex](compare%[1]s.tex).\n\n", s.Suffix)
		}
		if len(s.ScoreTables) > 0 {
			p("**Every post-hoc score.** The same models scored with each score that applies to them (results.json's scores; score files in each run's scores/<score>/).\n\n")
		}
		for _, st := range s.ScoreTables {
			p("%s\n", st.Table.Markdown())
			p("Files: [%[1]s.md](%[1]s.md), [%[1]s.csv](%[1]s.csv), [%[1]s.tex](%[1]s.tex).\n\n", st.Base)
		}
	}
	p("## Plots\n\n")
	for _, s := range secs {
		for _, pl := range s.Plots {
			p("### %s\n\n%s\n\n![%s](plots/%s.svg)\n\nPNG: [plots/%s.png](plots/%s.png)\n\n", pl.Title, pl.Caption, pl.Title, pl.Base, pl.Base, pl.Base)
		}
		for _, n := range s.Notes {
			p("- %s\n", n)
		}
		if len(s.Notes) > 0 {
			p("\n")
		}
	}
	p("## Runs\n\n")
	for _, r := range v.Runs {
		p("### %s\n\n%s\n\n| | |\n| :--- | :--- |\n", r.Name, r.Heading)
		for _, f := range r.Facts {
			p("| %s | %s |\n", f.Label, mdCell(f.Value))
		}
		p("\n")
		if r.Failure != "" {
			p("Failure:\n\n%s\n", fence("text", r.Failure))
		}
		p("Reproduce:\n\n%s\n%s\n\n", fence("sh", r.Reproduce), r.ReproduceNote)
		p("%s\n\n%s\n", r.ConfigNote, fence("yaml", r.Config))
	}
	return b.String()
}

// degenerateIntro explains the list of degenerate score sets.
const degenerateIntro = "The scores of these test sets are degenerate (see package experiments/metrics). " +
	"Their numbers are the official formulas' and stay in the tables and plots, but say little about detection: " +
	"the tables mark them (and the averages that include them) with †, never in bold, and the training curves mark their points."

//go:embed report.html.tmpl
var htmlTemplate string

// htmlReport renders report.html: self-contained, plots embedded as data:
// URIs.
func htmlReport(rep *Report, secs []*Section) ([]byte, error) {
	funcs := template.FuncMap{
		"mdtable": mdTableHTML,
		// A trusted attribute: base64 needs no escaping, and html/template
		// would otherwise write each '+' of the data URI as an entity.
		"svgSrc": func(svg []byte) template.HTMLAttr {
			return template.HTMLAttr(`src="data:image/svg+xml;base64,` + base64.StdEncoding.EncodeToString(svg) + `"`)
		},
		"setname": report.SetName,
	}
	t, err := template.New("report").Funcs(funcs).Parse(htmlTemplate)
	if err != nil {
		return nil, fmt.Errorf("report template: %w", err) // a bug
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, struct {
		*view
		Multi           bool
		DegenerateIntro string
	}{makeView(rep, secs), len(secs) > 1, degenerateIntro}); err != nil {
		return nil, fmt.Errorf("report.html: %w", err)
	}
	return buf.Bytes(), nil
}

var boldRE = regexp.MustCompile(`\*\*(.+?)\*\*`)

// inlineMD renders the Markdown that tables use (bold) as escaped HTML.
func inlineMD(s string) string {
	return boldRE.ReplaceAllString(template.HTMLEscapeString(s), "<b>$1</b>")
}

// mdTableHTML converts the Markdown of report.Table and report.Comparison
// (a caption paragraph, a pipe table, then optional notes: a paragraph and a
// list) to HTML.
func mdTableHTML(md string) template.HTML {
	var b strings.Builder
	var caption, notes []string
	rows := 0
	for _, line := range strings.Split(md, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			switch {
			case line == "":
			case rows == 0:
				caption = append(caption, line)
			default:
				notes = append(notes, line)
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if rows == 1 { // the alignment row
			rows++
			continue
		}
		if rows == 0 {
			b.WriteString("<table>\n")
			if len(caption) > 0 {
				b.WriteString("<caption>" + inlineMD(strings.Join(caption, " ")) + "</caption>\n")
			}
		}
		tag := "td"
		if rows == 0 {
			tag = "th"
		}
		b.WriteString("<tr>")
		for _, c := range cells {
			b.WriteString("<" + tag + ">" + inlineMD(strings.TrimSpace(c)) + "</" + tag + ">")
		}
		b.WriteString("</tr>\n")
		rows++
	}
	if rows > 0 {
		b.WriteString("</table>\n")
	}
	inList := false
	for _, n := range notes {
		item, isItem := strings.CutPrefix(n, "- ")
		if isItem && !inList {
			b.WriteString("<ul class=\"notes\">\n")
		} else if !isItem && inList {
			b.WriteString("</ul>\n")
		}
		inList = isItem
		if isItem {
			b.WriteString("<li>" + inlineMD(item) + "</li>\n")
		} else {
			b.WriteString("<p class=\"notes\">" + inlineMD(n) + "</p>\n")
		}
	}
	if inList {
		b.WriteString("</ul>\n")
	}
	return template.HTML(b.String())
}

package backend

import (
	"bytes"
	"flag"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"github.com/gomlx/go-xla/pkg/pjrt"
	"github.com/gomlx/gomlx/backends/xla"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"k8s.io/klog/v2"
)

// StableHLO builds the graph that build defines with GoMLX's XLA backend and returns the
// StableHLO program that backend would hand to a PJRT plugin, without loading one. It runs the
// XLA backend's whole graph-to-StableHLO translation on any machine, so a graph that the XLA
// backend cannot express (an op or dtype it lacks) fails here and not on a time-limited GPU
// machine; the program text also tells what the compiled graph contains (CountOps).
//
// How: the XLA backend only needs its PJRT plugin to compile. StableHLO makes a backend value with
// a placeholder plugin and no client (GoMLX v0.26.0 keeps those fields unexported: they are set by
// reflection), builds the graph, and asks it to compile: the backend logs the program at klog
// verbosity 2 and then fails for want of a client. The program is read from that log. Calls are
// serialised, and klog's settings are restored afterwards.
func StableHLO(name string, build func(g *graph.Graph) []*graph.Node) (program string, err error) {
	stablehloMu.Lock()
	defer stablehloMu.Unlock()
	be, err := offlineXLA()
	if err != nil {
		return "", err
	}
	var log bytes.Buffer
	restore, err := captureKlog(&log)
	if err != nil {
		return "", err
	}
	defer restore()

	g := graph.NewGraph(be, name)
	var outs []*graph.Node
	if err := catch(func() { outs = build(g) }); err != nil {
		return "", fmt.Errorf("building graph %q for XLA: %w", name, err)
	}
	if len(outs) == 0 {
		return "", fmt.Errorf("building graph %q for XLA: no outputs", name)
	}
	compileErr := catch(func() { g.Compile(outs...) })
	klog.Flush()
	text := log.String()
	const marker = "StableHLO program:\n"
	i := strings.Index(text, marker)
	if i < 0 {
		return "", fmt.Errorf("emitting StableHLO for graph %q: %v", name, compileErr)
	}
	text = text[i+len(marker):]
	// The module ends at the first line that is a lone closing brace.
	if j := strings.Index(text, "\n}\n"); j >= 0 {
		text = text[:j+3]
	}
	return text, nil
}

var stablehloMu sync.Mutex

// offlineXLA returns an XLA backend value that can build graphs but not compile them.
func offlineXLA() (be *xla.Backend, err error) {
	err = catch(func() {
		be = &xla.Backend{}
		v := reflect.ValueOf(be).Elem()
		setUnexported(v, "plugin", &pjrt.Plugin{})
		setUnexported(v, "capabilities", xla.Capabilities.Clone())
		setUnexported(v, "numDevices", 1)
	})
	if err != nil {
		return nil, fmt.Errorf("an offline XLA backend needs GoMLX v0.26.0's xla.Backend fields (plugin, capabilities, numDevices): %w", err)
	}
	return be, nil
}

// setUnexported sets the unexported field name of the struct v (addressable) to val.
func setUnexported(v reflect.Value, name string, val any) {
	f := v.FieldByName(name)
	if !f.IsValid() {
		panic(fmt.Errorf("no field %q in %s", name, v.Type()))
	}
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(reflect.ValueOf(val))
}

// captureKlog routes klog's output at verbosity 2 into w and returns a function that restores the
// previous settings.
func captureKlog(w *bytes.Buffer) (restore func(), err error) {
	var fs flag.FlagSet
	klog.InitFlags(&fs)
	names := []string{"v", "logtostderr", "alsologtostderr", "stderrthreshold"}
	old := map[string]string{}
	for _, n := range names {
		f := fs.Lookup(n)
		if f == nil {
			return nil, fmt.Errorf("klog has no flag %q", n)
		}
		old[n] = f.Value.String()
	}
	set := map[string]string{"v": "2", "logtostderr": "false", "alsologtostderr": "false", "stderrthreshold": "FATAL"}
	for _, n := range names {
		if err := fs.Set(n, set[n]); err != nil {
			return nil, err
		}
	}
	klog.SetOutput(w)
	return func() {
		klog.Flush()
		klog.SetOutput(nopWriter{})
		for _, n := range names {
			_ = fs.Set(n, old[n])
		}
	}, nil
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

// catch runs fn and turns a panic into an error.
func catch(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = e
			} else {
				err = fmt.Errorf("%v", r)
			}
		}
	}()
	fn()
	return nil
}

var opRE = regexp.MustCompile(`(?:^|[\s"(])stablehlo\.([a-z_]+)`)

// OpCount is one StableHLO operation and how many times a program holds it.
type OpCount struct {
	Op    string
	Count int
}

// CountOps counts the StableHLO operations of a program, most frequent first (ties by name).
// Operations inside reduction bodies count too.
func CountOps(program string) []OpCount {
	counts := map[string]int{}
	for _, line := range strings.Split(program, "\n") {
		// The first operation of the line; attributes (#stablehlo.conv<...>) do not count.
		if m := opRE.FindStringSubmatch(line); m != nil {
			counts[m[1]]++
		}
	}
	out := make([]OpCount, 0, len(counts))
	for op, n := range counts {
		out = append(out, OpCount{op, n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Op < out[j].Op
	})
	return out
}

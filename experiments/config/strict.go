package config

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// runType is the reflected type of Run, the root of key checking.
var runType = reflect.TypeOf(Run{})

// checkKeys walks node n against Go type t (following yaml tags) and reports
// the first key that t does not have, naming file, line, the key's path and
// the keys that are known there, or the first value of the wrong kind for its
// field (see checkScalar), naming file, line and the key's path. yaml.v3
// decodes the values afterwards; its own errors are rewritten by fileErr.
func checkKeys(file string, n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if isScalarKind(t.Kind()) {
		return checkScalar(file, n, t, path)
	}
	if n.ShortTag() == "!!null" {
		return nil // an empty list, no block; a null mapping leaves the defaults
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s:%d: %s: want a mapping with keys %s, found %s", file, n.Line, where(path), strings.Join(yamlKeys(t), ", "), describe(n))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := keyType(t, k.Value)
			if !ok {
				return fmt.Errorf("%s:%d: unknown key %q in %s; known keys: %s", file, k.Line, k.Value, where(path), strings.Join(yamlKeys(t), ", "))
			}
			if err := checkKeys(file, v, ft, joinPath(path, k.Value)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return fmt.Errorf("%s:%d: %s: want a list, found %s", file, n.Line, where(path), describe(n))
		}
		for i, c := range n.Content {
			if err := checkKeys(file, c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// isScalarKind reports whether a field of kind k takes a YAML scalar.
func isScalarKind(k reflect.Kind) bool {
	switch k {
	case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// checkScalar checks that node n is a value of the kind of the field of type t, so that
// nothing is converted silently: an integer field takes an integer literal in its range (not
// 1.7, which yaml.v3 would truncate to 1, nor 4.0 or 5e4; 0x10 and 1_000 are integers), an
// unsigned one no negative number, a float field a number, a boolean true or false (not
// "true", yes or 1), a string any scalar. null is refused for all of them: yaml.v3 would
// leave the field at its default. Errors name file, line and the key's path.
func checkScalar(file string, n *yaml.Node, t reflect.Type, path string) error {
	want := ""
	switch t.Kind() {
	case reflect.Bool:
		want = "true or false"
	case reflect.String:
		want = "a string"
	case reflect.Float32, reflect.Float64:
		want = "a number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		want = "a non-negative integer"
	default:
		want = "an integer"
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s: %s", file, n.Line, where(path), fmt.Sprintf(format, args...))
	}
	tag := n.ShortTag()
	switch {
	case n.Kind != yaml.ScalarNode:
		return bad("want %s, found %s", want, describe(n))
	case tag == "!!null":
		return bad("want %s, found null (an empty value)", want)
	}
	switch t.Kind() {
	case reflect.Bool:
		if tag != "!!bool" {
			return bad("want true or false, found %s", scalarText(n))
		}
	case reflect.Float32, reflect.Float64:
		if tag != "!!int" && tag != "!!float" {
			return bad("want a number, found %s", scalarText(n))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return checkInteger(n, t, want, bad)
	}
	return nil
}

// scalarText shows a scalar in a message: a string quoted (the string "4", "true"), anything
// else as written.
func scalarText(n *yaml.Node) string {
	if n.ShortTag() == "!!str" {
		return fmt.Sprintf("the string %q", n.Value)
	}
	return n.Value
}

// digitsRE matches a decimal integer too large for yaml.v3's 64-bit integers (which it then
// resolves as a float).
var digitsRE = regexp.MustCompile(`^[-+]?[0-9]+$`)

// checkInteger checks that scalar n is an integer literal within the range of integer type t.
func checkInteger(n *yaml.Node, t reflect.Type, want string, bad func(string, ...any) error) error {
	v := strings.ReplaceAll(n.Value, "_", "")
	tag := n.ShortTag()
	if tag != "!!int" && !(tag == "!!float" && digitsRE.MatchString(v)) {
		if tag == "!!float" {
			return bad("want %s, found %s (a decimal number is not truncated)", want, n.Value)
		}
		return bad("want %s, found %s", want, scalarText(n))
	}
	bits := t.Bits()
	if t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64 {
		if strings.HasPrefix(v, "-") {
			return bad("want %s, found %s", want, n.Value)
		}
		if _, err := strconv.ParseUint(strings.TrimPrefix(v, "+"), 0, bits); err != nil {
			return bad("want an integer in [0, %d], found %s", ^uint64(0)>>(64-bits), n.Value)
		}
		return nil
	}
	if _, err := strconv.ParseInt(v, 0, bits); err != nil {
		lo := int64(-1) << (bits - 1)
		return bad("want an integer in [%d, %d], found %s", lo, ^lo, n.Value)
	}
	return nil
}

// keyType returns the type of the value of key in struct type t: a field's type, or for Method
// the type of a sampler's options block.
func keyType(t reflect.Type, key string) (reflect.Type, bool) {
	if f, ok := fieldByKey(t, key); ok {
		return f.Type, true
	}
	if t == methodType {
		return blockType(key)
	}
	return nil, false
}

// fieldByKey finds the field of struct type t whose yaml key is key.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if yamlKey(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// yamlKey is the yaml key of a struct field ("" if skipped).
func yamlKey(f reflect.StructField) string {
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}

// yamlKeys lists the yaml keys of struct type t, sorted.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		if k := yamlKey(t.Field(i)); k != "" {
			keys = append(keys, k)
		}
	}
	if t == methodType {
		keys = append(keys, blockKeys()...)
	}
	sort.Strings(keys)
	return keys
}

// fieldPath resolves a dotted key path (e.g. method.dos.n_init) against the
// Run type and returns the type found there.
func fieldPath(path string) (reflect.Type, error) {
	t := runType
	done := ""
	for _, part := range strings.Split(path, ".") {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return nil, fmt.Errorf("%s is a value, it has no key %q", where(done), part)
		}
		ft, ok := keyType(t, part)
		if !ok {
			return nil, fmt.Errorf("unknown key %q in %s; known keys: %s", part, where(done), strings.Join(yamlKeys(t), ", "))
		}
		t = ft
		done = joinPath(done, part)
	}
	return t, nil
}

// nest builds the mapping {a: {b: {c: value}}} for path a.b.c.
func nest(path string, value *yaml.Node) *yaml.Node {
	parts := strings.Split(path, ".")
	n := value
	for i := len(parts) - 1; i >= 0; i-- {
		key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: parts[i], Line: value.Line, Column: value.Column}
		n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{key, n}, Line: value.Line, Column: value.Column}
	}
	return n
}

// decodeOnto decodes node n onto dst (fields absent from n keep their
// values), after checking its keys; errors name file and line.
func decodeOnto(file string, n *yaml.Node, dst *Run) error {
	if err := checkKeys(file, n, runType, ""); err != nil {
		return err
	}
	if err := n.Decode(dst); err != nil {
		return fileErr(file, err)
	}
	return nil
}

// strictDecode decodes a whole YAML document onto v with yaml.v3's strict
// mode (KnownFields): v's fields absent from the document keep their values.
func strictDecode(file string, data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fileErr(file, err)
	}
	return nil
}

// lineRE matches the "line N: " prefix of yaml.v3 error strings.
var lineRE = regexp.MustCompile(`^line (\d+): `)

// fileErr rewrites a yaml.v3 error so that each message starts with
// file:line.
func fileErr(file string, err error) error {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	out := make([]string, len(msgs))
	for i, m := range msgs {
		if sub := lineRE.FindStringSubmatch(m); sub != nil {
			out[i] = fmt.Sprintf("%s:%s: %s", file, sub[1], m[len(sub[0]):])
		} else {
			out[i] = file + ": " + m
		}
	}
	return errors.New(strings.Join(out, "\n"))
}

// methodName reads method.name from a run mapping node ("" if absent).
func methodName(file string, root *yaml.Node) (string, error) {
	m := mapValue(root, "method")
	if m == nil {
		return "", nil
	}
	n := mapValue(m, "name")
	if n == nil {
		return "", nil
	}
	if n.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("%s:%d: method.name: want a method name, found %s", file, n.Line, describe(n))
	}
	return n.Value, nil
}

// mapValue returns the value of key in mapping n, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// describe names the kind of a YAML node for error messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "an alias or document"
}

// where names a key path for messages ("the top level" for the root).
func where(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

// joinPath appends key to a dotted path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

package config

import (
	"reflect"
	"sort"

	"gopkg.in/yaml.v3"

	"github.com/oodlab/dos/sampling"
)

// The samplers' options blocks are keys of method in YAML (method.dos.n_init) but live in
// Method.Samplers, typed by package sampling. The functions here make them read, written and
// checked like the other fields.

// methodType is the reflected type of Method.
var methodType = reflect.TypeOf(Method{})

// samplerBlock returns the registered sampler whose options block has YAML key key.
func samplerBlock(key string) (sampling.Spec, bool) {
	for _, s := range sampling.Specs() {
		if s.Block != "" && s.Block == key {
			return s, true
		}
	}
	return sampling.Spec{}, false
}

// blockType returns the struct type of the options block with YAML key key, for key checks.
func blockType(key string) (reflect.Type, bool) {
	s, ok := samplerBlock(key)
	if !ok {
		return nil, false
	}
	return reflect.TypeOf(s.Defaults()), true
}

// blockKeys lists the YAML keys of the samplers' options blocks.
func blockKeys() []string {
	var keys []string
	for _, s := range sampling.Specs() {
		if s.Block != "" {
			keys = append(keys, s.Block)
		}
	}
	return keys
}

// methodFields is Method without its YAML methods, to decode and encode the other fields.
type methodFields Method

// UnmarshalYAML decodes a method mapping onto m: its fields as usual, and each sampler's block
// onto the block m already holds (else the sampler's defaults), so that a block that gives some
// keys keeps the other values. A null block removes it.
func (m *Method) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return n.Decode((*methodFields)(m)) // yaml's own error for a non-mapping
	}
	rest := *n
	rest.Content = nil
	var blocks []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if _, ok := samplerBlock(n.Content[i].Value); ok {
			blocks = append(blocks, n.Content[i], n.Content[i+1])
		} else {
			rest.Content = append(rest.Content, n.Content[i], n.Content[i+1])
		}
	}
	if err := rest.Decode((*methodFields)(m)); err != nil {
		return err
	}
	for i := 0; i < len(blocks); i += 2 {
		key, val := blocks[i].Value, blocks[i+1]
		if val.ShortTag() == "!!null" {
			delete(m.Samplers, key)
			continue
		}
		o := m.Samplers[key]
		if o == nil {
			spec, _ := samplerBlock(key)
			o = spec.Defaults()
		} else {
			o = cloneOptions(o) // never write through to a block shared with another Run
		}
		if err := val.Decode(o); err != nil {
			return err
		}
		if m.Samplers == nil {
			m.Samplers = map[string]sampling.Options{}
		}
		m.Samplers[key] = o
	}
	return nil
}

// MarshalYAML writes the method with each sampler block as a key of its own.
func (m Method) MarshalYAML() (any, error) {
	var n yaml.Node
	if err := n.Encode(methodFields(m)); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(m.Samplers))
	for k := range m.Samplers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var v yaml.Node
		if err := v.Encode(m.Samplers[k]); err != nil {
			return nil, err
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, &v)
	}
	return &n, nil
}

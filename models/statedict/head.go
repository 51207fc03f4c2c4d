package statedict

import (
	"fmt"
	"slices"
)

// AddAbsentClass returns sd with its classifier extended by one output, for a method with an
// extra "absent" class (DOS, NTOM, Share: K+1 outputs) that starts from the weights of a K-way
// classifier (torchvision's ImageNet ResNet-50, say). The classifier's keys are the entries of
// network's mapping whose shape depends on the number of outputs; the new output's weights and
// bias are zero, so the extended network gives the K logits of the original and an absent logit
// of 0 for every input. sd must have the K-output shapes (numOutputs - 1); it is not modified.
// The second result lists the keys extended.
func AddAbsentClass(sd *StateDict, network string, numOutputs int) (*StateDict, []string, error) {
	if numOutputs < 2 {
		return nil, nil, fmt.Errorf("statedict: %s: an absent class needs >= 2 outputs, got %d", network, numOutputs)
	}
	to, err := Mapping(network, numOutputs)
	if err != nil {
		return nil, nil, err
	}
	from, err := Mapping(network, numOutputs-1)
	if err != nil {
		return nil, nil, err
	}
	src := sd.TrimPrefix("module.")
	out := &StateDict{}
	for _, k := range src.Keys() {
		t, _ := src.Get(k)
		out.Set(k, t)
	}
	var extended []string
	for i, e := range to {
		if slices.Equal(e.Shape, from[i].Shape) {
			continue
		}
		t, ok := src.Get(e.Key)
		if !ok {
			return nil, nil, fmt.Errorf("statedict: %s: key %q missing", network, e.Key)
		}
		if !slices.Equal(t.Shape, from[i].Shape) || !t.DType.IsFloat() {
			return nil, nil, fmt.Errorf("statedict: %s: key %q is %s %s, want float %s (the classifier of %d outputs)",
				network, e.Key, t.DType, shapeString(t.Shape), shapeString(from[i].Shape), numOutputs-1)
		}
		// The output dimension is the first one (PyTorch's Linear keeps [out, in]): append one
		// zero row of the remaining dimensions.
		if len(e.Shape) == 0 || e.Shape[0] != t.Shape[0]+1 || !slices.Equal(e.Shape[1:], t.Shape[1:]) {
			return nil, nil, fmt.Errorf("statedict: %s: key %q: cannot extend %s to %s", network, e.Key, shapeString(t.Shape), shapeString(e.Shape))
		}
		row := t.NumElements() / t.Shape[0]
		data := make([]byte, len(t.Data)+row*t.DType.Size())
		copy(data, t.Data)
		out.Set(e.Key, Tensor{DType: t.DType, Shape: slices.Clone(e.Shape), Data: data})
		extended = append(extended, e.Key)
	}
	if len(extended) == 0 {
		return nil, nil, fmt.Errorf("statedict: %s: no key depends on the number of outputs", network)
	}
	return out, extended, nil
}

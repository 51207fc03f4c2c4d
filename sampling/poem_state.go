package sampling

import (
	"bytes"
	"encoding/gob"
	"fmt"
)

// poemState is what a POEM sampler learns across epochs: the posterior, the last Thompson
// sample and the recent selections of its buffer.
type poemState struct {
	Mu, W, Chol []float64
	Dim         int
	Sel         map[int][]int32
}

// MarshalState encodes the state POEM keeps across epochs, so that a checkpointed run resumes
// with the same posterior.
func (p *POEM) MarshalState() ([]byte, error) {
	var buf bytes.Buffer
	err := gob.NewEncoder(&buf).Encode(poemState{Mu: p.mu, W: p.w, Chol: p.chol, Dim: p.dim, Sel: p.sel})
	return buf.Bytes(), err
}

// UnmarshalState restores a state written by MarshalState.
func (p *POEM) UnmarshalState(b []byte) error {
	var s poemState
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&s); err != nil {
		return fmt.Errorf("sampling: poem: corrupt state: %w", err)
	}
	p.mu, p.w, p.chol, p.dim, p.sel = s.Mu, s.W, s.Chol, s.Dim, s.Sel
	if p.sel == nil {
		p.sel = map[int][]int32{}
	}
	return nil
}

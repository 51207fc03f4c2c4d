package optim_test

import (
	"fmt"

	"github.com/oodlab/dos/models/optim"
)

// The paper's schedule: lr 0.1, divided by 10 at epochs 50, 75 and 90 of 100.
func ExampleMultiStep() {
	s, err := optim.MultiStep(0.1, []int{50, 75, 90}, 0.1)
	if err != nil {
		panic(err)
	}
	for _, epoch := range []int{0, 49, 50, 75, 99} {
		fmt.Printf("epoch %d: lr %.4g\n", epoch, s.LR(epoch, 0, 781))
	}
	// Output:
	// epoch 0: lr 0.1
	// epoch 49: lr 0.1
	// epoch 50: lr 0.01
	// epoch 75: lr 0.001
	// epoch 99: lr 0.0001
}

// The per-iteration cosine annealing of the OE and Energy code, from 0.1 down to 1e-6.
func ExampleCosine() {
	s, err := optim.Cosine(0.1, 1e-6, 100)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%.4g %.4g %.4g\n", s.LR(0, 0, 781), s.LR(50, 0, 781), s.LR(99, 780, 781))
	// Output: 0.1 0.05 1e-06
}

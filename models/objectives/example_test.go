package objectives_test

import (
	"fmt"

	"github.com/oodlab/dos/models/objectives"
)

// Scores are looked up by the names used in configurations.
func ExampleScoreByName() {
	_, err := objectives.ScoreByName("odin")
	fmt.Println(err)
	fmt.Println(objectives.ScoreNames())
	// Output:
	// objectives: unknown score "odin", want one of absent, energy, maxlogit, msp
	// [absent energy maxlogit msp]
}

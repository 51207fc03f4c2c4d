package models

import (
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"

	"github.com/oodlab/dos/internal/testutil"
)

// benchTrain measures plain SGD training steps of a network on 28x28x1
// images, batch 128, on the completed pure-Go backend; it reports images/s.
func benchTrain(b *testing.B, name string) {
	be := testutil.GoBackend(b)
	arch, err := Lookup(name)
	if err != nil {
		b.Fatal(err)
	}
	const batch, classes = 128, 10
	ctx := context.New()
	x := tensors.FromFlatDataAndDimensions(pattern(batch*28*28, 0.3), batch, 28, 28, 1)
	labels := make([]float32, batch*classes)
	for i := 0; i < batch; i++ {
		labels[i*classes+i%classes] = 1
	}
	y := tensors.FromFlatDataAndDimensions(labels, batch, classes)
	step, err := context.NewExec(be, ctx, sgdStep(arch, classes))
	if err != nil {
		b.Fatal(err)
	}
	defer step.Finalize()
	if _, err := step.Exec(x, y); err != nil { // compile
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := step.Exec(x, y); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkTrainMLP: go test ./models -run X -bench TrainMLP -benchtime 20x
func BenchmarkTrainMLP(b *testing.B) { benchTrain(b, "mlp") }

// BenchmarkTrainSmallCNN: go test ./models -run X -bench TrainSmallCNN -benchtime 3x
func BenchmarkTrainSmallCNN(b *testing.B) { benchTrain(b, "small-cnn") }

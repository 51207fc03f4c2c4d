package optim

import (
	"math"
	"testing"
)

func TestMultiStepMatchesPyTorch(t *testing.T) {
	s, err := MultiStep(0.1, []int{50, 75, 90}, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	for epoch, want := range goldenMultiStep {
		for _, iter := range []int{0, 780} { // Constant within an epoch.
			if got := s.LR(epoch, iter, 781); math.Abs(got-want) > 1e-15 {
				t.Errorf("epoch %d iter %d: lr %g, want %g", epoch, iter, got, want)
			}
		}
	}
}

func TestCosineMatchesPyTorch(t *testing.T) {
	const epochs, iters = 4, 5
	s, err := Cosine(0.1, 1e-6, epochs)
	if err != nil {
		t.Fatal(err)
	}
	for step, want := range goldenCosineIter {
		if got := s.LR(step/iters, step%iters, iters); math.Abs(got-want) > 1e-12 {
			t.Errorf("step %d: lr %.15g, want %.15g", step, got, want)
		}
	}
	se, err := CosineEpoch(0.1, 1e-4, 10)
	if err != nil {
		t.Fatal(err)
	}
	for epoch, want := range goldenCosineEpoch {
		if got := se.LR(epoch, 3, 7); math.Abs(got-want) > 1e-12 {
			t.Errorf("epoch %d: lr %.15g, want %.15g", epoch, got, want)
		}
	}
	// The per-iteration schedule reaches lr_min at the very end.
	if got := s.LR(epochs, 0, iters); math.Abs(got-1e-6) > 1e-15 {
		t.Errorf("final lr %g, want 1e-6", got)
	}
}

func TestConstant(t *testing.T) {
	s, err := Constant(0.05)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.LR(99, 10, 781); got != 0.05 {
		t.Errorf("lr %g, want 0.05", got)
	}
}

func TestScheduleErrors(t *testing.T) {
	bad := []func() (Schedule, error){
		func() (Schedule, error) { return MultiStep(0.1, []int{75, 50}, 0.1) },
		func() (Schedule, error) { return MultiStep(0.1, []int{50, 50}, 0.1) },
		func() (Schedule, error) { return MultiStep(0.1, []int{0}, 0.1) },
		func() (Schedule, error) { return MultiStep(0.1, nil, 0) },
		func() (Schedule, error) { return MultiStep(0.1, nil, 1.5) },
		func() (Schedule, error) { return MultiStep(-0.1, nil, 0.1) },
		func() (Schedule, error) { return Cosine(0.1, 0.2, 10) },
		func() (Schedule, error) { return Cosine(0.1, 0, 0) },
		func() (Schedule, error) { return CosineEpoch(math.NaN(), 0, 10) },
		func() (Schedule, error) { return Constant(math.Inf(1)) },
	}
	for i, f := range bad {
		if _, err := f(); err == nil {
			t.Errorf("case %d: no error", i)
		}
	}
}

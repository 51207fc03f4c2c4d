package optim

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate of one training iteration. It is evaluated on the host and
// the value fed to the train-step graph. epoch counts from 0; iterInEpoch counts from 0 up to
// itersPerEpoch-1.
type Schedule interface {
	LR(epoch, iterInEpoch, itersPerEpoch int) float64
}

// validLR reports an error unless x is a finite value >= 0.
func validLR(what string, x float64) error {
	if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
		return fmt.Errorf("optim: %s %v, want a finite value >= 0", what, x)
	}
	return nil
}

// constant is the Schedule returned by Constant.
type constant float64

// LR implements Schedule.
func (c constant) LR(_, _, _ int) float64 { return float64(c) }

// Constant returns a schedule that always gives lr.
func Constant(lr float64) (Schedule, error) {
	if err := validLR("learning rate", lr); err != nil {
		return nil, err
	}
	return constant(lr), nil
}

// multiStep is the Schedule returned by MultiStep.
type multiStep struct {
	base       float64
	milestones []int
	gamma      float64
}

// MultiStep returns the step schedule of torch.optim.lr_scheduler.MultiStepLR stepped once per
// epoch, as the DOS code does: during epoch e the rate is base * gamma^n, n the number of
// milestones <= e. With milestones 50, 75, 90 and gamma 0.1 the rate is base for epochs 0-49,
// base/10 for 50-74, base/100 for 75-89 and base/1000 from 90 on. Milestones must be strictly
// increasing and >= 1; gamma must be in (0, 1].
func MultiStep(base float64, milestones []int, gamma float64) (Schedule, error) {
	if err := validLR("base learning rate", base); err != nil {
		return nil, err
	}
	if math.IsNaN(gamma) || gamma <= 0 || gamma > 1 {
		return nil, fmt.Errorf("optim: multistep gamma %v, want a value in (0, 1]", gamma)
	}
	for i, m := range milestones {
		if m < 1 {
			return nil, fmt.Errorf("optim: multistep milestone %d is %d, want an epoch >= 1", i, m)
		}
		if i > 0 && m <= milestones[i-1] {
			return nil, fmt.Errorf("optim: multistep milestones %v, want strictly increasing epochs", milestones)
		}
	}
	return &multiStep{base: base, milestones: append([]int(nil), milestones...), gamma: gamma}, nil
}

// LR implements Schedule.
func (s *multiStep) LR(epoch, _, _ int) float64 {
	lr := s.base
	for _, m := range s.milestones {
		if epoch >= m {
			lr *= s.gamma
		}
	}
	return lr
}

// cosine is the Schedule returned by Cosine and CosineEpoch.
type cosine struct {
	lrMax, lrMin float64
	epochs       int
	perIteration bool
}

// newCosine validates the arguments shared by Cosine and CosineEpoch.
func newCosine(lrMax, lrMin float64, totalEpochs int, perIteration bool) (Schedule, error) {
	if err := validLR("cosine lr_max", lrMax); err != nil {
		return nil, err
	}
	if err := validLR("cosine lr_min", lrMin); err != nil {
		return nil, err
	}
	if lrMin > lrMax {
		return nil, fmt.Errorf("optim: cosine lr_min %v is above lr_max %v", lrMin, lrMax)
	}
	if totalEpochs < 1 {
		return nil, fmt.Errorf("optim: cosine schedule over %d epochs, want at least 1", totalEpochs)
	}
	return &cosine{lrMax: lrMax, lrMin: lrMin, epochs: totalEpochs, perIteration: perIteration}, nil
}

// Cosine returns the per-iteration cosine annealing of the Outlier Exposure and Energy code
// (a LambdaLR stepped after every batch):
//
//	lr = lrMin + (lrMax - lrMin) * 0.5 * (1 + cos(pi * step / total))
//
// with step = epoch*itersPerEpoch + iterInEpoch and total = totalEpochs*itersPerEpoch. The
// OE/Energy code uses lrMax = the base rate (0.1) and lrMin = 1e-6.
func Cosine(lrMax, lrMin float64, totalEpochs int) (Schedule, error) {
	return newCosine(lrMax, lrMin, totalEpochs, true)
}

// CosineEpoch returns torch.optim.lr_scheduler.CosineAnnealingLR(T_max=totalEpochs,
// eta_min=lrMin) stepped once per epoch: the rate is constant within an epoch,
//
//	lr = lrMin + (lrMax - lrMin) * 0.5 * (1 + cos(pi * epoch / totalEpochs))
func CosineEpoch(lrMax, lrMin float64, totalEpochs int) (Schedule, error) {
	return newCosine(lrMax, lrMin, totalEpochs, false)
}

// LR implements Schedule.
func (s *cosine) LR(epoch, iterInEpoch, itersPerEpoch int) float64 {
	var frac float64
	if s.perIteration {
		frac = float64(epoch*itersPerEpoch+iterInEpoch) / float64(s.epochs*itersPerEpoch)
	} else {
		frac = float64(epoch) / float64(s.epochs)
	}
	return s.lrMin + (s.lrMax-s.lrMin)*0.5*(1+math.Cos(math.Pi*frac))
}

package statedict

import (
	"math"
	"strings"
)

// Formula returns a state dict with the keys, shapes and dtypes of template, filled with the
// deterministic weights that the project's PyTorch cross-checks also build (testdata scripts,
// formula_state_dict), so that both sides hold the same network without a weights file: with
// s = sin(1.3 i + k) for the i-th element (row-major, PyTorch layout) of the k-th key, computed in
// float64 and rounded to float32,
//
//	num_batches_tracked: k;  running_var: 0.5 + 0.25 (1 + s);
//	rank >= 2 (conv, linear weights): s / sqrt(fan_in), fan_in = numel / shape[0];
//	other .weight (batch-norm scale): 1 + 0.2 s;  anything else (biases, running_mean): 0.05 s.
func Formula(template *StateDict) *StateDict {
	return fill(template, func(key string, shape []int, k, i, n int) float32 {
		// Explicit conversions keep the compiler from fusing operations, so that the float64
		// arithmetic is PyTorch's.
		s := math.Sin(float64(1.3*float64(i)) + float64(k))
		var v float64
		switch {
		case strings.HasSuffix(key, "running_var"):
			v = 0.5 + float64(0.25*(1+s))
		case len(shape) >= 2:
			v = s / math.Sqrt(float64(n)/float64(shape[0]))
		case strings.HasSuffix(key, ".weight"):
			v = 1 + float64(0.2*s)
		default:
			v = 0.05 * s
		}
		return float32(v)
	})
}

// fill returns a state dict with the keys, shapes and dtypes of template: each
// num_batches_tracked holds its key's index k, every other element i of the k-th key (n
// elements of the given shape) holds value(key, shape, k, i, n).
func fill(template *StateDict, value func(key string, shape []int, k, i, n int) float32) *StateDict {
	sd := &StateDict{}
	for k, key := range template.Keys() {
		t, _ := template.Get(key)
		n := t.NumElements()
		if strings.HasSuffix(key, "num_batches_tracked") {
			sd.Set(key, FromInt64(t.Shape, []int64{int64(k)}))
			continue
		}
		vals := make([]float32, n)
		for i := range vals {
			vals[i] = value(key, t.Shape, k, i, n)
		}
		sd.Set(key, FromFloat32(t.Shape, vals))
	}
	return sd
}

// FormulaImages returns n images h x w x c (NHWC, float32) of the cross-checks' formula
// x[n, h, w, c] = sin(0.37 h + 0.23 w + 1.1 c + 2 n) (formula_batch in the scripts, NCHW there).
func FormulaImages(n, h, w, c int) []float32 {
	vals := make([]float32, 0, n*h*w*c)
	for in := 0; in < n; in++ {
		for ih := 0; ih < h; ih++ {
			for iw := 0; iw < w; iw++ {
				for ic := 0; ic < c; ic++ {
					a := float64(float64(0.37*float64(ih))+float64(0.23*float64(iw))) + float64(1.1*float64(ic))
					vals = append(vals, float32(math.Sin(a+float64(2.0*float64(in)))))
				}
			}
		}
	}
	return vals
}

// Template returns the state dict of network (numOutputs outputs) with every key the official
// code's state_dict() has, in its order, holding zeros: the shapes and dtypes to fill, e.g. with
// Formula.
func Template(network string, numOutputs int) (*StateDict, error) {
	entries, err := Mapping(network, numOutputs)
	if err != nil {
		return nil, err
	}
	sd := &StateDict{}
	for _, e := range entries {
		n := numElements(e.Shape)
		if e.DType == Int64 {
			sd.Set(e.Key, FromInt64(e.Shape, make([]int64, n)))
		} else {
			sd.Set(e.Key, FromFloat32(e.Shape, make([]float32, n)))
		}
	}
	return sd, nil
}

// Hashed returns a state dict with the keys, shapes and dtypes of template, filled with
// pseudo-random weights that a PyTorch script builds bit for bit the same (gen_official.py,
// hashed_state_dict): unlike Formula's smooth sines, they give a well-conditioned network whose
// training step float32 rounding does not change (Formula's periodic kernels make a deep
// network's gradients explode). With u = splitmix64(k<<32 + i)>>11 * 2^-53 in [0, 1) for the
// i-th element of the k-th key:
//
//	num_batches_tracked: k;  running_var: 0.5 + u;
//	rank >= 2: (2u - 1) sqrt(3/fan_in) (variance 1/fan_in);  other .weight: 0.8 + 0.4u;
//	anything else: 0.1 (2u - 1).
func Hashed(template *StateDict) *StateDict {
	return fill(template, func(key string, shape []int, k, i, n int) float32 {
		u := float64(splitMix64(uint64(k)<<32+uint64(i))>>11) * 0x1p-53
		var v float64
		switch {
		case strings.HasSuffix(key, "running_var"):
			v = 0.5 + u
		case len(shape) >= 2:
			v = float64(2*u-1) * math.Sqrt(3*float64(shape[0])/float64(n))
		case strings.HasSuffix(key, ".weight"):
			v = 0.8 + float64(0.4*u)
		default:
			v = 0.1 * float64(2*u-1)
		}
		return float32(v)
	})
}

// splitMix64 is the SplitMix64 finaliser.
func splitMix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

package models

import (
	"strconv"
	"strings"
	"testing"
)

// Trainable parameter counts of the reference PyTorch implementations
// (DenseNet3 and WideResNet of OE/Energy/DOS, kuangliu-style CIFAR ResNet-18,
// torchvision ResNet-50), as printed by sum(p.numel() for p in net.parameters()).
func TestParamCountsMatchReference(t *testing.T) {
	cases := []struct {
		name    string
		outputs int
		input   [3]int
		want    int
	}{
		{"densenet-bc-100", 10, [3]int{32, 32, 3}, 769_162},
		{"densenet-bc-100", 101, [3]int{32, 32, 3}, 800_375},
		{"wrn-40-2", 10, [3]int{32, 32, 3}, 2_243_546},
		{"wrn-40-2", 101, [3]int{32, 32, 3}, 2_255_285},
		{"wrn-40-4", 10, [3]int{32, 32, 3}, 8_949_210},
		{"wrn-40-4", 101, [3]int{32, 32, 3}, 8_972_597},
		{"resnet18", 10, [3]int{32, 32, 3}, 11_173_962},
		{"resnet18", 100, [3]int{32, 32, 3}, 11_220_132},
		{"resnet50", 1000, [3]int{64, 64, 3}, 25_557_032},
		{"resnet50", 1001, [3]int{64, 64, 3}, 25_559_081},
	}
	for _, c := range cases {
		arch, err := Lookup(c.name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := CountParams(arch, c.outputs, c.input)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got != c.want {
			t.Errorf("%s with %d outputs: %d trainable parameters, want %d", c.name, c.outputs, got, c.want)
		}
	}
}

func TestLookup(t *testing.T) {
	for _, name := range Names() {
		arch, err := Lookup(name)
		if err != nil {
			t.Fatalf("Lookup(%q) of a listed name: %v", name, err)
		}
		if arch.Name != name || arch.Build == nil || arch.FeatureSize == nil {
			t.Errorf("Lookup(%q) = %+v, incomplete", name, arch)
		}
	}
	features := map[string]int{"densenet-bc-100": 342, "wrn-40-2": 128, "wrn-40-4": 256, "wrn-16-8": 512,
		"resnet18": 512, "resnet50": 2048, "small-cnn": 32, "mlp": 64}
	for name, want := range features {
		arch, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := arch.FeatureSize(10); got != want {
			t.Errorf("%s: FeatureSize = %d, want %d", name, got, want)
		}
	}
	for _, bad := range []string{"densenet", "wrn-41-2", "wrn-4-2", "wrn-40-0", "wrn-40", "wrn-a-b", "ResNet18", ""} {
		_, err := Lookup(bad)
		if err == nil {
			t.Errorf("Lookup(%q) succeeded", bad)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || !strings.Contains(msg, strconv.Quote(bad)) {
			t.Errorf("Lookup(%q): error %q should be one line naming the value", bad, msg)
		}
	}
	_, err := Lookup("vgg16")
	for _, accepted := range []string{"densenet-bc-100", "wrn-D-K", "resnet18", "resnet50", "small-cnn", "mlp"} {
		if !strings.Contains(err.Error(), accepted) {
			t.Errorf("unknown-name error %q does not list %s", err, accepted)
		}
	}
}

// Any valid WRN depth and width gets the parameter count of the formula for
// the reference WideResNet (pre-activation basic blocks, 1x1 shortcut when the
// width changes, BN scale and offset, linear layer with bias).
func TestWRNParamsFormula(t *testing.T) {
	for _, c := range [][2]int{{10, 1}, {16, 4}, {28, 10}} {
		depth, k := c[0], c[1]
		n := (depth - 4) / 6
		want := 3 * 9 * 16 // first conv
		in := 16
		for _, ch := range []int{16 * k, 32 * k, 64 * k} {
			for i := 0; i < n; i++ {
				want += 2*in + 9*in*ch + 2*ch + 9*ch*ch // bn1, conv1, bn2, conv2
				if in != ch {
					want += in * ch
				}
				in = ch
			}
		}
		want += 2*in + in*10 + 10 // final bn, fc
		name := "wrn-" + strconv.Itoa(depth) + "-" + strconv.Itoa(k)
		arch, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := CountParams(arch, 10, [3]int{8, 8, 3})
		if err != nil || got != want {
			t.Errorf("%s: %d parameters (err %v), want %d", name, got, err, want)
		}
	}
}

func TestCountParamsErrors(t *testing.T) {
	arch, err := Lookup("resnet50")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CountParams(arch, 0, [3]int{64, 64, 3}); err == nil {
		t.Error("CountParams with 0 outputs succeeded")
	}
	if _, err := CountParams(arch, 10, [3]int{0, 64, 3}); err == nil {
		t.Error("CountParams with a zero input side succeeded")
	}
	dense, err := Lookup("densenet-bc-100")
	if err != nil {
		t.Fatal(err)
	}
	// The second transition's 2x2 average pool cannot apply to 1x1 maps.
	if _, err := CountParams(dense, 10, [3]int{2, 2, 3}); err == nil {
		t.Error("CountParams of densenet-bc-100 on a 2x2 input succeeded")
	} else if !strings.Contains(err.Error(), "densenet-bc-100") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q should be one line naming the network", err)
	}
}

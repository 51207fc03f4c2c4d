package models

import (
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

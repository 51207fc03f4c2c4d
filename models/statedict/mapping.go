package statedict

// Which variable of a network is which key of the official PyTorch code's state dict.
//
// The variables are not listed here: Mapping builds the network once (on the pure-Go backend,
// nothing runs) and enumerates the variables it creates, then names each with the rules of
// its network. A variable no rule names, or two variables with one key, is an error, so a
// change to a network's variables cannot go unnoticed; the tests also compare the keys with
// those of the official code (testdata/pytorch_goldens.json).

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/pkg/core/dtypes"

	"github.com/oodlab/dos/models"
	"github.com/oodlab/dos/models/nn"
)

// Layout says how a variable's array relates to its PyTorch tensor.
type Layout int

const (
	// Same: the same shape and element order (biases, batch-norm parameters and statistics).
	Same Layout = iota
	// Conv: the variable is [kh, kw, in, out] (HWIO, nn.Conv2D), the tensor [out, in, kh, kw]
	// (OIHW, torch.nn.Conv2d).
	Conv
	// Dense: the variable is [in, out] (nn.Dense), the tensor [out, in] (torch.nn.Linear).
	Dense
	// Counter: a batch norm's num_batches_tracked, an int64 scalar with no variable here.
	// Export writes 0 (the project's batch norm, like PyTorch's with its default momentum,
	// does not use it); Import checks its shape and ignores it, and accepts a state dict
	// without it (as PyTorch < 0.4.1 wrote them).
	Counter
)

// Entry is one key of a network's state dict and the variable it holds.
type Entry struct {
	// Key is the PyTorch key, e.g. "block1.layer.0.bn1.running_var".
	Key string
	// Scope is the variable's scope relative to the network's ("/block1/layer0/bn1") and Name
	// its name ("running_var"); both are empty for a Counter.
	Scope, Name string
	Layout      Layout
	// Shape is the PyTorch tensor's shape, VarShape the variable's (nil for a Counter).
	Shape, VarShape []int
	// DType is the variable's (Float32 for the networks here), or Int64 for a Counter.
	DType DType
	// Trainable is the variable's flag (false for the batch-norm statistics).
	Trainable bool
}

// rule names the modules of one scope pattern: the variable scope (relative, without the
// leading "/") matched by re becomes the PyTorch module path module (with $1... from re).
type rule struct {
	re     *regexp.Regexp
	module string
}

func r(pattern, module string) rule { return rule{regexp.MustCompile("^" + pattern + "$"), module} }

// naming is a network's (or a family's) naming of the official code.
type naming struct {
	// name is the network's registry name, or for a family the prefix of its names.
	name   string
	family bool
	rules  []rule
}

// namings are the official code's names for each network's variables (see models/*.go for
// the scopes). Every rule was written from the reference definitions and is checked against
// them by the tests.
var namings = []naming{
	// DenseNet3 of github.com/lygjwy/DOS models/densenet.py (the DenseNet-BC-100 of OE and
	// Energy): conv1; block<b>.layer.<l>.{bn1,conv1,bn2,conv2} (BottleneckBlock in a
	// Sequential); trans<t>.{bn1,conv1}; bn1; linear.
	{name: "densenet-bc-100", rules: []rule{
		r(`conv1`, "conv1"),
		r(`block(\d+)/layer(\d+)/(bn1|conv1|bn2|conv2)`, "block$1.layer.$2.$3"),
		r(`trans(\d+)/bn`, "trans$1.bn1"),
		r(`trans(\d+)/conv`, "trans$1.conv1"),
		r(`bn`, "bn1"),
		r(`fc`, "linear"),
	}},
	// WideResNet of github.com/hendrycks/outlier-exposure CIFAR/models/wrn.py: conv1;
	// block<g>.layer.<b>.{bn1,conv1,bn2,conv2,convShortcut} (BasicBlock in a NetworkBlock's
	// Sequential); bn1; fc. (The DOS repository's own Wide_ResNet, models/wide_resnet.py, is
	// another network: biases on every convolution, the stride on conv2, the shortcut on the
	// raw input. Its state dicts do not fit wrn-D-K and are refused.)
	{name: "wrn-", family: true, rules: []rule{
		r(`conv1`, "conv1"),
		r(`group(\d+)/block(\d+)/(bn1|conv1|bn2|conv2)`, "block$1.layer.$2.$3"),
		r(`group(\d+)/block(\d+)/shortcut`, "block$1.layer.$2.convShortcut"),
		r(`bn`, "bn1"),
		r(`fc`, "fc"),
	}},
	// ResNet18 of github.com/kuangliu/pytorch-cifar models/resnet.py: conv1, bn1;
	// layer<s>.<b>.{conv1,bn1,conv2,bn2,shortcut.0,shortcut.1}; linear.
	{name: "resnet18", rules: []rule{
		r(`conv1`, "conv1"),
		r(`conv1_bn`, "bn1"),
		r(`layer(\d+)/block(\d+)/conv(\d+)`, "layer$1.$2.conv$3"),
		r(`layer(\d+)/block(\d+)/conv(\d+)_bn`, "layer$1.$2.bn$3"),
		r(`layer(\d+)/block(\d+)/shortcut`, "layer$1.$2.shortcut.0"),
		r(`layer(\d+)/block(\d+)/shortcut_bn`, "layer$1.$2.shortcut.1"),
		r(`fc`, "linear"),
	}},
	// torchvision.models.resnet50: conv1, bn1;
	// layer<s>.<b>.{conv1,bn1,conv2,bn2,conv3,bn3,downsample.0,downsample.1}; fc.
	{name: "resnet50", rules: []rule{
		r(`conv1`, "conv1"),
		r(`conv1_bn`, "bn1"),
		r(`layer(\d+)/block(\d+)/conv(\d+)`, "layer$1.$2.conv$3"),
		r(`layer(\d+)/block(\d+)/conv(\d+)_bn`, "layer$1.$2.bn$3"),
		r(`layer(\d+)/block(\d+)/shortcut`, "layer$1.$2.downsample.0"),
		r(`layer(\d+)/block(\d+)/shortcut_bn`, "layer$1.$2.downsample.1"),
		r(`fc`, "fc"),
	}},
}

// Networks lists the networks with a PyTorch naming ("wrn-D-K" for the family).
func Networks() []string {
	var out []string
	for _, n := range namings {
		if n.family {
			out = append(out, n.name+"D-K")
		} else {
			out = append(out, n.name)
		}
	}
	return out
}

func namingOf(network string) (naming, error) {
	for _, n := range namings {
		if n.name == network || n.family && strings.HasPrefix(network, n.name) {
			return n, nil
		}
	}
	return naming{}, fmt.Errorf("statedict: no PyTorch naming for network %q; supported: %s", network, strings.Join(Networks(), ", "))
}

// paramName is the PyTorch parameter or buffer name of each variable name of package nn.
var paramName = map[string]string{
	nn.WeightsVar:     "weight",
	nn.BiasesVar:      "bias",
	nn.ScaleVar:       "weight",
	nn.OffsetVar:      "bias",
	nn.RunningMeanVar: "running_mean",
	nn.RunningVarVar:  "running_var",
}

// Mapping returns the state dict keys of network with numOutputs outputs, in the order of the
// official code's state_dict(), each with the variable it holds.
func Mapping(network string, numOutputs int) ([]Entry, error) {
	nm, err := namingOf(network)
	if err != nil {
		return nil, err
	}
	arch, err := models.Lookup(network)
	if err != nil {
		return nil, err
	}
	vars, err := variables(arch, numOutputs)
	if err != nil {
		return nil, err
	}
	var out []Entry
	seen := map[string]string{}
	add := func(e Entry) error {
		if prev, dup := seen[e.Key]; dup {
			return fmt.Errorf("statedict: %s: variables %s and %s both map to key %q", network, prev, e.Scope+"/"+e.Name, e.Key)
		}
		seen[e.Key] = e.Scope + "/" + e.Name
		out = append(out, e)
		return nil
	}
	for _, v := range vars {
		rel := strings.TrimPrefix(v.scope, "/")
		module := ""
		for _, rl := range nm.rules {
			if m := rl.re.FindStringSubmatchIndex(rel); m != nil {
				module = string(rl.re.ExpandString(nil, rl.module, rel, m))
				break
			}
		}
		param, ok := paramName[v.name]
		if module == "" || !ok {
			return nil, fmt.Errorf("statedict: %s: variable %s/%s has no PyTorch name (add a rule to namings in models/statedict/mapping.go)", network, v.scope, v.name)
		}
		e := Entry{Key: module + "." + param, Scope: v.scope, Name: v.name, VarShape: v.dims, Shape: v.dims, DType: v.dtype, Trainable: v.trainable}
		if v.name == nn.WeightsVar {
			switch len(v.dims) {
			case 4: // [kh, kw, in, out] -> [out, in, kh, kw]
				e.Layout, e.Shape = Conv, []int{v.dims[3], v.dims[2], v.dims[0], v.dims[1]}
			case 2: // [in, out] -> [out, in]
				e.Layout, e.Shape = Dense, []int{v.dims[1], v.dims[0]}
			default:
				return nil, fmt.Errorf("statedict: %s: weights %s/%s of rank %d", network, v.scope, v.name, len(v.dims))
			}
		}
		if err := add(e); err != nil {
			return nil, err
		}
		if v.name == nn.RunningVarVar {
			if err := add(Entry{Key: module + ".num_batches_tracked", Layout: Counter, Shape: []int{}, DType: Int64}); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

type variable struct {
	scope, name string
	dims        []int
	dtype       DType
	trainable   bool
}

// variables lists the variables of arch with numOutputs outputs, in creation order
// (models.BuildVariables).
func variables(arch models.Arch, numOutputs int) ([]variable, error) {
	// 32x32 is enough for every stride here; the variables do not depend on the spatial size.
	ctx, err := models.BuildVariables(arch, numOutputs, [3]int{32, 32, arch.InputShape[2]})
	if err != nil {
		return nil, fmt.Errorf("statedict: %w", err)
	}
	var vars []variable
	for v := range ctx.IterVariables() {
		var dt DType
		switch v.Shape().DType {
		case dtypes.Float32:
			dt = Float32
		case dtypes.Float64:
			dt = Float64
		default:
			return nil, fmt.Errorf("statedict: %s: variable %s has dtype %s", arch.Name, v.ScopeAndName(), v.Shape().DType)
		}
		vars = append(vars, variable{scope: v.Scope(), name: v.Name(), dims: slices.Clone(v.Shape().Dimensions), dtype: dt, trainable: v.Trainable})
	}
	return vars, nil
}

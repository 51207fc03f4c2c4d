"""Goldens of package statedict from the official PyTorch networks (PyTorch 1.13, Debian's
python3-torch, and python3-torchvision for ResNet-50). Run from the repository root with the
system Python.

Generate (writes models/statedict/testdata/pytorch_goldens.json and torch_small*.pth):

    git -C DOS_MIRROR worktree add /tmp/dos-official 47ba80f
    git -C OE_MIRROR worktree add --no-checkout /tmp/oe-official e6ede98
    git -C /tmp/oe-official checkout e6ede98 -- CIFAR/models/wrn.py
    git -C CIFAR_MIRROR worktree add /tmp/cifar-official 49b7aa9
    /usr/bin/python3 models/statedict/testdata/gen_goldens.py \
        --dos /tmp/dos-official --oe /tmp/oe-official --cifar /tmp/cifar-official \
        [--save-pth /tmp/formula.pth]

  --dos    a checkout of github.com/lygjwy/DOS at 47ba80f: DenseNet3 (models/densenet.py)
  --oe     a checkout of github.com/hendrycks/outlier-exposure at e6ede98: WideResNet
           (CIFAR/models/wrn.py), the architecture of the project's wrn-D-K
  --cifar  a checkout of github.com/kuangliu/pytorch-cifar at 49b7aa9: ResNet18
           (models/resnet.py), the CIFAR ResNet-18 of the project's resnet18
  torchvision.models.resnet50 gives ResNet-50's keys.

The script refuses a checkout at another commit or with the file it loads modified. Nothing
of the official code is copied here: it is loaded from the checkouts.

The goldens: for each network the state dict's keys in order with shapes and dtypes; for
DenseNet3(depth=100, num_classes=11), WideResNet(16, 10, widen_factor=1), ResNet18() and
resnet50(num_classes=1000), filled with the formula below (formula_state_dict), the logits and
penultimate features (the last linear layer's input) in eval mode on a formula-defined batch of
2 images 32x32x3. The Go test (statedict_test.go, TestForwardMatchesPyTorch) rebuilds the same
state dicts in Go, imports them and compares. --save-pth also writes DenseNet3's with
torch.save (about 3 MB, so not kept in the repository).

Check exports of the Go side (the reverse direction):

    go run ./tools/weights import /tmp/formula.pth --network densenet-bc-100 --out /tmp/formula.ckpt
    go run ./tools/weights export /tmp/formula.ckpt --network densenet-bc-100 --out /tmp/exported.pth
    go run ./tools/weights export /tmp/formula.ckpt --network densenet-bc-100 --out /tmp/exported.safetensors
    STATEDICT_EXPORT_DIR=/tmp/goexport go test -run TestExportForPyTorch ./models/statedict
    /usr/bin/python3 models/statedict/testdata/gen_goldens.py --dos /tmp/dos-official \
        --check-export /tmp/exported.pth --check-export /tmp/exported.safetensors --check-go /tmp/goexport

loads each file into DenseNet3(depth=100, num_classes=11) with load_state_dict(strict=True)
(a .pth with torch.load(weights_only=True)). The exports of the formula state dict must give
the goldens' logits and hold the formula's tensors; the Go-initialised network of
TestExportForPyTorch must give the logits and features the Go side computed. The outcome goes
to testdata/export_check.json. The Python safetensors package is not on this machine (and
PyPI cannot be reached), so a .safetensors is read with a few lines of json + numpy following
the published format instead.
"""
import argparse
import collections
import json
import math
import os
import subprocess
import sys
import importlib.util

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDENS = os.path.join(HERE, "pytorch_goldens.json")
CHECK = os.path.join(HERE, "export_check.json")

PINS = {
    "dos": ("47ba80f71ee845157ec38c12bc6c15d64038ee47", "models/densenet.py"),
    "oe": ("e6ede98a5474a0620d9befa50b38eaf584df4401", "CIFAR/models/wrn.py"),
    "cifar": ("49b7aa97b0c12fe0d4054e670403a16b6b834ddd", "models/resnet.py"),
}

DENSENET_CLASSES = 11


def git(checkout, *args):
    return subprocess.run(["git", "-C", checkout] + list(args), check=True, capture_output=True, text=True).stdout.strip()


def load_official(which, checkout):
    """Imports the pinned file of a checkout, refusing any other commit or a modified file."""
    commit, rel = PINS[which]
    head = git(checkout, "rev-parse", "HEAD")
    if head != commit:
        sys.exit(f"{checkout}: at commit {head}, want {commit} (git -C {checkout} checkout {commit[:7]})")
    path = os.path.join(checkout, rel)
    if git(checkout, "hash-object", rel) != git(checkout, "rev-parse", f"HEAD:{rel}"):
        sys.exit(f"{path}: differs from commit {commit[:7]}")
    spec = importlib.util.spec_from_file_location(f"official_{which}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def formula_state_dict(template):
    """The deterministic weights: the i-th element (row-major, PyTorch layout) of the k-th
    tensor of the state dict (k counts every key, in state-dict order), with s = sin(1.3 i + k)
    computed in float64 and rounded to the tensor's dtype:
      num_batches_tracked: k;  running_var: 0.5 + 0.25 (1 + s);
      rank >= 2 (conv, linear weights): s / sqrt(fan_in), fan_in = numel / shape[0];
      other .weight (batch-norm scale): 1 + 0.2 s;  anything else (biases, running_mean): 0.05 s.
    """
    out = collections.OrderedDict()
    for k, (key, t) in enumerate(template.items()):
        n = t.numel()
        s = torch.sin(1.3 * torch.arange(n, dtype=torch.float64) + k)
        if key.endswith("num_batches_tracked"):
            v = torch.tensor(k, dtype=torch.int64)
        elif key.endswith("running_var"):
            v = 0.5 + 0.25 * (1 + s)
        elif t.dim() >= 2:
            v = s / math.sqrt(n / t.shape[0])
        elif key.endswith(".weight"):
            v = 1 + 0.2 * s
        else:
            v = 0.05 * s
        out[key] = v.to(t.dtype).reshape(t.shape)
    return out


def formula_batch():
    """x[n, c, h, w] = sin(0.37 h + 0.23 w + 1.1 c + 2 n), 2 images 3x32x32 (NCHW here, NHWC in Go)."""
    n, c, h, w = torch.meshgrid(*[torch.arange(d, dtype=torch.float64) for d in (2, 3, 32, 32)], indexing="ij")
    return torch.sin(0.37 * h + 0.23 * w + 1.1 * c + 2.0 * n).to(torch.float32)


def key_list(model):
    return [[k, list(t.shape), str(t.dtype).replace("torch.", "")] for k, t in model.state_dict().items()]


def densenet(dos):
    return load_official("dos", dos).DenseNet3(depth=100, num_classes=DENSENET_CLASSES).eval()


def forward(net, classifier):
    """Logits and penultimate features (the input of the last linear layer) in eval mode."""
    feats = []
    hook = classifier.register_forward_hook(lambda mod, inp, out: feats.append(inp[0].detach().clone()))
    with torch.no_grad():
        logits = net.eval()(formula_batch())
    hook.remove()
    return logits, feats[0]


def generate(args):
    wrn_mod = load_official("oe", args.oe)
    cifar_mod = load_official("cifar", args.cifar)
    import torchvision

    # name@outputs -> (network, its last linear layer); the formula goldens run all of them.
    nets = collections.OrderedDict()
    net = densenet(args.dos)
    nets["densenet-bc-100@11"] = (net, net.linear)
    net = wrn_mod.WideResNet(40, 10, widen_factor=4)
    nets["wrn-40-4@10"] = (net, net.fc)
    net = wrn_mod.WideResNet(16, 10, widen_factor=1)
    nets["wrn-16-1@10"] = (net, net.fc)
    net = cifar_mod.ResNet18()
    nets["resnet18@10"] = (net, net.linear)
    net = torchvision.models.resnet50(num_classes=1000)
    nets["resnet50@1000"] = (net, net.fc)

    keys = collections.OrderedDict()
    formula = collections.OrderedDict()
    for name, (net, classifier) in nets.items():
        keys[name] = key_list(net)
        if name == "wrn-40-4@10":
            continue  # wrn-16-1 runs the same code, faster
        sd = formula_state_dict(net.state_dict())
        net.load_state_dict(sd, strict=True)
        logits, feats = forward(net, classifier)
        formula[name] = {
            "logits": [[float(v) for v in row] for row in logits],
            "features": [[float(v) for v in row] for row in feats],
        }
        print(f"  {name}: {len(keys[name])} keys, logits[0][:3] = {logits[0][:3].tolist()}, |features| max {feats.abs().max().item():.4g}")
        if name == "densenet-bc-100@11" and args.save_pth:
            torch.save(sd, args.save_pth)
            print(f"wrote {args.save_pth} ({os.path.getsize(args.save_pth)} bytes): the formula state dict of DenseNet3, torch.save")

    goldens = {
        "generated_by": "models/statedict/testdata/gen_goldens.py",
        "torch_version": torch.__version__,
        "official": {
            "densenet-bc-100": "github.com/lygjwy/DOS@" + PINS["dos"][0] + " models/densenet.py DenseNet3(depth=100, num_classes=11)",
            "wrn-D-K": "github.com/hendrycks/outlier-exposure@" + PINS["oe"][0] + " CIFAR/models/wrn.py WideResNet(depth, 10, widen_factor=K)",
            "resnet18": "github.com/kuangliu/pytorch-cifar@" + PINS["cifar"][0] + " models/resnet.py ResNet18()",
            "resnet50": "torchvision " + torchvision.__version__ + " resnet50(num_classes=1000)",
        },
        "formula": formula,
        "keys": keys,
    }
    with open(GOLDENS, "w") as f:
        json.dump(goldens, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {GOLDENS}")
    write_small_files()


def write_small_files():
    """Tiny files torch.save writes, for the reader's tests: every dtype, a transposed
    (non-contiguous) tensor, a slice sharing its storage, a scalar; the new (zip) format
    wrapped as the DOS trainer saves ({'epoch', 'arch', 'state_dict', 'cla_acc'}) and the
    legacy format. Values: (i % 7) * 0.5 - 1.25 for the i-th element, as the Go test expects."""
    def vals(n, dtype):
        return torch.tensor([(i % 7) * 0.5 - 1.25 for i in range(n)], dtype=torch.float64).to(dtype)

    base = vals(10, torch.float32)
    sd = collections.OrderedDict()
    sd["f32"] = vals(6, torch.float32).reshape(2, 3)
    sd["f32_t"] = vals(6, torch.float32).reshape(2, 3).t()  # shape [3, 2], strides (1, 3)
    sd["f64"] = vals(3, torch.float64)
    sd["f16"] = vals(4, torch.float16)
    sd["bf16"] = vals(4, torch.bfloat16)
    sd["i64_scalar"] = torch.tensor(7, dtype=torch.int64)
    sd["i32"] = torch.tensor([[1, -2], [3, -4]], dtype=torch.int32)
    sd["u8"] = torch.tensor([0, 7, 255], dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False])
    sd["base"] = base
    sd["slice"] = base[3:7]  # storage offset 3, shared with base
    torch.save({"epoch": 3, "arch": "densenet101", "state_dict": sd, "cla_acc": 93.5}, os.path.join(HERE, "torch_small.pth"))
    legacy = collections.OrderedDict((k, v.clone()) for k, v in sd.items() if k in ("f32", "f64", "i64_scalar"))
    torch.save(legacy, os.path.join(HERE, "torch_small_legacy.pth"), _use_new_zipfile_serialization=False)
    print("wrote torch_small.pth, torch_small_legacy.pth")


def read_safetensors(path):
    """A .safetensors file read with json + numpy, following the format's specification (an
    8-byte little-endian header length, a JSON header, the data), for want of the package."""
    import numpy as np
    dtypes = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8, "BOOL": np.bool_}
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    data = raw[8 + n:]
    sd = collections.OrderedDict()
    for key, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=np.dtype(dtypes[info["dtype"]]).newbyteorder("<")).reshape(info["shape"])
        sd[key] = torch.from_numpy(arr.copy())
    return sd


def load_any(path):
    """A state dict from a .pth (torch.load with weights_only=True) or a .safetensors file."""
    if path.endswith(".safetensors"):
        return read_safetensors(path), "json+numpy reader (no safetensors package here), load_state_dict(strict=True)"
    return torch.load(path, weights_only=True), "torch.load(weights_only=True), load_state_dict(strict=True)"


def check_export(args):
    with open(GOLDENS) as f:
        goldens = json.load(f)
    results = []
    # Files exported by the command from a checkpoint holding the formula state dict: the same
    # logits as the goldens, the same tensors as the formula.
    want_logits = torch.tensor(goldens["formula"]["densenet-bc-100@11"]["logits"], dtype=torch.float64)
    for path in args.check_export or []:
        net = densenet(args.dos)
        want_sd = formula_state_dict(net.state_dict())
        sd, how = load_any(path)
        net.load_state_dict(sd, strict=True)  # raises on any missing or unexpected key or shape
        logits, _ = forward(net, net.linear)
        logit_diff = (logits.double() - want_logits).abs().max().item()
        tensor_diff = 0.0
        for key, want in want_sd.items():
            got = sd[key]
            if got.dtype != want.dtype or list(got.shape) != list(want.shape):
                sys.exit(f"{path}: {key}: {got.dtype} {list(got.shape)}, want {want.dtype} {list(want.shape)}")
            if key.endswith("num_batches_tracked"):
                continue  # the Go side keeps no count and exports 0
            tensor_diff = max(tensor_diff, (got.double() - want.double()).abs().max().item() if want.numel() else 0.0)
        passed = logit_diff <= 1e-4 and tensor_diff == 0.0
        results.append({"file": os.path.basename(path), "what": "formula state dict imported and exported by tools/weights",
                        "loaded_with": how, "keys": len(sd), "max_abs_logit_diff": logit_diff,
                        "max_abs_tensor_diff": tensor_diff, "passed": passed})
        print(json.dumps(results[-1]))
    # A network whose weights come from the Go side (statedict_test.go TestExportForPyTorch):
    # PyTorch's logits against Go's.
    if args.check_go:
        with open(os.path.join(args.check_go, "go_densenet.json")) as f:
            go = json.load(f)
        go_logits = torch.tensor(go["logits"], dtype=torch.float64).reshape(2, -1)
        go_feats = torch.tensor(go["features"], dtype=torch.float64).reshape(2, -1)
        for name in ("go_densenet.pth", "go_densenet.safetensors"):
            net = densenet(args.dos)
            sd, how = load_any(os.path.join(args.check_go, name))
            net.load_state_dict(sd, strict=True)
            logits, feats = forward(net, net.linear)
            logit_diff = (logits.double() - go_logits).abs().max().item()
            feat_diff = (feats.double() - go_feats).abs().max().item()
            scale = max(go_logits.abs().max().item(), 1.0)
            passed = logit_diff <= 1e-5 * scale and feat_diff <= 1e-5 * max(go_feats.abs().max().item(), 1.0)
            results.append({"file": name, "what": "densenet-bc-100 initialised and run on the Go side, exported by statedict.Export",
                            "loaded_with": how, "keys": len(sd), "max_abs_logit": go_logits.abs().max().item(),
                            "max_abs_logit_diff": logit_diff, "max_abs_feature_diff": feat_diff, "passed": passed})
            print(json.dumps(results[-1]))
    with open(CHECK, "w") as f:
        json.dump({"torch_version": torch.__version__, "network": "DenseNet3(depth=100, num_classes=11) of github.com/lygjwy/DOS@" + PINS["dos"][0][:7],
                   "results": results}, f, indent=1)
        f.write("\n")
    print(f"wrote {CHECK}")
    if not all(r["passed"] for r in results):
        sys.exit("FAILED")
    print("PASSED")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dos", required=True, help="checkout of github.com/lygjwy/DOS at 47ba80f")
    p.add_argument("--oe", help="checkout of github.com/hendrycks/outlier-exposure at e6ede98")
    p.add_argument("--cifar", help="checkout of github.com/kuangliu/pytorch-cifar at 49b7aa9")
    p.add_argument("--save-pth", help="also torch.save the formula state dict of DenseNet3 here")
    p.add_argument("--check-export", action="append", help="a .pth or .safetensors exported by go run ./tools/weights export")
    p.add_argument("--check-go", help="the folder STATEDICT_EXPORT_DIR of statedict_test.go's TestExportForPyTorch")
    args = p.parse_args()
    torch.manual_seed(0)
    if args.check_export or args.check_go:
        check_export(args)
        return
    if not args.oe or not args.cifar:
        p.error("generating the goldens needs --oe and --cifar")
    generate(args)


if __name__ == "__main__":
    main()

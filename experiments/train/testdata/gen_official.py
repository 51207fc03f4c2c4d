"""The differential harness: runs the official DOS code on fixed inputs and writes what it
computes to experiments/train/testdata/official.json, which the Go tests (official_test.go)
compare with this project's computation. Python is needed only to regenerate the file.

Run from the repository root with the system Python (PyTorch 1.13 and scikit-learn 1.2, Debian's
python3-torch and python3-sklearn):

    git -C DOS_MIRROR worktree add /tmp/dos-official 47ba80f
    git -C DOS_MIRROR worktree add --no-checkout /tmp/dos-2ca0913 2ca0913
    git -C /tmp/dos-2ca0913 checkout 2ca0913 -- train_dual_batch.py trainers utils/metrics.py
    /usr/bin/python3 experiments/train/testdata/gen_official.py \
        --dos /tmp/dos-official --dos-2ca0913 /tmp/dos-2ca0913

  --dos          a checkout of github.com/lygjwy/DOS at 47ba80f (HEAD): models/densenet.py,
                 train_diverse.py, detect.py
  --dos-2ca0913  a checkout of the same repository at 2ca0913, where the baselines' training
                 code lives: trainers/utils.py, train_dual_batch.py, utils/metrics.py

The script refuses a checkout at another commit or with a file it reads modified. Nothing of the
official code is copied into this repository: modules are imported from the checkouts, and the
two selection blocks of the training scripts (inside their main loops, so not callable) are read
from the checked-out files by line range, after checking the first and last line of each, and
executed on fixed inputs.

What it pins (all inputs are formulas or fixed seeds, so the Go side rebuilds them exactly):

1. selection/*: DOS's per-iteration selection of train_diverse.py (lines 152-184: p_abs,
   normalisation, K-means, the per-cluster pick, the fill-up) and of train_dual_batch.py
   (lines 178-213: the ood_ratio filter, raw features, one K-means restart, the member nearest
   each centroid), on a fixed block of candidate logits and features, with scikit-learn's
   KMeans started from given centroids (init=centroids, n_init=1) so that the Lloyd iterations
   and the picks must agree exactly. Cases: k = B, k < B (floor(B/k) per cluster), k > B.
2. losses/*: the loss of one step of the official trainers train_uni (OE, beta 0.5), train_abs
   (Share, NTOM and DOS, beta 1) and train_energy (beta 0.1, margins -25/-7) of
   trainers/utils.py, on fixed logits of an ID batch and an outlier batch.
3. sgd: one training step of DenseNet3(depth=100, num_classes=11) filled with the pseudo-random
   weights of models/statedict's Hashed (hashed_state_dict), by train_abs with the official optimiser
   (torch.optim.SGD, lr 0.1, momentum 0.9, Nesterov, weight decay 1e-4, as train_diverse.py
   builds it) on 4 ID images and 4 outliers: the loss, the logits before the step, and the
   weights and batch-norm statistics after it (full values of some tensors, sums and sums of
   squares of all); once in float32, as the official code runs, and once in float64, whose
   distance from the float32 run is the float32 rounding the Go test allows.
4. init: the standard deviation of every convolution of a freshly constructed DenseNet3.
5. normalization: datasets/__init__.py's mean and std of CIFAR-10 and CIFAR-100.
6. scores and metrics: detect.py's get_abs_score (float32 softmax, 1 - p_abs in float64) on
   fixed logits, and utils/metrics.py's compute_all_metrics (FPR95, AUROC, AUPR-In, AUPR-Out) on
   fixed score sets, ties included.
"""
import argparse
import importlib.util
import json
import math
import os
import random
import subprocess
import sys
import textwrap
import types

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "official.json")
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

COMMITS = {"dos": "47ba80f71ee845157ec38c12bc6c15d64038ee47", "dos-2ca0913": "2ca0913122947a25507f7a3d270d0e063730d412"}

# The selection blocks: file, first and last line (1-based, inclusive), and what those lines start with.
BLOCKS = {
    "diverse": ("dos", "train_diverse.py", 152, 184, "prob_ood = torch.softmax", "idxs_sampled.extend(random.sample"),
    "dual": ("dos-2ca0913", "train_dual_batch.py", 178, 213, "weights_candidate_ood = np.array", "idxs_sampled.extend(random.sample"),
}


def git(checkout, *args):
    return subprocess.run(["git", "-C", checkout] + list(args), check=True, capture_output=True, text=True).stdout.strip()


def check_file(checkout, which, rel):
    head = git(checkout, "rev-parse", "HEAD")
    if head != COMMITS[which]:
        sys.exit(f"{checkout}: at commit {head}, want {COMMITS[which]} (git -C {checkout} checkout {COMMITS[which][:7]})")
    if git(checkout, "hash-object", rel) != git(checkout, "rev-parse", f"HEAD:{rel}"):
        sys.exit(f"{os.path.join(checkout, rel)}: differs from commit {COMMITS[which][:7]}")
    return os.path.join(checkout, rel)


def load_module(checkout, which, rel, name):
    path = check_file(checkout, which, rel)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, checkout)  # for the file's own imports of the repository's packages
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(checkout)
    return mod


def block_code(checkouts, name):
    which, rel, first, last, starts, ends = BLOCKS[name]
    path = check_file(checkouts[which], which, rel)
    lines = open(path).read().split("\n")[first - 1:last]
    if not lines[0].strip().startswith(starts) or not lines[-1].strip().startswith(ends):
        sys.exit(f"{path}: lines {first}-{last} are not the selection block ({lines[0].strip()!r} ... {lines[-1].strip()!r})")
    return textwrap.dedent("\n".join(lines))


def splitmix64(x):
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def hashed_state_dict(template):
    """models/statedict's Hashed (formula.go): u = splitmix64(k<<32 + i)>>11 * 2^-53 for the i-th
    element of the k-th key; running_var 0.5 + u; rank >= 2: (2u - 1) sqrt(3/fan_in); other
    .weight 0.8 + 0.4u; the rest 0.1 (2u - 1); num_batches_tracked k. Well conditioned, unlike
    models/statedict's Formula (testdata/gen_goldens.py there), whose periodic kernels make the deep network's gradients explode."""
    out = {}
    with np.errstate(over="ignore"):
        for k, (key, t) in enumerate(template.items()):
            n = t.numel()
            h = splitmix64((np.uint64(k) << np.uint64(32)) + np.arange(n, dtype=np.uint64))
            u = torch.from_numpy((h >> np.uint64(11)).astype(np.float64) * 2.0 ** -53)
            if key.endswith("num_batches_tracked"):
                v = torch.tensor(k, dtype=torch.int64)
            elif key.endswith("running_var"):
                v = 0.5 + u
            elif t.dim() >= 2:
                v = (2 * u - 1) * math.sqrt(3 * t.shape[0] / n)
            elif key.endswith(".weight"):
                v = 0.8 + 0.4 * u
            else:
                v = 0.1 * (2 * u - 1)
            out[key] = v.to(t.dtype).reshape(t.shape)
    return out


def formula_images(n, h=32, w=32, c=3):
    """x[n, c, h, w] = sin(0.37 h + 0.23 w + 1.1 c + 2 n) (FormulaImages in Go, NHWC there)."""
    nn_, cc, hh, ww = torch.meshgrid(*[torch.arange(d, dtype=torch.float64) for d in (n, c, h, w)], indexing="ij")
    return torch.sin(0.37 * hh + 0.23 * ww + 1.1 * cc + 2.0 * nn_).to(torch.float32)


def floats(t):
    return [float(v) for v in torch.as_tensor(t).detach().flatten().tolist()]


class FixedInitKMeans:
    """scikit-learn's KMeans as the official code calls it, but started from given centroids with
    one restart (every other argument at its default: Lloyd, max_iter 300, tol 1e-4)."""
    init = None

    def __init__(self, n_clusters, n_init):
        self.km = KMeans(n_clusters=n_clusters, init=FixedInitKMeans.init, n_init=1)

    def fit(self, x):
        self.km.fit(x)
        self.labels_, self.cluster_centers_ = self.km.labels_, self.km.cluster_centers_
        # The block is compared with a fixed number of Lloyd iterations: require convergence
        # (labels that the final centres reproduce), not a stop on the tolerance.
        if not np.array_equal(self.km.predict(np.asarray(x, dtype=self.cluster_centers_.dtype)), self.labels_):
            sys.exit("K-means stopped on its tolerance before the labels converged: choose other inputs")
        return self


def selection_cases(checkouts):
    rng = np.random.default_rng(20241202)
    c, nout, d, b = 48, 11, 16, 8
    logits = rng.normal(0, 2, (c, nout)).astype(np.float32)
    feats = np.abs(rng.normal(0, 1, (c, d))).astype(np.float32) + (np.arange(c)[:, None] % 6 == np.arange(d)[None, :] % 6) * 1.5
    feats = feats.astype(np.float32)
    out = {"candidates": c, "outputs": nout, "dim": d, "ood_batch": b, "logits": floats(logits), "features": floats(feats), "cases": []}
    diverse, dual = block_code(checkouts, "diverse"), block_code(checkouts, "dual")
    for name, k, variant, init_rows in [("k=B", 8, "diverse", [0, 7, 14, 21, 28, 35, 42, 3]),
                                         ("k<B", 4, "diverse", [2, 13, 27, 40]),
                                         ("k>B", 12, "diverse", [1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41, 45]),
                                         ("dual", 8, "dual", [0, 4, 8, 12, 16, 20, 24, 28])]:
        random.seed(0)
        if variant == "diverse":
            x = F.normalize(torch.from_numpy(feats), dim=-1).numpy()
            FixedInitKMeans.init = x[init_rows]
            ns = {"torch": torch, "F": F, "np": np, "random": random, "KMeans": FixedInitKMeans,
                  "logits_batch_candidate_ood": torch.from_numpy(logits), "feats_batch_candidate_ood": torch.from_numpy(feats),
                  "args": types.SimpleNamespace(num_cluster=k, n_init=5), "batch_size_sampled_ood": b}
            exec(diverse, ns)
            sampled = [int(i) for i in ns["idxs_sampled"]]
            keep = c
        else:
            # The block gets p_abs and the raw features as get_weight(..., 'abs', ret_feat=True)
            # returns them: a float32 softmax's last column as Python floats.
            weights = torch.softmax(torch.from_numpy(logits), dim=1)[:, -1].tolist()
            ratio = 0.8
            keep = int(c * ratio)
            order = np.argsort(np.array(weights))
            FixedInitKMeans.init = feats[order[:keep]][init_rows]
            from scipy.spatial.distance import euclidean
            ns = {"np": np, "random": random, "KMeans": FixedInitKMeans, "euclidean": euclidean,
                  "weights_candidate_ood": weights, "feats_candidate_ood": torch.from_numpy(feats),
                  "args": types.SimpleNamespace(num_cluster=k, candidate_ood_size=c, ood_ratio=ratio), "batch_size_ood": b}
            exec(dual, ns)
            sampled = [int(i) for i in ns["idxs_sampled"]]
        picked = sampled  # every case fills its B slots from the clusters: no random fill-up
        labels = ns["kmeans"].labels_
        assert len(picked) == b
        out["cases"].append({"name": name, "variant": variant, "clusters": k, "keep": keep,
                             "init": floats(torch.from_numpy(np.asarray(FixedInitKMeans.init))), "picked": picked,
                             "cluster_sizes": np.bincount(labels, minlength=k).tolist()})
    return out


class FixedLogits(torch.nn.Module):
    """Returns the given logits whatever the batch, with a parameter for the trainers' backward."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.tensor(logits, dtype=torch.float32))

    def forward(self, x):
        return self.logits


class OneBatch(list):
    def __init__(self, batch, classes):
        super().__init__([batch])
        self.dataset = types.SimpleNamespace(classes=list(range(classes)))


class NoOpt:
    def zero_grad(self):
        pass

    def step(self):
        pass


def loss_cases(checkouts):
    trainers = load_module(checkouts["dos-2ca0913"], "dos-2ca0913", "trainers/utils.py", "official_trainers")
    rng = np.random.default_rng(7)
    k, nid, nood = 10, 6, 6
    out = {"classes": k, "id": nid, "ood": nood, "cases": []}
    labels = rng.integers(0, k, nid)
    for name, fn, outputs, beta in [("oe", trainers.train_uni, k, 0.5), ("energy", trainers.train_energy, k, 0.1),
                                    ("absent", trainers.train_abs, k + 1, 1.0)]:
        logits = (rng.normal(0, 3, (nid + nood, outputs))).astype(np.float32)
        if name == "energy":
            logits[:nid] += 8  # some ID energies above and below the margins
        net = FixedLogits(logits)
        batch_id = {"data": torch.zeros(nid, 1), "label": torch.tensor(labels, dtype=torch.long)}
        batch_ood = {"data": torch.zeros(nood, 1)}
        res = fn(OneBatch(batch_id, k), OneBatch(batch_ood, k), net, NoOpt(), NoOpt(), beta=beta)
        out["cases"].append({"loss": name, "weight": beta, "outputs": outputs, "logits": floats(logits),
                             "labels": [int(v) for v in labels], "total": res["cla_loss"]})
    return out


def sgd_case(checkouts):
    densenet = load_module(checkouts["dos"], "dos", "models/densenet.py", "official_densenet")
    trainers = load_module(checkouts["dos-2ca0913"], "dos-2ca0913", "trainers/utils.py", "official_trainers2")
    full = ["conv1.weight", "linear.bias", "bn1.weight", "bn1.running_mean", "bn1.running_var",
            "block1.layer.0.bn1.running_mean", "block1.layer.0.conv1.weight"]
    labels = torch.tensor([3, 1, 4, 1], dtype=torch.long)
    out = {"classes": 10, "labels": labels.tolist(), "lr": 0.1}
    # Once as the official code runs (float32), once in float64: the float32 run's distance from
    # the float64 one measures float32 rounding through 100 layers, the yardstick of the Go test.
    for suffix, dtype in (("", torch.float32), ("64", torch.float64)):
        net = densenet.DenseNet3(100, 11)
        net.load_state_dict(hashed_state_dict(net.state_dict()), strict=True)
        net = net.to(dtype)
        x = formula_images(8).to(dtype)
        with torch.no_grad():
            before = net.eval()(x[:4])
        # As train_diverse.py line 107 builds it: SGD over all parameters.
        opt = torch.optim.SGD(net.parameters(), lr=0.1, weight_decay=1e-4, momentum=0.9, nesterov=True)
        res = trainers.train_abs(OneBatch({"data": x[:4], "label": labels}, 10), OneBatch({"data": x[4:]}, 10), net, opt, NoOpt(), beta=1.0)
        sd = net.state_dict()
        out["loss" + suffix] = res["cla_loss"]
        out["logits_before" + suffix] = floats(before)
        out["after" + suffix] = {key: floats(sd[key]) for key in full}
        out["sums" + suffix] = {key: [float(v.double().sum()), float((v.double() ** 2).sum())] for key, v in sd.items()
                                if not key.endswith("num_batches_tracked")}
    return out


def init_case(checkouts):
    densenet = load_module(checkouts["dos"], "dos", "models/densenet.py", "official_densenet_init")
    torch.manual_seed(0)
    net = densenet.DenseNet3(100, 11)
    stds = {key: float(v.std()) for key, v in net.state_dict().items() if key.endswith(".weight") and v.dim() == 4}
    bound = 1 / math.sqrt(net.linear.in_features)
    lw = net.linear.weight
    return {"conv_std": stds, "linear_weight_max_abs": float(lw.abs().max()), "linear_bound": bound,
            "linear_bias_max_abs": float(net.linear.bias.abs().max())}


def normalization_cases(checkouts):
    """datasets/__init__.py's per-set mean and std, applied to every image of a run."""
    check_file(checkouts["dos"], "dos", "datasets/__init__.py")
    sys.path.insert(0, checkouts["dos"])
    try:
        datasets = importlib.import_module("datasets")
    finally:
        sys.path.remove(checkouts["dos"])
    out = {}
    for name in ("cifar10", "cifar100"):
        mean, std = datasets.get_ds_info(name, "mean_and_std")
        out[name] = {"mean": list(mean), "std": list(std)}
    return out


def score_cases(checkouts):
    detect = load_module(checkouts["dos"], "dos", "detect.py", "official_detect")
    metrics = load_module(checkouts["dos-2ca0913"], "dos-2ca0913", "utils/metrics.py", "official_metrics")
    # Logits with p_abs from 0.9 down to about 1e-30.
    rows = []
    for a in [-2.0, 0.0, 1.5, 5.0, 12.0, 17.0, 20.0, 30.0, 45.0, 70.0]:
        rows.append([0.3, -0.2, 0.1, 0.0, -a])
    logits = torch.tensor(rows, dtype=torch.float32)
    class Clf:
        def eval(self):
            pass

        def __call__(self, x):
            return logits

    scores = detect.get_abs_score([{"data": torch.zeros(len(rows), 1)}], Clf())
    rng = np.random.default_rng(11)
    sets = []
    for n_id, n_ood, ties in [(40, 30, False), (57, 23, True), (20, 20, True)]:
        s_id = rng.normal(1, 1, n_id)
        s_ood = rng.normal(0, 1, n_ood)
        if ties:
            s_id = np.round(s_id * 2) / 2
            s_ood = np.round(s_ood * 2) / 2
        score = np.concatenate([s_id, s_ood])
        label = np.concatenate([np.ones(n_id), np.zeros(n_ood)])
        fpr, auroc, aupr_in, aupr_out = metrics.compute_all_metrics(score, label)
        sets.append({"id": s_id.tolist(), "ood": s_ood.tolist(), "fpr95": float(fpr), "auroc": float(auroc),
                     "aupr_in": float(aupr_in), "aupr_out": float(aupr_out)})
    return {"absent_logits": floats(logits), "absent_scores": [float(s) for s in scores], "metric_sets": sets}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dos", required=True, help="checkout of github.com/lygjwy/DOS at 47ba80f")
    p.add_argument("--dos-2ca0913", required=True, help="checkout of github.com/lygjwy/DOS at 2ca0913")
    args = p.parse_args()
    # The official code calls .cuda() on its tensors: this machine has no GPU.
    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.nn.Module.cuda = lambda self, *a, **k: self
    checkouts = {"dos": args.dos, "dos-2ca0913": getattr(args, "dos_2ca0913")}
    torch.manual_seed(0)
    out = {"generator": "experiments/train/testdata/gen_official.py", "commits": COMMITS,
           "torch": torch.__version__, "sklearn": __import__("sklearn").__version__,
           "selection": selection_cases(checkouts), "losses": loss_cases(checkouts),
           "sgd": sgd_case(checkouts), "init": init_case(checkouts), "scores": score_cases(checkouts),
           "normalization": normalization_cases(checkouts)}
    with open(OUT, "w") as f:
        json.dump(out, f)
        f.write("\n")
    print("wrote", OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()

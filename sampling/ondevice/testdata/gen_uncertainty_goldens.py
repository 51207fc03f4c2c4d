"""Goldens for DOS's selection by another uncertainty than p_abs (sampling.Uncertainty*: energy,
maxlogit, msp), written to sampling/ondevice/testdata/uncertainty_goldens.json and read by
dos_uncertainty_test.go. Python is needed only to regenerate the file.

Run from the repository root with the system Python (PyTorch 1.13, scikit-learn 1.2, SciPy), with
the two checkouts of the official code that experiments/train/testdata/gen_official.py uses (see
its docstring for the git worktree commands):

    /usr/bin/python3 sampling/ondevice/testdata/gen_uncertainty_goldens.py \
        --dos /tmp/dos-official --dos-2ca0913 /tmp/dos-2ca0913

The helpers that check the checkouts (commit and unmodified files), import official modules and
cut the selection blocks out of the training scripts are gen_official.py's, imported from it.
Nothing of the official code is copied here.

What it pins, on one fixed block of 48 candidates of a network with K = 10 outputs (no absent
class), 16-dimensional features, an OOD batch of 8:

1. weights: the official out-of-distribution weights of scores/utils.py (47ba80f): get_energy_weight
   (-logsumexp of the logits) and get_msp_weight (1 - max softmax), through a stand-in data loader
   and network that return the fixed logits and features. maxlogit (-max logit) has no official
   function; it is computed with torch in float32 as the other two are.
2. cases: the per-iteration selection of the official scripts with those weights, K-means started
   from given centroids (gen_official.py's FixedInitKMeans: scikit-learn KMeans(init=centroids,
   n_init=1), converged):
   - diverse-<kind>: train_diverse.py's block (47ba80f, lines 152-184) with its p_abs
     (torch.softmax(logits)[:, -1]) replaced by the weight of <kind>: the block runs with a
     stand-in for torch whose softmax returns the weights as its last column. Everything else
     (normalisation, clustering, the per-cluster pick of the smallest weight) is the block's own.
     No released script does this; it is DOS's selection as the paper describes it, with the
     uncertainty that the method description allows where there is no absent class.
   - dual-energy: train_dual_batch.py's block (2ca0913, lines 178-213) with --weighting energy,
     as its own get_weight(..., 'energy', ret_feat=True) call would feed it: the 80% of lowest
     energy weight kept, raw features, one restart, the member nearest each centroid.
   Every case fills its 8 slots from the clusters (no random fill-up).
"""
import argparse
import importlib.util
import json
import os
import random
import sys
import types

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "uncertainty_goldens.json")
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


def load_gen_official():
    path = os.path.join(ROOT, "experiments", "train", "testdata", "gen_official.py")
    spec = importlib.util.spec_from_file_location("gen_official", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class FixedNet:
    """Stands in for the network in scores/utils.py: returns the fixed logits and features of the
    rows it is given."""

    def __init__(self, logits, feats):
        self.logits, self.feats = logits, feats

    def eval(self):
        return self

    def __call__(self, rows, ret_feat=False):
        if ret_feat:
            return self.logits[rows], self.feats[rows]
        return self.logits[rows]


class WeightsAsSoftmax:
    """Stands in for torch in train_diverse.py's selection block, whose only use of torch is
    prob_ood = torch.softmax(logits, dim=1), of which it reads the last column: returns the
    given weights there."""

    def __init__(self, weights):
        self.column = torch.tensor(weights, dtype=torch.float64)[:, None]

    def softmax(self, logits, dim):
        return self.column


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dos", required=True, help="checkout of github.com/lygjwy/DOS at 47ba80f")
    p.add_argument("--dos-2ca0913", required=True, help="checkout of github.com/lygjwy/DOS at 2ca0913")
    args = p.parse_args()
    go = load_gen_official()
    torch.Tensor.cuda = lambda self, *a, **k: self  # the official code calls .cuda(): no GPU here
    checkouts = {"dos": args.dos, "dos-2ca0913": getattr(args, "dos_2ca0913")}
    scores = go.load_module(checkouts["dos"], "dos", "scores/utils.py", "official_scores")

    rng = np.random.default_rng(20261202)
    c, nout, d, b = 48, 10, 16, 8
    logits = rng.normal(0, 2, (c, nout)).astype(np.float32)
    feats = np.abs(rng.normal(0, 1, (c, d))) + (np.arange(c)[:, None] % 6 == np.arange(d)[None, :] % 6) * 1.5
    feats = feats.astype(np.float32)
    net = FixedNet(torch.from_numpy(logits), torch.from_numpy(feats))
    loader = [{"data": torch.arange(c)}]
    weights = {
        "energy": scores.get_energy_weight(loader, net, True)[0],
        "msp": scores.get_msp_weight(loader, net, True)[0],
        "maxlogit": (-torch.from_numpy(logits).max(dim=1)[0]).tolist(),
    }
    out = {"generator": "sampling/ondevice/testdata/gen_uncertainty_goldens.py", "commits": go.COMMITS,
           "torch": torch.__version__, "sklearn": __import__("sklearn").__version__,
           "candidates": c, "outputs": nout, "dim": d, "ood_batch": b,
           "logits": go.floats(torch.from_numpy(logits)), "features": go.floats(torch.from_numpy(feats)),
           "weights": weights, "cases": []}
    diverse, dual = go.block_code(checkouts, "diverse"), go.block_code(checkouts, "dual")
    init_rows = [0, 7, 14, 21, 28, 35, 42, 3]
    for kind in ["energy", "maxlogit", "msp"]:
        random.seed(0)
        x = F.normalize(torch.from_numpy(feats), dim=-1).numpy()
        go.FixedInitKMeans.init = x[init_rows]
        ns = {"torch": WeightsAsSoftmax(weights[kind]), "F": F, "np": np, "random": random, "KMeans": go.FixedInitKMeans,
              "logits_batch_candidate_ood": torch.from_numpy(logits), "feats_batch_candidate_ood": torch.from_numpy(feats),
              "args": types.SimpleNamespace(num_cluster=b, n_init=5), "batch_size_sampled_ood": b}
        exec(diverse, ns)
        add_case(out, go, "diverse-" + kind, "diverse", kind, b, c, ns)
    # The dual-batch block as train_dual_batch.py --weighting energy feeds it.
    random.seed(0)
    ratio = 0.8
    keep = int(c * ratio)
    order = np.argsort(np.array(weights["energy"]))
    go.FixedInitKMeans.init = feats[order[:keep]][[0, 5, 10, 15, 20, 25, 30, 35]]
    from scipy.spatial.distance import euclidean
    ns = {"np": np, "random": random, "KMeans": go.FixedInitKMeans, "euclidean": euclidean,
          "weights_candidate_ood": weights["energy"], "feats_candidate_ood": torch.from_numpy(feats),
          "args": types.SimpleNamespace(num_cluster=b, candidate_ood_size=c, ood_ratio=ratio), "batch_size_ood": b}
    exec(dual, ns)
    add_case(out, go, "dual-energy", "dual", "energy", b, keep, ns)
    with open(OUT, "w") as f:
        json.dump(out, f)
        f.write("\n")
    print("wrote", OUT, os.path.getsize(OUT), "bytes")


def add_case(out, go, name, variant, kind, k, keep, ns):
    picked = [int(i) for i in ns["idxs_sampled"]]
    labels = ns["kmeans"].labels_
    sizes = np.bincount(labels, minlength=k)
    if len(picked) != out["ood_batch"] or (sizes == 0).any():
        sys.exit(f"{name}: a cluster is empty or the picks need a fill-up: choose other inputs")
    if variant == "dual" and (sizes == 2).any():
        # The two members of a cluster are equally far from its centroid: the pick is a tie that
        # only rounding decides (the official code breaks it by weight order, this project by row).
        sys.exit(f"{name}: a cluster of two members makes the nearest-centroid pick a tie: choose other inputs")
    out["cases"].append({"name": name, "variant": variant, "uncertainty": kind, "clusters": k, "keep": keep,
                         "init": go.floats(torch.from_numpy(np.asarray(go.FixedInitKMeans.init))), "picked": picked,
                         "cluster_sizes": sizes.tolist()})


if __name__ == "__main__":
    main()

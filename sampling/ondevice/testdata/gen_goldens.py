#!/usr/bin/env python3
"""Generates the K-means test data and scikit-learn reference inertias for package
sampling/ondevice.

Run from this directory with the system Python (numpy 1.24, scikit-learn 1.2):
    /usr/bin/python3 gen_goldens.py
Writes <name>.f32 (raw little-endian float32, row-major [n, d]) and kmeans_goldens.json.
The Go tests read these files; Python is not needed to run them.
"""
import json

import numpy as np
from sklearn.cluster import KMeans

SKLEARN_SEEDS = list(range(10))


def unit(a):
    return (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)


def datasets():
    rng = np.random.default_rng(20240501)
    out = {}
    # 64 well separated directions, 6 noisy points around each: known cluster structure.
    centres = unit(rng.standard_normal((64, 32)))
    pts = np.repeat(centres, 6, axis=0) + 0.06 * rng.standard_normal((384, 32))
    pts = pts[rng.permutation(384)]
    out["blobs_384x32"] = unit(pts)
    # Random unit vectors: no structure, the hard case for the inertia target.
    out["unit_384x32"] = unit(rng.standard_normal((384, 32)))
    # DOS shape: 384 candidates, 342-d DenseNet-BC-100 features (non-negative after ReLU+pool).
    feats = np.abs(rng.standard_normal((384, 342))) ** 2 * rng.uniform(0.5, 1.5, (384, 1))
    out["relu_384x342"] = unit(feats)
    return out


def main():
    goldens = {}
    for name, x in datasets().items():
        x.astype("<f4").tofile(name + ".f32")
        inertias = []
        iters = []
        for s in SKLEARN_SEEDS:
            km = KMeans(n_clusters=64, n_init=5, random_state=s).fit(x.astype(np.float64))
            inertias.append(float(km.inertia_))
            iters.append(int(km.n_iter_))
        goldens[name] = {
            "n": int(x.shape[0]),
            "d": int(x.shape[1]),
            "k": 64,
            "sklearn_inertia_mean": float(np.mean(inertias)),
            "sklearn_inertia_min": float(np.min(inertias)),
            "sklearn_inertia_max": float(np.max(inertias)),
            "sklearn_n_iter_max": int(np.max(iters)),
        }
        print(name, goldens[name])
    with open("kmeans_goldens.json", "w") as f:
        json.dump(goldens, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Generate the inputs and golden values of cluster_test.go.

Run from this directory with the Debian python (numpy 1.24, scikit-learn 1.2):
    /usr/bin/python3 gen_cluster.py
It writes cluster.json: each case holds points X (row-major, float64), and
  * for "labels" cases: labels and calinski_harabasz_score(X, labels);
  * for "selection" cases: the indices of the selected points, the labels of
    KMeans(n_clusters=len(selected), init=X[selected], n_init=1,
    max_iter=1).fit(X), and calinski_harabasz_score(X, those labels): the
    diversity measure of the DOS authors' analysis script (train_analysis.py,
    commit 2ca0913: the candidates labelled by one Lloyd step started at the
    selected outliers' features, then the Calinski-Harabasz index).
"""
import json

import numpy as np
import sklearn
from sklearn.cluster import KMeans
from sklearn.metrics import calinski_harabasz_score

rng = np.random.default_rng(20261202)
cases = []


def blobs(n, d, k, spread):
    centres = rng.normal(size=(k, d)) * 4
    who = rng.integers(0, k, size=n)
    return centres[who] + rng.normal(size=(n, d)) * spread


def add_labels(name, x, labels):
    cases.append({"name": name, "kind": "labels", "d": x.shape[1],
                  "x": x.ravel().tolist(), "labels": [int(v) for v in labels],
                  "ch": float(calinski_harabasz_score(x, labels))})


def add_selection(name, x, sel):
    km = KMeans(n_clusters=len(sel), init=x[sel], n_init=1, max_iter=1).fit(x)
    labels = km.labels_
    cases.append({"name": name, "kind": "selection", "d": x.shape[1],
                  "x": x.ravel().tolist(), "selected": [int(v) for v in sel],
                  "labels": [int(v) for v in labels],
                  "ch": float(calinski_harabasz_score(x, labels))})


# Labels given: blobs with their true labels, random labels, labels that are
# not 0..k-1, two clusters, one point per cluster but one.
x = blobs(60, 5, 4, 1.0)
add_labels("blobs-true-labels", x, rng.integers(0, 4, size=60))
x = blobs(80, 7, 6, 0.5)
add_labels("random-labels", x, rng.integers(0, 9, size=80))
x = rng.normal(size=(40, 3))
add_labels("sparse-label-values", x, rng.choice([3, 7, 42], size=40))
x = rng.normal(size=(30, 2))
add_labels("two-clusters", x, (x[:, 0] > 0).astype(int))
x = rng.normal(size=(12, 4))
add_labels("n-minus-1-clusters", x, [0, 0] + list(range(1, 11)))
# Identical points within each cluster: no within dispersion, index 1.
x = np.repeat(rng.normal(size=(3, 4)), 5, axis=0)
add_labels("zero-within", x, np.repeat([0, 1, 2], 5))

# Selections: a spread-out pick, a pick concentrated in one region (greedy
# sampling's failure mode), and shapes like the probe's (384 candidates, 64
# picks) at a small feature size.
x = blobs(120, 6, 8, 0.8)
add_selection("spread-pick", x, rng.choice(120, size=12, replace=False))
order = np.argsort(x[:, 0])
add_selection("concentrated-pick", x, order[:12])
x = blobs(384, 8, 20, 1.5)
add_selection("probe-shape", x, rng.choice(384, size=64, replace=False))
x = np.abs(rng.normal(size=(200, 10)))  # post-ReLU-like features
add_selection("relu-features", x, rng.choice(200, size=32, replace=False))

with open("cluster.json", "w") as f:
    json.dump({"sklearn": sklearn.__version__, "numpy": np.__version__, "cases": cases}, f)
print("wrote", len(cases), "cases with scikit-learn", sklearn.__version__)

#!/usr/bin/python3
"""Generates knn.json, the golden values of knn_test.go, with scikit-learn.

Run (from models/objectives/testdata):
  /usr/bin/python3 gen_knn.py
Tested with scikit-learn 1.2 and numpy 1.24. The KNN score of Sun et al. (ICML 2022, code
github.com/deeplearning-wisc/knn-ood, run_cifar.py): features normalised by x / (|x|_2 + 1e-10),
score = minus the squared Euclidean distance to the k-th nearest training feature. The
neighbours come from sklearn.neighbors.NearestNeighbors (brute force, float64), independently
of the Go code's |a|^2 + |b|^2 - 2 a.b expansion and quickselect.
"""
import json

import numpy as np
import sklearn
from sklearn.neighbors import NearestNeighbors

rng = np.random.default_rng(5022)


def normalise(x):
    return x / (np.linalg.norm(x, axis=-1, keepdims=True) + 1e-10)


D = 8
# Training features: post-ReLU-like blobs, plus one zero vector (dead features).
centres = np.abs(rng.normal(size=(5, D))) * 3
train = np.abs(centres[rng.integers(0, 5, size=200)] + rng.normal(size=(200, D)))
train[17] = 0
# Test features: near the blobs (ID-like), far from them (OOD-like), an exact copy of a
# training feature (distance 0 to its nearest neighbour), a scaled copy (same direction) and a
# zero vector.
test_id = np.abs(centres[rng.integers(0, 5, size=20)] + rng.normal(size=(20, D)))
test_ood = np.abs(rng.normal(size=(10, D))) * 5
test = np.concatenate([test_id, test_ood, train[3:4], 7 * train[40:41], np.zeros((1, D))])
# Round to float32 so that the Go test feeds the very same inputs.
train = train.astype(np.float32).astype(np.float64)
test = test.astype(np.float32).astype(np.float64)

cases = []
nn_index = NearestNeighbors(algorithm="brute").fit(normalise(train))
for k in [1, 5, 50, 200]:
    dist, _ = nn_index.kneighbors(normalise(test), n_neighbors=k)
    cases.append({"k": k, "scores": (-(dist[:, -1] ** 2)).tolist()})

with open("knn.json", "w") as f:
    json.dump({"sklearn": sklearn.__version__, "dim": D, "train": train.ravel().tolist(),
               "test": test.ravel().tolist(), "cases": cases}, f)
print("wrote knn.json:", len(train), "train,", len(test), "test,", len(cases), "values of k")

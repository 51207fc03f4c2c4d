#!/usr/bin/env python3
"""Write score files in every accepted format and the metrics scikit-learn
gives for them, for main_test.go. Run here with /usr/bin/python3 (numpy 1.24,
scikit-learn 1.2). Formulas as in experiments/metrics/testdata/gen_goldens.py.
"""
import json
import math

import numpy as np
from sklearn.metrics import (auc, average_precision_score,
                             precision_recall_curve, roc_auc_score, roc_curve)

rng = np.random.default_rng(7)
sid = np.round(rng.normal(1.0, 1.0, 300), 2).astype(np.float32)
sod = np.round(rng.normal(0.0, 1.0, 200), 2)  # float64

np.save("id_f32.npy", sid)
np.save("ood_f64.npy", sod)
np.save("id_col.npy", sid.reshape(-1, 1))
with open("ood.txt", "w") as f:
    f.write("# OOD scores, one per line\n")
    for v in sod:
        f.write(repr(float(v)) + "\n")
    f.write("\n")
np.save("labels_i8.npy", np.arange(10, dtype=np.int64))
with open("bad.txt", "w") as f:
    f.write("0.5\n0.25\nabc\n")

a = sid.astype(np.float64)
b = sod.astype(np.float64)
score = np.concatenate([a, b])
is_id = np.concatenate([np.ones(len(a)), np.zeros(len(b))])
n = max(1, int(math.floor(0.95 * len(a))))
thr = np.sort(a)[len(a) - n]
f, t, _ = roc_curve(1 - is_id, -score)
pi, ri, _ = precision_recall_curve(is_id, score)
po, ro, _ = precision_recall_curve(1 - is_id, -score)
exp = {
    "n_id": len(a), "n_ood": len(b),
    "fpr95": float(np.mean(b > thr)),
    "fpr95_threshold": float(thr),
    "fpr95_ood_positive": float(f[np.argmax(t >= 0.95)]),
    "auroc": float(roc_auc_score(is_id, score)),
    "aupr_in": float(auc(ri, pi)),
    "aupr_out": float(auc(ro, po)),
    "ap_in": float(average_precision_score(is_id, score)),
    "ap_out": float(average_precision_score(1 - is_id, -score)),
}
with open("expected.json", "w") as fh:
    json.dump(exp, fh, indent=1)
    fh.write("\n")

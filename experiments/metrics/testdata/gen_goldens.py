#!/usr/bin/env python3
"""Generate the score sets and golden metric values for metrics_test.go.

Run from this directory with the Debian python (numpy 1.24, scikit-learn 1.2):
    /usr/bin/python3 gen_goldens.py
It writes scores.json (the inputs) and golden.json (the expected values).

Expected values come from scikit-learn and from an independent Python
transcription of the published formulas:
  * fpr95 (ID-positive, DOS paper): n = floor(0.95 * N_id), threshold = the
    n-th largest ID score, share of OOD scores strictly above it.
  * fpr95_ood_positive (OpenOOD v1.5): roc_curve(is_ood, -score) with its
    default drop_intermediate=True, FPR at the first point with TPR >= 0.95.
  * auroc: roc_auc_score(is_id, score).
  * aupr_in / aupr_out: auc(recall, precision) of precision_recall_curve
    (trapezoidal), ID positive with score, OOD positive with -score.
  * ap_in / ap_out: average_precision_score, same positives.
"""
import json
import math

import numpy as np
import sklearn
from sklearn.metrics import (auc, average_precision_score,
                             precision_recall_curve, roc_auc_score, roc_curve)


def fpr95_id_positive(sid, sod):
    n = int(math.floor(0.95 * len(sid)))
    n = max(n, 1)  # the official sort(id)[-n] with n = 0 picks index 0
    thr = sorted(sid)[len(sid) - n]
    return sum(1 for v in sod if v > thr) / len(sod), thr


def expected(sid, sod):
    sid = np.asarray(sid, dtype=np.float64)
    sod = np.asarray(sod, dtype=np.float64)
    score = np.concatenate([sid, sod])
    is_id = np.concatenate([np.ones(len(sid)), np.zeros(len(sod))])
    fpr, thr = fpr95_id_positive(list(sid), list(sod))
    f, t, _ = roc_curve(1 - is_id, -score)
    fpr_ood = float(f[np.argmax(t >= 0.95)])
    p_in, r_in, _ = precision_recall_curve(is_id, score)
    p_out, r_out, _ = precision_recall_curve(1 - is_id, -score)
    return {
        "n_id": len(sid),
        "n_ood": len(sod),
        "fpr95": fpr,
        "fpr95_threshold": float(thr),
        "fpr95_ood_positive": fpr_ood,
        "auroc": float(roc_auc_score(is_id, score)),
        "aupr_in": float(auc(r_in, p_in)),
        "aupr_out": float(auc(r_out, p_out)),
        "ap_in": float(average_precision_score(is_id, score)),
        "ap_out": float(average_precision_score(1 - is_id, -score)),
    }


def main():
    rng = np.random.default_rng(20240501)
    cases = []

    def add(name, sid, sod):
        cases.append({"name": name,
                      "id": [float(v) for v in sid],
                      "ood": [float(v) for v in sod]})

    add("normal_no_ties", rng.normal(1.0, 1.0, 1000), rng.normal(0.0, 1.0, 800))
    add("rounded_1dp", np.round(rng.normal(0.8, 1.0, 937), 1),
        np.round(rng.normal(0.0, 1.2, 611), 1))
    add("rounded_0dp", np.round(rng.normal(1.0, 1.5, 500)),
        np.round(rng.normal(0.0, 1.5, 450)))
    add("integers_0_5", rng.integers(0, 6, 333), rng.integers(0, 4, 257))
    # Softmax-like probabilities stored as float32, many saturated at 1.
    p_id = np.minimum(1.0, rng.beta(8, 1, 600) * 1.05).astype(np.float32)
    p_od = np.minimum(1.0, rng.beta(3, 2, 400) * 1.05).astype(np.float32)
    add("saturated_float32", p_id, p_od)
    add("separated", rng.uniform(2, 3, 40), rng.uniform(0, 1, 30))
    add("reversed", rng.uniform(0, 1, 40), rng.uniform(2, 3, 30))
    add("all_equal", np.zeros(25), np.zeros(17))
    # Equal steps along the diagonal: drop_intermediate removes every
    # interior ROC point, so OpenOOD's FPR is 1.0 rather than 0.95.
    add("diagonal", np.arange(40), np.arange(40))
    add("one_id", [0.3], [0.1, 0.3, 0.5])
    add("small_20", np.round(rng.normal(1, 1, 20), 1), np.round(rng.normal(0, 1, 7), 1))
    add("small_21", np.round(rng.normal(1, 1, 21), 1), np.round(rng.normal(0, 1, 9), 1))

    gold = []
    for c in cases:
        sid = [v for v in c["id"]]
        sod = [v for v in c["ood"]]
        e = expected(sid, sod)
        e["name"] = c["name"]
        gold.append(e)

    with open("scores.json", "w") as f:
        json.dump({"cases": cases}, f)
        f.write("\n")
    with open("golden.json", "w") as f:
        json.dump({"generator": "gen_goldens.py (numpy %s, scikit-learn %s)" % (np.__version__, sklearn.__version__),
                   "cases": gold}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Generates poem_goldens.json for package sampling: the Bayesian linear regression posterior
as POEM's neural_linear_opt.py computes it.

Run from this directory with the system Python (numpy 1.24):
    /usr/bin/python3 gen_goldens.py
The Go tests read the JSON; Python is not needed to run them.
"""
import json

import numpy as np


def poem_goldens():
    """POEM posterior: A = (w_id Zid'Zid + Zood'Zood)/sigma_n + I/sigma,
    mu = A^-1 (w_id y_id sum(Zid) + y_ood sum(Zood))/sigma_n, cov = sigma A^-1,
    y_id = -conf + noise, y_ood = conf + noise; the ID set counts w_id times (buffered epochs)."""
    rng = np.random.default_rng(7)
    d = 3
    sigma, sigma_n, conf, noise = 20.0, 0.5, 3.0, 0.1
    zid = (rng.standard_normal((7, d)) + np.array([1.0, 0.0, 0.5])).astype(np.float32)
    zood = (rng.standard_normal((10, d)) - np.array([1.0, 0.0, 0.5])).astype(np.float32)
    out = {"d": d, "sigma": sigma, "sigma_n": sigma_n, "conf": conf, "noise": noise,
           "id": zid.ravel().tolist(), "ood": zood.ravel().tolist(), "cases": []}
    for w_id, n_ood in [(1, 5), (2, 10)]:
        zi = zid.astype(np.float64)
        zo = zood[:n_ood].astype(np.float64)
        a = (w_id * zi.T @ zi + zo.T @ zo) / sigma_n + np.eye(d) / sigma
        b = (w_id * (-conf + noise) * zi.sum(0) + (conf + noise) * zo.sum(0)) / sigma_n
        mu = np.linalg.solve(a, b)
        cov = sigma * np.linalg.inv(a)
        out["cases"].append({"w_id": w_id, "n_ood": n_ood, "mu": mu.tolist(), "cov": cov.ravel().tolist()})
    with open("poem_goldens.json", "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("poem", out["cases"])


if __name__ == "__main__":
    poem_goldens()

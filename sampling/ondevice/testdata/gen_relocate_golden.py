"""Golden values for sampling's Lloyd iterations with empty clusters (relocate_golden.json).

scikit-learn relocates a cluster left empty by an assignment step to the point farthest from its
own centre (the farthest first, for up to two empty clusters its order is fully determined). Run
with Debian's python3-sklearn: python3 gen_relocate_golden.py > relocate_golden.json
"""
import json

import numpy as np
import sklearn
from sklearn.cluster import KMeans

# Two tight groups and two stragglers. Case "one": the third initial centre lies far from every
# point, so it receives none at the first iteration. Case "two": two such centres.
X = np.array([[0, 0], [0.2, 0.1], [0.1, 0.3], [0.3, 0.2], [5, 5], [5.2, 5.1], [4.9, 5.3], [5.1, 4.8],
              [2.5, 9.0], [0.1, 0.1], [5.0, 5.2], [0.25, 0.05], [-3.0, 0.4]], dtype=np.float32)
cases = {
    "one": np.array([[0.1, 0.1], [5, 5], [-40, -40]], dtype=np.float32),
    "two": np.array([[0.1, 0.1], [5, 5], [-40, -40], [60, -60]], dtype=np.float32),
}
out = {"sklearn": sklearn.__version__, "x": X.tolist(), "cases": {}}
for name, c0 in cases.items():
    case = {"init": c0.tolist()}
    for it in (1, 10):
        km = KMeans(n_clusters=len(c0), init=c0, n_init=1, max_iter=it, algorithm="lloyd", tol=0).fit(X)
        case[f"centers_{it}"] = km.cluster_centers_.tolist()
        case[f"labels_{it}"] = km.labels_.tolist()
    out["cases"][name] = case
print(json.dumps(out, indent=1))

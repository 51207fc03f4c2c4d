#!/usr/bin/env python3
"""PyTorch peer of benchmarks/perf: times the DOS iteration as the official code runs it, and the
random-sampling iteration, on synthetic CIFAR-shaped data, and prints the same table and JSON
fields as `go run ./benchmarks/perf`, so the two can be compared (perf --compare FILE).

The DOS iteration, as the official algorithm (docs/method.md section 2), written here from the
paper's description (no code taken from the DOS repository):
  1. score the candidate block with the current model in eval mode, without gradients;
  2. p_abs = softmax(logits)[:, K]; L2-normalise the penultimate features;
  3. scikit-learn KMeans(n_clusters=ood_batch, n_init=5) on the CPU;
  4. keep the member with the smallest p_abs of each cluster, fill up at random if short;
  5. one training step (train mode) on [ID batch ; picks], loss CE(ID, y) + CE(picks, K),
     SGD lr 0.1, momentum 0.9, Nesterov, weight decay 1e-4.
The random-sampling iteration is step 5 on [ID batch ; a given outlier batch].

Networks (written for this peer): densenet-bc-100, wrn-D-K and mlp, with parameter counts equal
to the Go models (800,375 and, for wrn-40-4, 8,972,597 with 101 outputs; the mlp's 42,246 at
28x28x3 with 6 outputs; --check-params verifies).

--method matmul times matrix products alone (torch.mm of [M, K] by [K, N]) at the shapes given by
--matmul-shapes "name:M:K:N,...", as perf --method matmul does (perf --suite cpu passes the same
shapes to both).

Runs on the CPU (default) or CUDA (--device cuda). Timings synchronise the device each iteration.
"""
import argparse
import json
import os
import platform
import re
import resource
import sys
import time
from datetime import datetime, timezone

import numpy as np
import sklearn
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.cluster import KMeans


# ---------------------------------------------------------------- networks


class Bottleneck(nn.Module):
    """DenseNet-BC layer: BN-ReLU-conv1x1 (4g) - BN-ReLU-conv3x3 (g), concatenated to the input."""

    def __init__(self, cin, growth):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, 4 * growth, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth)
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, x):
        y = self.conv1(F.relu(self.bn1(x)))
        y = self.conv2(F.relu(self.bn2(y)))
        return torch.cat([x, y], 1)


class Transition(nn.Module):
    """BN-ReLU-conv1x1 to floor(c * 0.5) channels, 2x2 average pool."""

    def __init__(self, cin, cout):
        super().__init__()
        self.bn = nn.BatchNorm2d(cin)
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class DenseNetBC100(nn.Module):
    """DenseNet-BC, depth 100, growth 12, compression 0.5, no dropout; 342-d features."""

    def __init__(self, outputs, growth=12, depth=100):
        super().__init__()
        n = (depth - 4) // 6
        c = 2 * growth
        self.conv1 = nn.Conv2d(3, c, 3, padding=1, bias=False)
        stages = []
        for block in range(3):
            layers = []
            for _ in range(n):
                layers.append(Bottleneck(c, growth))
                c += growth
            stages.append(nn.Sequential(*layers))
            if block < 2:
                stages.append(Transition(c, c // 2))
                c //= 2
        self.stages = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(c)
        self.fc = nn.Linear(c, outputs)
        self.feature_dim = c

    def forward(self, x):
        h = F.relu(self.bn(self.stages(self.conv1(x))))
        f = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return self.fc(f), f


class WRNBlock(nn.Module):
    """Pre-activation basic block; 1x1 shortcut on the pre-activated input when channels change."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = None if cin == cout else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        a = F.relu(self.bn1(x))
        y = self.conv2(F.relu(self.bn2(self.conv1(a))))
        return (x if self.shortcut is None else self.shortcut(a)) + y


class WRN(nn.Module):
    """Wide ResNet depth-width: conv to 16, three groups (16k, 32k, 64k; strides 1, 2, 2)."""

    def __init__(self, depth, width, outputs):
        super().__init__()
        n = (depth - 4) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        blocks, c = [], 16
        for g, cout in enumerate([16 * width, 32 * width, 64 * width]):
            for b in range(n):
                blocks.append(WRNBlock(c, cout, (1 if g == 0 else 2) if b == 0 else 1))
                c = cout
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(c)
        self.fc = nn.Linear(c, outputs)
        self.feature_dim = c

    def forward(self, x):
        h = F.relu(self.bn(self.blocks(self.conv1(x))))
        f = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return self.fc(f), f


class MLP(nn.Module):
    """The Go models' mlp: 2x2 average pooling when the image allows it, then two ReLU layers of
    64 units (the features) and the classifier."""

    def __init__(self, outputs, image, channels=3):
        super().__init__()
        side = image // 2 if image >= 2 else image
        self.fc1 = nn.Linear(side * side * channels, 64)
        self.fc2 = nn.Linear(64, 64)
        self.fc3 = nn.Linear(64, outputs)
        self.feature_dim = 64

    def forward(self, x):
        if x.shape[2] >= 2 and x.shape[3] >= 2:
            x = F.avg_pool2d(x, 2)
        f = F.relu(self.fc2(F.relu(self.fc1(x.flatten(1)))))
        return self.fc3(f), f


def build(name, outputs, image=32):
    if name == "densenet-bc-100":
        return DenseNetBC100(outputs)
    if name == "mlp":
        return MLP(outputs, image)
    m = re.fullmatch(r"wrn-(\d+)-(\d+)", name)
    if m:
        depth, width = int(m.group(1)), int(m.group(2))
        if depth < 10 or (depth - 4) % 6 or width < 1:
            raise SystemExit(f"--network {name}: depth must be 6n+4 (n >= 1) and width >= 1")
        return WRN(depth, width, outputs)
    raise SystemExit(f"--network: expected densenet-bc-100, wrn-D-K or mlp, got {name!r}")


def count_params(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


EXPECTED_PARAMS = {("densenet-bc-100", 101, 32): 800_375, ("wrn-40-4", 101, 32): 8_972_597, ("mlp", 6, 28): 42_246}


def check_params():
    ok = True
    for (name, outputs, image), want in EXPECTED_PARAMS.items():
        got = count_params(build(name, outputs, image))
        print(f"{name} with {outputs} outputs: {got:,} parameters (expected {want:,})")
        ok &= got == want
    return ok


# ---------------------------------------------------------------- the iterations


def summarize(first_ms, ms, images):
    s = np.sort(np.asarray(ms, dtype=np.float64))
    med = float(np.quantile(s, 0.5))
    return {
        "n": len(s),
        "median_ms": med,
        "p10_ms": float(np.quantile(s, 0.1)),
        "p90_ms": float(np.quantile(s, 0.9)),
        "min_ms": float(s[0]),
        "max_ms": float(s[-1]),
        "first_ms": first_ms,
        "compile_ms": max(0.0, first_ms - med),
        "images_per_s": images / (med / 1000) if images and med > 0 else 0.0,
    }


class Peer:
    def __init__(self, a):
        self.a = a
        self.dev = torch.device(a.device)
        self.K = a.classes
        g = torch.Generator().manual_seed(a.seed)
        self.rng = np.random.default_rng(a.seed)
        self.model = build(a.network, a.classes + 1, a.image).to(self.dev)
        self.feature_dim = self.model.feature_dim
        self.opt = torch.optim.SGD(self.model.parameters(), lr=a.lr, momentum=0.9, nesterov=True, weight_decay=1e-4)
        shape = (3, a.image, a.image)
        # Two host input sets, used alternately; each iteration copies its inputs to the device once.
        self.id_x = [torch.randn((a.id_batch,) + shape, generator=g) for _ in range(2)]
        self.id_y = [torch.randint(0, a.classes, (a.id_batch,), generator=g) for _ in range(2)]
        self.cand = [torch.randn((a.candidates,) + shape, generator=g) for _ in range(2)]
        self.ood = [torch.randn((a.ood_batch,) + shape, generator=g) for _ in range(2)]
        if self.dev.type == "cuda":
            for lst in (self.id_x, self.id_y, self.cand, self.ood):
                for i in range(2):
                    lst[i] = lst[i].pin_memory()

    def sync(self):
        if self.dev.type == "cuda":
            torch.cuda.synchronize(self.dev)

    def to(self, t):
        return t.to(self.dev, non_blocking=True)

    def train_step(self, x, y):
        self.model.train()
        logits, _ = self.model(x)
        n = y.shape[0]
        target_ood = torch.full((x.shape[0] - n,), self.K, dtype=torch.long, device=x.device)
        loss = F.cross_entropy(logits[:n], y) + F.cross_entropy(logits[n:], target_ood)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss

    @torch.no_grad()
    def score(self, cand):
        self.model.eval()
        logits, feats = self.model(cand)
        p_abs = F.softmax(logits, dim=1)[:, self.K]
        return p_abs, F.normalize(feats, p=2, dim=1)

    def kmeans(self, feats_np):
        km = KMeans(n_clusters=self.a.ood_batch, n_init=self.a.n_init, max_iter=self.a.kmeans_iters,
                    random_state=int(self.rng.integers(1 << 31)))
        return km.fit(feats_np).labels_

    def select(self, p_abs, feats):
        """Host-side DOS selection: K-means on the CPU, per-cluster min p_abs, random fill-up."""
        p = p_abs.cpu().numpy()
        labels = self.kmeans(feats.cpu().numpy())
        picks = []
        for c in range(self.a.ood_batch):
            members = np.flatnonzero(labels == c)
            if members.size:
                picks.append(members[np.argmin(p[members])])
        if len(picks) < self.a.ood_batch:
            rest = np.setdiff1d(np.arange(len(p)), picks)
            picks.extend(self.rng.choice(rest, self.a.ood_batch - len(picks), replace=False))
        return torch.as_tensor(np.asarray(picks, dtype=np.int64))

    # One call per iteration kind; each returns a value to read.
    def it_random(self, i):
        x = torch.cat([self.to(self.id_x[i % 2]), self.to(self.ood[i % 2])])
        return self.train_step(x, self.to(self.id_y[i % 2])).item()

    def it_dos(self, i):
        cand = self.to(self.cand[i % 2])
        p_abs, feats = self.score(cand)
        idx = self.select(p_abs, feats).to(self.dev)
        x = torch.cat([self.to(self.id_x[i % 2]), cand[idx]])
        return self.train_step(x, self.to(self.id_y[i % 2])).item()

    def it_scoring(self, i):
        p_abs, feats = self.score(self.to(self.cand[i % 2]))
        self.sync()
        return p_abs, feats

    def time(self, name, fn, images):
        a = self.a

        def run(i):
            self.sync()
            t0 = time.perf_counter()
            fn(i)
            self.sync()
            return (time.perf_counter() - t0) * 1000

        first = run(0)
        print(f"{name}: first call {first:.0f} ms", file=sys.stderr)
        for i in range(a.warmup):
            run(1 + i)
        ms = [run(1 + a.warmup + i) for i in range(a.iters)]
        s = summarize(first, ms, images)
        print(f"{name}: median {s['median_ms']:.2f} ms (p10 {s['p10_ms']:.2f}, p90 {s['p90_ms']:.2f})", file=sys.stderr)
        return s


def host_unit_features(rng, n, d):
    f = np.abs(rng.standard_normal((n, d))).astype(np.float32)
    return f / np.linalg.norm(f, axis=1, keepdims=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--network", default="densenet-bc-100", help="densenet-bc-100, wrn-D-K or mlp")
    ap.add_argument("--method", default="both", choices=["random", "dos", "both", "kmeans", "matmul"])
    ap.add_argument("--matmul-shapes", default="", help='products for --method matmul: "name:M:K:N,..."')
    ap.add_argument("--id-batch", type=int, default=64)
    ap.add_argument("--candidates", type=int, default=384)
    ap.add_argument("--ood-batch", type=int, default=64)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--image", type=int, default=32)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--n-init", type=int, default=5, help="KMeans n_init (official: 5)")
    ap.add_argument("--kmeans-iters", type=int, default=300, help="KMeans max_iter (scikit-learn default 300)")
    ap.add_argument("--feature-dim", type=int, default=0, help="feature size for --method kmeans (0 = the network's)")
    ap.add_argument("--no-split", action="store_true", help="do not time the parts of the DOS iteration")
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (or cuda:N)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for torch and scikit-learn (0 = all cores)")
    ap.add_argument("--json", default="", help="also write the JSON line to this file")
    ap.add_argument("--check-params", action="store_true", help="verify the parameter counts and exit")
    a = ap.parse_args()

    if a.check_params:
        sys.exit(0 if check_params() else 1)
    for k in ("id_batch", "candidates", "ood_batch", "classes", "image", "iters", "n_init", "kmeans_iters"):
        if getattr(a, k) < 1:
            ap.error(f"--{k.replace('_', '-')}: expected an integer >= 1, got {getattr(a, k)}")
    if a.ood_batch > a.candidates:
        ap.error(f"--ood-batch: expected at most --candidates ({a.candidates}), got {a.ood_batch}")
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        ap.error("--device cuda: torch sees no CUDA device")
    # Debian's torch starts with one OpenMP thread: use every core unless told otherwise, for torch
    # and for scikit-learn's OpenMP K-means alike.
    threads = a.threads if a.threads > 0 else (os.cpu_count() or 1)
    torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=threads)
    except ImportError:
        pass
    torch.manual_seed(a.seed)
    if a.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True

    if a.method == "matmul":
        try:
            shapes = parse_matmul_shapes(a.matmul_shapes)
        except ValueError as e:
            ap.error(f"--matmul-shapes: {e}")
        run_matmul(a, shapes)
        return
    peer = Peer(a)
    dev = torch.device(a.device)
    device = f"{dev} ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    feature_dim = a.feature_dim if (a.method == "kmeans" and a.feature_dim > 0) else peer.feature_dim
    res = {
        "tool": "pytorch",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "backend": "torch-eager",
        "device": device,
        "network": a.network,
        "params": count_params(peer.model),
        "shapes": {"id_batch": a.id_batch, "candidates": a.candidates, "ood_batch": a.ood_batch, "classes": a.classes,
                   "outputs": a.classes + 1, "image": a.image, "channels": 3, "feature_dim": feature_dim,
                   "n_init": a.n_init, "kmeans_iters": a.kmeans_iters},
        "iters": a.iters,
        "warmup": a.warmup,
    }
    train_images = a.id_batch + a.ood_batch
    split = {}
    if a.method in ("random", "both") or (a.method == "dos" and not a.no_split):
        t = peer.time("random iteration", peer.it_random, train_images)
        if a.method != "dos":
            res["random"] = t
        if a.method in ("dos", "both") and not a.no_split:
            split["training"] = t
    if a.method in ("dos", "both"):
        res["dos"] = peer.time("DOS iteration", peer.it_dos, train_images)
        if "random" in res:
            res["dos_over_random"] = res["dos"]["median_ms"] / res["random"]["median_ms"]
        if not a.no_split:
            split["scoring"] = peer.time("scoring", peer.it_scoring, a.candidates)
            scored = [peer.it_scoring(i) for i in range(2)]
            split["selection"] = peer.time("selection", lambda i: peer.select(*scored[i % 2]), a.candidates)
            feats = [f.cpu().numpy() for _, f in scored]
            split["clustering"] = peer.time("clustering", lambda i: peer.kmeans(feats[i % 2]), a.candidates)
    if a.method == "kmeans":
        feats = [host_unit_features(peer.rng, a.candidates, feature_dim) for _ in range(2)]
        split["clustering"] = peer.time("clustering", lambda i: peer.kmeans(feats[i % 2]), a.candidates)
    if split:
        res["split"] = split
    mem = {"max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "go_heap_peak_mb": 0, "go_sys_mb": 0}
    if dev.type == "cuda":
        mem["device_peak_mb"] = torch.cuda.max_memory_allocated(dev) / (1 << 20)
    res["memory"] = mem
    res["versions"] = {"python": platform.python_version(), "torch": torch.__version__, "sklearn": sklearn.__version__,
                       "numpy": np.__version__}
    print_table(res)
    line = json.dumps(res)
    print(line)
    if a.json:
        with open(a.json, "w") as f:
            f.write(line + "\n")


def parse_matmul_shapes(text):
    """Reads "name:M:K:N,..." as perf's FormatMatmulShapes writes it."""
    shapes = []
    for part in text.split(","):
        f = part.split(":")
        if len(f) != 4:
            raise ValueError(f"{part!r}: expected name:M:K:N")
        try:
            m, k, n = (int(v) for v in f[1:])
        except ValueError:
            raise ValueError(f"{part!r}: expected integers for M, K and N") from None
        if min(m, k, n) < 1:
            raise ValueError(f"{part!r}: expected positive M, K and N")
        shapes.append({"name": f[0], "m": m, "k": k, "n": n})
    return shapes


def run_matmul(a, shapes):
    """Times torch.mm on each shape, on inputs made once, reading back one element of the result."""
    dev = torch.device(a.device)
    g = torch.Generator().manual_seed(a.seed)
    res = {
        "tool": "pytorch",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "backend": "torch-eager",
        "device": f"cpu ({torch.get_num_threads()} threads)" if dev.type == "cpu" else str(dev),
        "network": a.network,
        "params": 0,
        "shapes": {"id_batch": a.id_batch, "candidates": a.candidates, "ood_batch": a.ood_batch, "classes": a.classes,
                   "outputs": a.classes + 1, "image": a.image, "channels": 3, "feature_dim": 0,
                   "n_init": a.n_init, "kmeans_iters": a.kmeans_iters},
        "iters": a.iters,
        "warmup": a.warmup,
        "matmul": [],
    }

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    for s in shapes:
        x = torch.randn((s["m"], s["k"]), generator=g).to(dev)
        w = torch.randn((s["k"], s["n"]), generator=g).to(dev)

        def run():
            sync()
            t0 = time.perf_counter()
            torch.mm(x, w)[0, 0].item()
            return (time.perf_counter() - t0) * 1000

        name = f"matmul {s['name']} ({s['m']}x{s['k']}x{s['n']})"
        first = run()
        for _ in range(a.warmup):
            run()
        t = summarize(first, [run() for _ in range(a.iters)], 0)
        print(f"{name}: median {t['median_ms']:.2f} ms (p10 {t['p10_ms']:.2f}, p90 {t['p90_ms']:.2f})", file=sys.stderr)
        flops = 2.0 * s["m"] * s["k"] * s["n"]
        res["matmul"].append({"shape": s, "timing": t, "gflop_per_s": flops / (t["median_ms"] / 1000) / 1e9 if t["median_ms"] > 0 else 0.0})
        del x, w
    res["memory"] = {"max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "go_heap_peak_mb": 0, "go_sys_mb": 0}
    res["versions"] = {"python": platform.python_version(), "torch": torch.__version__, "sklearn": sklearn.__version__,
                       "numpy": np.__version__}
    print(f"{res['tool']} on {res['backend']} ({res['device']}): matrix products, {a.iters} timed after {a.warmup} warm-up")
    print(f"{'product':>24} {'M x K x N':>18} {'median ms':>10} {'GFLOP/s':>9}")
    for m in res["matmul"]:
        s = m["shape"]
        print(f"{s['name']:>24} {str(s['m']) + 'x' + str(s['k']) + 'x' + str(s['n']):>18} {m['timing']['median_ms']:>10.2f} "
              f"{m['gflop_per_s']:>9.1f}")
    line = json.dumps(res)
    print(line)
    if a.json:
        with open(a.json, "w") as f:
            f.write(line + "\n")


def print_table(r):
    s = r["shapes"]
    print(f"{r['tool']} on {r['backend']} ({r['device']}), {r['network']}, {r['params']} params")
    print(f"shapes: id {s['id_batch']}, candidates {s['candidates']}, ood {s['ood_batch']}, {s['outputs']} outputs, "
          f"{s['image']}x{s['image']}x3, features {s['feature_dim']}, k-means n_init {s['n_init']} max_iter "
          f"{s['kmeans_iters']}; {r['iters']} timed after {r['warmup']} warm-up")
    rows = [("random iteration", r.get("random")), ("DOS iteration", r.get("dos"))]
    sp = r.get("split", {})
    rows += [("  scoring", sp.get("scoring")), ("  clustering", sp.get("clustering")),
             ("  selection (incl. clustering)", sp.get("selection")), ("  training step", sp.get("training"))]
    print(f"{'part':>30} {'median ms':>10} {'p10 ms':>9} {'p90 ms':>9} {'images/s':>9} {'compile ms':>10} {'n':>3}")
    for name, t in rows:
        if t:
            rate = f"{t['images_per_s']:.1f}" if t["images_per_s"] > 0 else "-"
            print(f"{name:>30} {t['median_ms']:>10.2f} {t['p10_ms']:>9.2f} {t['p90_ms']:>9.2f} {rate:>9} "
                  f"{t['compile_ms']:>10.0f} {t['n']:>3}")
    if "dos_over_random" in r:
        print(f"DOS / random: {r['dos_over_random']:.2f}x")
    m = r["memory"]
    extra = f", device peak {m['device_peak_mb']:.0f} MiB" if "device_peak_mb" in m else ""
    print(f"memory: max RSS {m['max_rss_mb']:.0f} MiB{extra}")


if __name__ == "__main__":
    main()

"""Writes a corpus of ImageNet-like JPEG files for the input-pipeline benchmarks
(data/throughput_test.go, data/testdata/bench_pillow.py): OUT/<class>/<n>.JPEG, made of
crops of the photographs that Debian ships with scikit-learn (china.jpg, flower.jpg) and
matplotlib (grace_hopper.jpg), resized to the sizes most common in ImageNet-1K
(500 x 375, 375 x 500, 500 x 333, 500 x 400, 333 x 500) and saved by Pillow at quality 95
with 4:2:0 chroma, so that file sizes (about 65 KB; ImageNet-1K averages about 110 KB) and decoding work resemble ImageNet's.

    /usr/bin/python3 data/testdata/gen_bench_corpus.py OUT [N]
"""
import os
import sys

import numpy as np
from PIL import Image

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 256
sources = ["/usr/lib/python3/dist-packages/sklearn/datasets/images/china.jpg",
           "/usr/lib/python3/dist-packages/sklearn/datasets/images/flower.jpg",
           "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg"]
photos = [Image.open(p).convert("RGB") for p in sources]
sizes = [(500, 375), (375, 500), (500, 333), (500, 400), (333, 500)]
rng = np.random.RandomState(0)
total = 0
for k in range(n):
    src = photos[k % len(photos)]
    w, h = sizes[k % len(sizes)]
    # A random crop of the photo with the target's aspect ratio, at least half its area.
    sw, sh = src.size
    scale = rng.uniform(0.5, 1.0)
    cw = min(sw, int(round(np.sqrt(scale * sw * sh * w / h))))
    ch = min(sh, int(round(cw * h / w)))
    cw = int(round(ch * w / h))
    x0, y0 = rng.randint(0, sw - cw + 1), rng.randint(0, sh - ch + 1)
    img = src.crop((x0, y0, x0 + cw, y0 + ch)).resize((w, h), Image.BILINEAR)
    if k % 2:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    d = os.path.join(out, "c%02d" % (k % 8))
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, "%04d.JPEG" % k)
    img.save(p, quality=95, subsampling=2)
    total += os.path.getsize(p)
print("%d files, %.1f KB on average, in %s" % (n, total / n / 1024, out))

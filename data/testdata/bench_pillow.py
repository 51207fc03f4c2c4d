"""The PyTorch data path measured against data/throughput_test.go: Pillow (Debian's
python3-pil, libjpeg-turbo) decoding each file as torchvision's default loader does, then
RandomResizedCrop(224), RandomHorizontalFlip, ToTensor and Normalize, one image after another
in one process (one core, as one DataLoader worker).

    /usr/bin/python3 data/testdata/bench_pillow.py DIR [SECONDS]

DIR is an image folder (gen_bench_corpus.py writes one). Prints images per second of wall-clock
time and of CPU time.
"""
import os
import sys
import time

import torch
import torchvision.transforms as T
from PIL import Image

torch.set_num_threads(1)
root = sys.argv[1]
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.lower().endswith((".jpeg", ".jpg", ".png")))
tf = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(),
                T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])


def load(p):
    with open(p, "rb") as f:
        return Image.open(f).convert("RGB")


for p in files[:16]:  # warm the page cache and the libraries
    tf(load(p))
n, start, cpu0 = 0, time.perf_counter(), time.process_time()
while time.perf_counter() - start < seconds:
    for p in files:
        tf(load(p))
        n += 1
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
decode_n, t0, c0 = 0, time.perf_counter(), time.process_time()
while time.perf_counter() - t0 < seconds / 2:
    for p in files:
        load(p).load()
        decode_n += 1
decode, decode_cpu = decode_n / (time.perf_counter() - t0), decode_n / (time.process_time() - c0)
# images per CPU-second: the per-core rate, which other processes on a shared machine lower less
# than the wall-clock rate.
print("pillow: %d images in %.1f s: %.1f images/s, %.1f images/cpu-s (decode + RandomResizedCrop + flip + ToTensor + Normalize); "
      "decode alone %.1f images/s, %.1f images/cpu-s" % (n, elapsed, n / elapsed, n / cpu, decode, decode_cpu))

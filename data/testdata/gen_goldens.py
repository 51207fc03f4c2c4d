"""Writes the golden files of the data package's tests with independent
implementations (NumPy, SciPy, Pillow). Run with the system Python:

    /usr/bin/python3 data/testdata/gen_goldens.py   (from the repository root)

Pixel values follow formulas that the Go tests recompute, so the tests check
both the reader and the layout conventions.
"""
import os
import numpy as np
import scipy.io
from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
p = lambda name: os.path.join(here, name)

# .npy, header versions 1 and 2, and Fortran order.
np.save(p("v1_f4.npy"), (np.arange(12, dtype="<f4").reshape(3, 4) * 0.5 - 1))
with open(p("v2_u1.npy"), "wb") as f:
    np.lib.format.write_array(f, (np.arange(54) % 256).astype(np.uint8).reshape(2, 3, 3, 3), version=(2, 0))
np.save(p("fortran_i8.npy"), np.asfortranarray(np.arange(6, dtype="<i8").reshape(2, 3)))
np.save(p("f8.npy"), np.array([0.1, -2.5, 1e300], dtype="<f8"))

# SVHN-layout .mat: X is H x W x 3 x N uint8 with X[r, c, ch, n] =
# (r*7 + c*3 + ch*11 + n*13) % 256; y is N x 1 with labels 1..10.
H, W, N = 4, 5, 3
X = np.zeros((H, W, 3, N), dtype=np.uint8)
for r in range(H):
    for c in range(W):
        for ch in range(3):
            for n in range(N):
                X[r, c, ch, n] = (r * 7 + c * 3 + ch * 11 + n * 13) % 256
y = np.array([[10], [3], [1]], dtype=np.uint8)
scipy.io.savemat(p("svhn_compressed.mat"), {"X": X, "y": y, "other": np.eye(3)}, do_compression=True)
scipy.io.savemat(p("svhn_plain.mat"), {"other": np.eye(2), "X": X, "y": y.astype(np.float64)}, do_compression=False)

# ImageNet 64x64-layout .npz (side 4 here): data[n] holds the R, G, B planes,
# value at (ch, r, c) = (n*50 + ch*16 + r*4 + c) % 256; labels 1-based.
side = 4
data = np.zeros((3, 3 * side * side), dtype=np.uint8)
for n in range(3):
    for ch in range(3):
        for r in range(side):
            for c in range(side):
                data[n, ch * side * side + r * side + c] = (n * 50 + ch * 16 + r * 4 + c) % 256
np.savez_compressed(p("imagenet64_tiny.npz"), data=data, labels=np.array([1, 1000, 5]), mean=np.zeros(3))

# PIL bilinear resize goldens: torchvision Resize(32) on PIL images calls
# img.resize((w, h), Image.BILINEAR). Input pixels follow a formula with
# sharp edges so that rounding differences would show.
def make(w, h, seed):
    rng = np.random.RandomState(seed)
    return rng.randint(0, 256, size=(h, w, 3)).astype(np.uint8)

for name, (w, h), (ow, oh) in [("down", (45, 37), (int(32 * 45 / 37), 32)),
                                 ("up", (7, 5), (int(9 * 7 / 5), 9)),
                                 ("tall", (33, 70), (32, int(32 * 70 / 33)))]:
    a = make(w, h, len(name))
    Image.fromarray(a).save(p("resize_%s_in.png" % name))
    out = np.asarray(Image.fromarray(a).resize((ow, oh), Image.BILINEAR))
    np.save(p("resize_%s_out.npy" % name), out)

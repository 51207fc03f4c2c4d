"""Writes the goldens of the ImageNet transform tests (data/resizedcrop_test.go) with
torchvision 0.14 and Pillow 9.4 (Debian bookworm's python3-torchvision and python3-pil).
Run with the system Python, from the repository root:

    /usr/bin/python3 data/testdata/gen_transform_goldens.py

What it writes under data/testdata/transforms/:
- photo.png, photo.jpg: one 97 x 61 test image (smooth shapes, hard edges, noise), as PNG
  and as a 4:2:0 JPEG of quality 90 written by Pillow;
- rrc_cases.json and rrc_png.npy / rrc_jpg.npy: torchvision F.resized_crop + F.hflip for
  given boxes (the geometry, independent of any random draw), on the PNG and on Pillow's
  decoding of the JPEG;
- test_png.npy, test_big.npy: Resize(s) + CenterCrop(c) through transforms.Compose;
- jpeg_decoded.npy: Pillow's decoding of photo.jpg (to state how far Go's decoder is);
- sub_*.jpg: the same image with every chroma subsampling Pillow writes, and a greyscale
  one, for the decoder's fast paths;
- rrc_fallback.json: get_params for images on which no attempt can succeed (the fallback
  is deterministic, so any seed gives these boxes);
- rrc_stats.json: summary statistics of 20,000 get_params draws per image size, the
  distribution the Go sampler must reproduce.
"""
import json
import math
import os

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "transforms")
os.makedirs(here, exist_ok=True)
p = lambda name: os.path.join(here, name)
assert torchvision.__version__.startswith("0.14"), torchvision.__version__


def photo(w, h, seed):
    """A synthetic photograph: gradients, discs, a checkerboard patch and noise."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    img[..., 0] = 255 * xx / max(w - 1, 1)
    img[..., 1] = 255 * yy / max(h - 1, 1)
    img[..., 2] = 128 + 100 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    for _ in range(6):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(4, 20)
        col = rng.uniform(0, 255, size=3)
        img[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = col
    cb = ((xx // 3 + yy // 3) % 2 == 0) & (xx < w // 3) & (yy > h // 2)
    img[cb] = [250, 10, 10]
    img += rng.normal(0, 12, size=img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


a = photo(97, 61, 1)
Image.fromarray(a).save(p("photo.png"))
Image.fromarray(a).save(p("photo.jpg"), quality=90, subsampling=2)
png = Image.open(p("photo.png")).convert("RGB")
jpg = Image.open(p("photo.jpg")).convert("RGB")
np.save(p("jpeg_decoded.npy"), np.asarray(jpg))

# Boxes (top, left, height, width), output size, flip: downscaling by more than 2 (wide
# kernels), upscaling, one side kept, the whole image, and a 1-pixel box.
size = 24
cases = [
    dict(top=0, left=0, h=61, w=97, flip=False),
    dict(top=3, left=10, h=50, w=70, flip=True),
    dict(top=20, left=40, h=9, w=7, flip=False),
    dict(top=5, left=0, h=24, w=97, flip=True),
    dict(top=0, left=36, h=61, w=24, flip=False),
    dict(top=7, left=13, h=24, w=24, flip=True),
    dict(top=30, left=50, h=1, w=1, flip=False),
    dict(top=12, left=3, h=40, w=31, flip=True),
]
for name, img in (("png", png), ("jpg", jpg)):
    outs = []
    for c in cases:
        o = F.resized_crop(img, c["top"], c["left"], c["h"], c["w"], [size, size], T.InterpolationMode.BILINEAR)
        if c["flip"]:
            o = F.hflip(o)
        outs.append(np.asarray(o))
    np.save(p("rrc_%s.npy" % name), np.stack(outs))
with open(p("rrc_cases.json"), "w") as f:
    json.dump({"size": size, "cases": cases}, f, indent=1)

# The test transform, through transforms.Compose as a data set would apply it.
np.save(p("test_png.npy"), np.asarray(T.Compose([T.Resize(40), T.CenterCrop(32)])(png)))
big = photo(320, 240, 2)
Image.fromarray(big).save(p("big.png"))
np.save(p("test_big.npy"), np.asarray(T.Compose([T.Resize(256), T.CenterCrop(224)])(Image.open(p("big.png")).convert("RGB"))))

# Chroma subsamplings for the decoder (Pillow: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0) and greyscale.
for sub, name in ((0, "444"), (1, "422"), (2, "420")):
    Image.fromarray(a).save(p("sub_%s.jpg" % name), quality=85, subsampling=sub)
Image.fromarray(a).convert("L").save(p("sub_grey.jpg"), quality=85)
for name in ("444", "422", "420", "grey"):
    np.save(p("sub_%s.npy" % name), np.asarray(Image.open(p("sub_%s.jpg" % name)).convert("RGB")))
# An odd-sized 4:2:0 image: edge rows and columns of the chroma planes.
Image.fromarray(photo(31, 17, 3)).save(p("sub_odd.jpg"), quality=95, subsampling=2)
np.save(p("sub_odd.npy"), np.asarray(Image.open(p("sub_odd.jpg")).convert("RGB")))

# Fallback boxes: no attempt fits these images, whatever the seed.
fallback = []
for (w, h) in [(1, 50), (50, 1), (1, 1), (3, 200), (300, 2)]:
    torch.manual_seed(w * 1000 + h)
    i, j, hh, ww = T.RandomResizedCrop.get_params(torch.zeros(3, h, w), [0.08, 1.0], [3.0 / 4, 4.0 / 3])
    fallback.append(dict(w=w, h=h, top=i, left=j, bh=hh, bw=ww))
with open(p("rrc_fallback.json"), "w") as f:
    json.dump(fallback, f, indent=1)

# Distribution of the boxes: 20,000 draws per size.
stats = []
torch.manual_seed(0)
n = 20000
for (w, h) in [(500, 375), (224, 224), (160, 640), (90, 60)]:
    img = torch.zeros(3, h, w)
    area, logr, rel_top, rel_left, full = [], [], [], [], 0
    for _ in range(n):
        i, j, hh, ww = T.RandomResizedCrop.get_params(img, [0.08, 1.0], [3.0 / 4, 4.0 / 3])
        area.append(hh * ww / (w * h))
        logr.append(math.log(ww / hh))
        rel_top.append(i / (h - hh) if h > hh else 0.5)
        rel_left.append(j / (w - ww) if w > ww else 0.5)
        full += hh == h and ww == w
    area, logr = np.array(area), np.array(logr)
    stats.append(dict(w=w, h=h, n=n,
                      area_mean=area.mean(), area_std=area.std(),
                      area_q=[float(np.quantile(area, q)) for q in (0.1, 0.5, 0.9)],
                      logr_mean=logr.mean(), logr_std=logr.std(),
                      top_mean=float(np.mean(rel_top)), left_mean=float(np.mean(rel_left)),
                      full_share=full / n))
with open(p("rrc_stats.json"), "w") as f:
    json.dump(stats, f, indent=1)
print("wrote", sorted(os.listdir(here)))

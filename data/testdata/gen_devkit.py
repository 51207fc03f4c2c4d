"""Writes testdata/devkit_meta.mat and devkit_meta_plain.mat: small stand-ins for the
ILSVRC2012 development kit's data/meta.mat, written by SciPy (an independent MAT-file writer),
with the struct array "synsets" and the fields of the real file. Run from the repository root:

    /usr/bin/python3 data/testdata/gen_devkit.py

Leaf synsets get ILSVRC2012_IDs 1..13 in a scrambled order (the real file's IDs do not follow
the WordNet IDs either); two internal nodes follow with IDs 1001 and 1002.
"""
import os

import numpy as np
import scipy.io

here = os.path.dirname(os.path.abspath(__file__))
leaves = ["n04552348", "n04285008", "n01530575", "n02123597", "n02422699", "n02107574", "n01641577",
          "n03417042", "n02389026", "n03095699", "n01440764", "n01443537", "n15075141"]
order = [7, 12, 1, 10, 4, 13, 2, 9, 5, 11, 3, 8, 6]  # ILSVRC2012_ID of each leaf above
fields = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children", "wordnet_height", "num_train_images"]
rows = []
for wnid, i in zip(leaves, order):
    rows.append((i, wnid, "words of " + wnid, "a gloss", 0, np.zeros((1, 0)), 0, 1300))
rows.append((1001, "n00001740", "entity", "root", 2, np.array([[1002, 1]]), 19, 0))
rows.append((1002, "n00002684", "object", "an object", 1, np.array([[2]]), 18, 0))
synsets = np.zeros((len(rows), 1), dtype=[(f, "O") for f in fields])
for k, r in enumerate(rows):
    for f, v in zip(fields, r):
        synsets[k, 0][f] = v
scipy.io.savemat(os.path.join(here, "devkit_meta.mat"), {"synsets": synsets}, do_compression=True)
scipy.io.savemat(os.path.join(here, "devkit_meta_plain.mat"), {"other": np.eye(2), "synsets": synsets}, do_compression=False)
print(dict(zip(order, leaves)))

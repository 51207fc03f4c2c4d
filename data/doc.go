// Package data reads the published formats of the data sets used by the DOS
// experiments (CIFAR-10/100 binary, NumPy .npy/.npz, MATLAB v5 .mat, IDX,
// image folders, ImageNet's layouts), fetches them with checksums, packs image
// folders into tar shards, and turns them into deterministic, augmented float32
// NHWC batches (CIFAR's padded crop, or torchvision's RandomResizedCrop with
// Pillow's resampling on the images as stored).
package data

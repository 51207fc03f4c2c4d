// Package data reads the published formats of the data sets used by the DOS
// experiments (CIFAR-10/100 binary, NumPy .npy/.npz, MATLAB v5 .mat, IDX,
// image folders), fetches them with checksums, and turns them into
// deterministic, augmented float32 NHWC batches.
package data

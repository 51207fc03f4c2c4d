#!/usr/bin/env bash
# One prepared run of every GPU check, for a session that is lent an NVIDIA machine (issue 7).
#
# On the build machine (Go and cgo; the GPU machine has no Go toolchain):
#   go build -o bin/perf ./benchmarks/perf
#   go test -c -o bin/backend.test ./models/backend
# then carry bin/ to the GPU machine and run, from the repository root:
#   OUT=/some/dir bash benchmarks/gpu/device_checks.sh
# Every figure lands in $OUT as JSON plus a log; each step has its own timeout so one slow
# compile cannot eat the whole budget. Record the figures in benchmarks/README.md with the card's
# name and the date.
set -u
OUT=${OUT:-out}
mkdir -p "$OUT"
PLUGIN=${PLUGIN:-/opt/torch/.venv/lib/python3.12/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so}
export GOPJRT_CUDA_CHECKS=0 GOMLX_BACKEND="xla:$PLUGIN"
PY=${PY:-python3}
step() { # step NAME TIMEOUT CMD...
  local name=$1 limit=$2; shift 2
  echo "== $name" | tee -a "$OUT/log.txt"
  timeout "$limit" "$@" >>"$OUT/$name.log" 2>&1
  echo "   exit $?" | tee -a "$OUT/log.txt"
}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >"$OUT/gpu.txt" 2>&1
# Composed pure-Go ops against XLA's native ones, on the GPU.
step backend-native 120 ./bin/backend.test -test.run 'TestMatchesNativeXLA' -test.v
# Clustering alone at the official shape (target < 5 ms).
step kmeans 120 ./bin/perf --method kmeans --network densenet-bc-100 --candidates 384 --ood-batch 64 --n-init 5 --iters 100 --warmup 10 --json "$OUT/gomlx_kmeans.json"
# Random vs DOS iterations and the pipeline (targets: DOS <= 2x random, pipeline >= 10x).
step densenet 240 ./bin/perf --network densenet-bc-100 --method both --iters 30 --warmup 5 --pipeline --json "$OUT/gomlx_densenet.json"
step wrn404 180 ./bin/perf --network wrn-40-4 --method both --iters 30 --warmup 5 --json "$OUT/gomlx_wrn404.json"
# The PyTorch peer on the same card (target: ours >= 5x faster on the DOS iteration).
step peer-densenet 150 "$PY" benchmarks/peer/dos_peer.py --device cuda --network densenet-bc-100 --iters 20 --warmup 3 --json "$OUT/torch_densenet.json"
step peer-wrn404 150 "$PY" benchmarks/peer/dos_peer.py --device cuda --network wrn-40-4 --iters 20 --warmup 3 --json "$OUT/torch_wrn404.json"
step compare-densenet 30 ./bin/perf --load "$OUT/gomlx_densenet.json" --compare "$OUT/torch_densenet.json"
step compare-wrn404 30 ./bin/perf --load "$OUT/gomlx_wrn404.json" --compare "$OUT/torch_wrn404.json"

#!/usr/bin/env bash
# One prepared run of every GPU check, for a session that is lent an NVIDIA machine (issue 7).
#
# On the build machine (Go and cgo; the GPU machine has no Go toolchain):
#   go build -o bin/perf ./benchmarks/perf
#   go test -c -o bin/backend.test ./models/backend
#   go test -c -o bin/sampling.test ./sampling/ondevice
#   go test -c -o bin/train.test ./experiments/train
# then carry bin/ to the GPU machine and run, from the repository root:
#   OUT=/some/dir bash benchmarks/gpu/device_checks.sh
#
# The whole script stays within BUDGET seconds (default 420, so that one device call of at most
# 600 s holds it with the machine's start-up). The steps run in order of importance, each under
# its own time limit, cut to what is left of the budget; a step that would get less than 20 s is
# skipped and says so. Every figure lands in $OUT as JSON plus a log, and the harness rewrites its
# JSON after each part, so a step killed during a slow compile keeps what it measured.
# Record the figures in benchmarks/README.md with the card's name and the date.
#
# DRY=1 runs the same steps on the pure-Go backend at tiny shapes, with the peer on the CPU: a
# check of the script itself on any machine (gpu_test.go runs it so). BIN (default ./bin) is
# where the binaries are; PY the Python with torch and scikit-learn.
set -u
OUT=${OUT:-out}
BUDGET=${BUDGET:-420}
PY=${PY:-python3}
BIN=${BIN:-./bin}
mkdir -p "$OUT"
START=$SECONDS

if [ "${DRY:-0}" = 1 ]; then
  export GOMLX_BACKEND=go
  NET1=wrn-10-1 NET2=wrn-16-1
  SHAPE=(--image 8 --classes 10 --id-batch 4 --candidates 16 --ood-batch 4)
  KMSHAPE=(--candidates 32 --ood-batch 8 --feature-dim 16)
  ITERS=(--iters 2 --warmup 0)
  PITERS=(--iters 2 --warmup 0)
  GOEXTRA=(--kmeans-iters 3 --pipeline-batches 2)
  PEERDEV=(--device cpu --threads 1)
else
  PLUGIN=${PLUGIN:-/opt/torch/.venv/lib/python3.12/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so}
  export GOPJRT_CUDA_CHECKS=0 GOMLX_BACKEND="xla:$PLUGIN"
  NET1=densenet-bc-100 NET2=wrn-40-4
  SHAPE=()
  KMSHAPE=(--candidates 384 --ood-batch 64)
  ITERS=(--iters 30 --warmup 5)
  PITERS=(--iters 20 --warmup 3)
  GOEXTRA=()
  PEERDEV=(--device cuda)
fi

step() { # step NAME LIMIT CMD...: runs CMD under min(LIMIT, what is left of BUDGET)
  local name=$1 limit=$2; shift 2
  local left=$((BUDGET - (SECONDS - START)))
  [ "$limit" -gt "$left" ] && limit=$left
  if [ "$limit" -lt 20 ]; then
    echo "== $name: skipped, ${left}s of the ${BUDGET}s budget left" | tee -a "$OUT/log.txt"
    return
  fi
  echo "== $name (limit ${limit}s, at $((SECONDS - START))s)" | tee -a "$OUT/log.txt"
  local t0=$SECONDS
  timeout "$limit" "$@" >>"$OUT/$name.log" 2>&1
  echo "   exit $? after $((SECONDS - t0))s" | tee -a "$OUT/log.txt"
}

{
  date -u +%Y-%m-%dT%H:%M:%SZ
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "no nvidia-smi"
  "$PY" -c 'import torch, sklearn; print("torch", torch.__version__, "cuda", torch.version.cuda, "sklearn", sklearn.__version__)' 2>&1
  nproc
} >"$OUT/machine.txt"

# 1. The DOS iteration against the random-sampling one, DenseNet-BC-100, with the pipeline
#    (targets: DOS <= 2x random; pipeline >= 10x the DOS step's consumption). Without the split:
#    two executables to compile instead of six.
step densenet 200 "$BIN/perf" --network "$NET1" --method both --split=false --pipeline "${SHAPE[@]}" "${ITERS[@]}" "${GOEXTRA[@]}" --json "$OUT/gomlx_densenet.json"
# 2. The PyTorch peer on the same card (target: ours >= 5x faster on the DOS iteration).
step peer-densenet 90 "$PY" benchmarks/peer/dos_peer.py "${PEERDEV[@]}" --network "$NET1" "${SHAPE[@]}" "${PITERS[@]}" --json "$OUT/torch_densenet.json"
step compare-densenet 20 "$BIN/perf" --load "$OUT/gomlx_densenet.json" --compare "$OUT/torch_densenet.json"
# 3. Clustering alone at the official shape (target < 5 ms), and scikit-learn on this machine's CPU.
step kmeans 60 "$BIN/perf" --method kmeans --network "$NET1" "${KMSHAPE[@]}" --n-init 5 --iters 100 --warmup 10 "${GOEXTRA[@]}" --json "$OUT/gomlx_kmeans.json"
step peer-kmeans 40 "$PY" benchmarks/peer/dos_peer.py --method kmeans --network "$NET1" "${KMSHAPE[@]}" --n-init 5 --iters 10 --warmup 1 --json "$OUT/torch_kmeans.json"
step compare-kmeans 20 "$BIN/perf" --load "$OUT/gomlx_kmeans.json" --compare "$OUT/torch_kmeans.json"
# 3b. K-means and the DOS selection on the card against the pure-Go backend, same inputs and
#    uniforms: how much XLA's float32 matrix products on the GPU (TF32?) change the clusters and picks.
step kmeans-fidelity 90 "$BIN/sampling.test" -test.run 'TestDeviceMatchesGo' -test.v
# 4. The same for WRN-40-4.
step wrn404 150 "$BIN/perf" --network "$NET2" --method both --split=false "${SHAPE[@]}" "${ITERS[@]}" "${GOEXTRA[@]}" --json "$OUT/gomlx_wrn404.json"
step peer-wrn404 60 "$PY" benchmarks/peer/dos_peer.py "${PEERDEV[@]}" --network "$NET2" "${SHAPE[@]}" "${PITERS[@]}" --json "$OUT/torch_wrn404.json"
step compare-wrn404 20 "$BIN/perf" --load "$OUT/gomlx_wrn404.json" --compare "$OUT/torch_wrn404.json"
# 4b. Determinism: the same three DOS iterations twice, compared bit for bit, without and with
#     XLA's deterministic-ops flag (what bit-identical reruns and resumes need on the card).
step determinism 60 "$BIN/train.test" -test.run 'TestDeviceDeterministic' -test.v
step determinism-flag 60 env XLA_FLAGS=--xla_gpu_deterministic_ops=true "$BIN/train.test" -test.run 'TestDeviceDeterministic' -test.v
# 4c. What scikit-learn's empty-cluster relocation costs the clustering on the card.
step kmeans-keep 60 "$BIN/perf" --method kmeans --kmeans-keep-empty --network "$NET1" "${KMSHAPE[@]}" --n-init 5 --iters 100 --warmup 10 "${GOEXTRA[@]}" --json "$OUT/gomlx_kmeans_keep.json"
# 5. With what is left: the composed pure-Go ops against XLA's native ones on the card, and the
#    split of the DenseNet DOS iteration (four more executables).
step backend-native 60 "$BIN/backend.test" -test.run 'TestMatchesNativeXLA' -test.v
step densenet-split 200 "$BIN/perf" --network "$NET1" --method dos "${SHAPE[@]}" "${ITERS[@]}" "${GOEXTRA[@]}" --json "$OUT/gomlx_densenet_split.json"
echo "== done at $((SECONDS - START))s of ${BUDGET}s" | tee -a "$OUT/log.txt"

# A short summary last, since a device call's reply carries the end of the output: the comparison
# tables (without their JSON lines) and the device checks' findings. The full figures are in $OUT.
echo "== summary"
cat "$OUT/machine.txt" 2>/dev/null
for f in compare-densenet compare-kmeans compare-wrn404; do
  [ -f "$OUT/$f.log" ] && { echo "-- $f"; grep -v '^{' "$OUT/$f.log"; }
done
for f in kmeans-keep kmeans-fidelity determinism determinism-flag backend-native; do
  [ -f "$OUT/$f.log" ] && { echo "-- $f"; grep -v '^{' "$OUT/$f.log" | grep -E 'median|seed [0-9]|differ|^(--- )?(PASS|FAIL|SKIP|ok)' | cut -c1-220; }
done
true

#!/usr/bin/env bash
# Reproduces srkit's shipped models, srkit/weights/general_x{4,2}.safetensors (docs/models.md,
# "Shipped models"), from the photos in ../shared/data/photos: the quality benchmark's held-out
# photos (benchmarks/quality_holdout.txt) are left out. The pool (kernels + noise) is
# estimated from the training photos themselves; HR patches are those photos cleaned by a ×2
# bicubic downscale; each sample is degraded by the pool or by the random Real-ESRGAN pipeline.
#
# Usage: bash examples/train_default_models.sh [PHOTO_DIR] [WORK_DIR]
#   ITERS=10000 SCALES="4 2" DEVICE=cuda bash examples/train_default_models.sh
# Interrupted? Run it again: finished steps are kept, training goes on with --resume.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
photos="${1:-$repo/../shared/data/photos}"
work="${2:-default-models-work}"
iters="${ITERS:-2500}"
scales="${SCALES-4 2}"
device="${DEVICE:-auto}"
workers="${WORKERS:-1}"   # data loader processes per training run
install="${INSTALL:-1}"   # 1: copy the trained files into srkit/weights/
pool_share="${POOL_SHARE:-0.5}"   # share of samples degraded by the pool (else the random pipeline)

mkdir -p "$work/train"
grep -v '^#' "$repo/benchmarks/quality_holdout.txt" > "$work/holdout.txt"
for path in "$photos"/*; do
    name="$(basename "$path")"
    grep -qxF "$name" "$work/holdout.txt" || ln -sf "$(realpath "$path")" "$work/train/$name"
done
echo "== $(ls "$work/train" | wc -l) training photos ($(wc -l < "$work/holdout.txt") held out)"

echo "== the photos' own degradation: kernels at x2 and x4, noise patches"
srkit estimate-kernels "$work/train" --pool "$work/pool.h5" -x 2 -q
srkit estimate-kernels "$work/train" --pool "$work/pool.h5" -x 4 -q
srkit collect-noise "$work/train" --pool "$work/pool.h5" -q
srkit pool info "$work/pool.h5"

echo "== clean HR: each photo downscaled x2 (RealSR's clean-up)"
[ -d "$work/clean/hr" ] || srkit degrade "$work/train" --mode bicubic -x 2 --clean-up 2 \
    -o "$work/clean" -q

for scale in $scales; do
    out="$work/general_x$scale.safetensors"
    echo "== x$scale: compact net, L1, $iters iterations, pool + random degradations"
    resume=(--overwrite)
    [ -f "$work/general_x$scale.resume.pt" ] && resume=(--resume)
    srkit train-sr --hr "$work/clean/hr" --pool "$work/pool.h5" --synthetic --pool-share "$pool_share" \
        -o "$out" -x "$scale" --arch compact --num-feat 32 --num-conv 10 --recipe psnr \
        --iters "$iters" --batch-size 16 --patch-size $((32 * scale)) --learning-rate 5e-4 \
        --set "lr_milestones=[0.5, 0.75, 0.9]" --ema-decay 0.999 --val 0.04 \
        --val-every 500 --save-every 250 --seed 0 --workers "$workers" --device "$device" "${resume[@]}" \
        --description "General real-world x$scale model (blur, noise, JPEG); \
examples/train_default_models.sh"
    if [ "$install" = 1 ]; then
        cp "$out" "$repo/srkit/weights/general_x$scale.safetensors"
    fi
done
echo "== done: $work/general_x*.safetensors"

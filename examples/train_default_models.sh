#!/usr/bin/env bash
# Reproduces srkit's shipped models, srkit/weights/general_x{4,2}.safetensors (docs/models.md,
# "Shipped models"), from the photos in ../shared/data/photos: the quality benchmark's held-out
# photos (benchmarks/quality_holdout.txt) are left out. The pool (kernels + noise) is
# estimated from the training photos themselves; HR patches are those photos cleaned by a ×2
# bicubic downscale; each sample is degraded by the pool or by the random Real-ESRGAN pipeline.
# Three stages: ITERS iterations from scratch with POOL_SHARE of the samples from the pool, then
# (if FINETUNE_ITERS > 0) FINETUNE_ITERS more from those weights with FINETUNE_POOL_SHARE, a
# restarted, lower learning rate, and a random pipeline that stops after its first order in
# 1 - FINETUNE_SECOND_ORDER of the samples (milder degradations, as most cameras'; Real-ESRGAN
# always runs both orders); then (if CAMERA_ITERS > 0) CAMERA_ITERS more at half that learning
# rate, where CAMERA_SHARE of the random samples follow the classical camera model instead
# (blur, xs subsampling, noise, one JPEG on the LR grid: classical_prob), which Real-ESRGAN's
# pipeline, compressing twice and often resizing after its JPEG, rarely shows the network.
# CAMERA_SHARE is 0.5 at x4 and 0.75 at x2 by default: at x2 a half share left the gain on a
# fixed camera small (docs/models.md, "Shipped models").
#
# Usage: bash examples/train_default_models.sh [PHOTO_DIR] [WORK_DIR]
#   SCALES=4 WORKERS=9 DEVICE=cuda bash examples/train_default_models.sh PHOTOS WORK
#   The defaults (compact net of 64 features and 16 convolutions, 12000 + 12000 + 2500
#   iterations) made the shipped files. The first two stages ran on one H100 GPU with 16 CPU
#   cores: 3.0 + 2.9 min at x4 (9 data workers) and 2.4 + 2.5 min at x2 (6 workers), plus a
#   minute of preparation; there the data workers' CPU time (about 10 ms per x4 sample)
#   limits, not the GPU. The third ran on a 2-core CPU: x4 with one torch thread
#   (OMP_NUM_THREADS=1) beside other runs, 85 min; x2 alone with two threads, 33 min
#   (1.24 it/s). On a CPU alone the first two stages take days; NUM_FEAT=32 NUM_CONV=10
#   ITERS=5000 FINETUNE_ITERS=7000 CAMERA_ITERS=0 LR=5e-4 FINETUNE_LR=2.5e-4 (older shipped
#   files) took about 80 min per scale on one core.
# Interrupted? Run it again: finished steps are kept, training goes on with --resume.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
photos="${1:-$repo/../shared/data/photos}"
work="${2:-default-models-work}"
iters="${ITERS:-12000}"
num_feat="${NUM_FEAT:-64}"    # compact net: features per convolution
num_conv="${NUM_CONV:-16}"    # compact net: body convolutions
scales="${SCALES-4 2}"
device="${DEVICE:-auto}"
workers="${WORKERS:-1}"   # data loader processes per training run
install="${INSTALL:-1}"   # 1: copy the trained files into srkit/weights/
pool_share="${POOL_SHARE:-0.5}"   # share of samples degraded by the pool (else the random pipeline)
finetune_iters="${FINETUNE_ITERS:-12000}"           # second stage; 0 skips it
finetune_pool_share="${FINETUNE_POOL_SHARE:-0.2}"
# learning rates (Adam) of the two stages; the default is 5e-4 then 2.5e-4, but 2e-4 then 1e-4
# at x4, where the 64-feature net stalled at 5e-4 (flat loss for 11000 iterations)
lr="${LR:-}"
finetune_lr="${FINETUNE_LR:-}"
finetune_second_order="${FINETUNE_SECOND_ORDER:-0.5}"  # share of two-order random degradations
camera_iters="${CAMERA_ITERS:-2500}"   # third stage; 0 skips it
camera_share="${CAMERA_SHARE:-}"       # its share of classical (camera-model) random samples
camera_lr="${CAMERA_LR:-}"             # its learning rate; default half the second stage's

mkdir -p "$work/train"
grep -v '^#' "$repo/benchmarks/quality_holdout.txt" > "$work/holdout.txt"
for path in "$photos"/*; do
    name="$(basename "$path")"
    case "${name,,}" in *.jpg|*.jpeg|*.png|*.tif|*.tiff|*.bmp|*.webp) ;; *) continue ;; esac
    grep -qxF "$name" "$work/holdout.txt" || ln -sf "$(realpath "$path")" "$work/train/$name"
done
echo "== $(ls "$work/train" | wc -l) training photos ($(wc -l < "$work/holdout.txt") held out)"

echo "== the photos' own degradation: kernels at x2 and x4, noise patches"
srkit estimate-kernels "$work/train" --pool "$work/pool.h5" -x 2 -q
srkit estimate-kernels "$work/train" --pool "$work/pool.h5" -x 4 -q
srkit collect-noise "$work/train" --pool "$work/pool.h5" --rule realsr -q  # as the shipped models were trained
srkit pool info "$work/pool.h5"

echo "== clean HR: each photo downscaled x2 (RealSR's clean-up)"
[ -d "$work/clean/hr" ] || srkit degrade "$work/train" --mode bicubic -x 2 --clean-up 2 \
    -o "$work/clean" --workers "$workers" -q

# train STAGE OUTPUT ITERATIONS POOL_SHARE LEARNING_RATE SEED [--init FILE]: one train-sr run
# in WORK_DIR (OUTPUT and FILE are names there, so that the model's training_data metadata
# names no local folder), continued (--resume) if an earlier run of this script was interrupted.
train() {
    local stage="$1" out="$2" n="$3" share="$4" lr="$5" seed="$6"
    shift 6
    echo "== x$scale $stage: compact net, L1, $n iterations, pool share $share, lr $lr"
    local resume=(--overwrite)
    [ -f "$work/${out%.safetensors}.resume.pt" ] && resume=(--resume)
    (cd "$work" && srkit train-sr --hr clean/hr --pool pool.h5 --synthetic --pool-share "$share" \
        -o "$out" -x "$scale" --arch compact --num-feat "$num_feat" --num-conv "$num_conv" \
        --recipe psnr \
        --iters "$n" --batch-size 16 --patch-size $((32 * scale)) --learning-rate "$lr" \
        --set "lr_milestones=[0.5, 0.75, 0.9]" --ema-decay 0.999 --val 0.04 \
        --val-every 500 --save-every 250 --seed "$seed" --workers "$workers" --device "$device" \
        "${resume[@]}" "$@" --description "General real-world x$scale model (blur, noise, JPEG); \
examples/train_default_models.sh")
}

for scale in $scales; do
    case "$scale" in
        4) lr1=2e-4 lr2=1e-4 lr3=5e-5 share3=0.5 ;;
        *) lr1=5e-4 lr2=2.5e-4 lr3=1.25e-4 share3=0.75 ;;
    esac
    out="general_x$scale.safetensors"
    train "stage 1" "$out" "$iters" "$pool_share" "${lr:-$lr1}" 0 --init none  # from scratch
    if [ "$finetune_iters" -gt 0 ]; then
        tuned="general_x$scale.finetuned.safetensors"
        train "stage 2" "$tuned" "$finetune_iters" "$finetune_pool_share" "${finetune_lr:-$lr2}" 1 \
            --init "$out" --synthetic-set "second_order_prob=$finetune_second_order"
        out="$tuned"
    fi
    if [ "$finetune_iters" -gt 0 ] && [ "$camera_iters" -gt 0 ]; then
        third="general_x$scale.stage3.safetensors"
        train "stage 3" "$third" "$camera_iters" "$finetune_pool_share" "${camera_lr:-$lr3}" 2 \
            --init "$out" --synthetic-set "second_order_prob=$finetune_second_order" \
            --synthetic-set "classical_prob=${camera_share:-$share3}"
        out="$third"
    fi
    if [ "$install" = 1 ]; then
        cp "$work/$out" "$repo/srkit/weights/general_x$scale.safetensors"
    fi
done
echo "== done: $work/general_x*.safetensors"

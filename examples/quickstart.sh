#!/usr/bin/env bash
# srkit's whole workflow on the four photos bundled in examples/photos/ (a few minutes on
# 2 CPU cores). Installs srkit first. Usage: bash examples/quickstart.sh [OUTPUT_DIR]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-quickstart-out}"
photos="$repo/examples/photos"

echo "== installing srkit (PyTorch 2.13 CPU build first)"
python3 -m pip install --quiet torch==2.13.0
python3 -m pip install --quiet -e "$repo"
mkdir -p "$out"

echo "== 1. blur kernels of the camera, one per photo"
srkit estimate-kernels "$photos" --pool "$out/pool.h5" -x 2 --save-kernels "$out/kernels"

echo "== 2. noise of the camera (flat against its own noise level, at every brightness) and its JPEG"
srkit collect-noise "$photos" --pool "$out/pool.h5"
srkit pool info "$out/pool.h5"
srkit pool show "$out/pool.h5" -o "$out/pool.png"

echo "== 3. training pairs: photos cleaned up by a x2 downscale, then degraded like the camera"
train=("$photos"/tuxpaint_lighthouse.jpg "$photos"/tuxpaint_mossy_bark.jpg \
       "$photos"/tuxpaint_wool_mill_machine.jpg)
held_out=("$photos"/tuxpaint_trees_above.jpg)
srkit degrade "${train[@]}" --pool "$out/pool.h5" -x 2 --clean-up 2 -o "$out/pairs"
srkit degrade "${held_out[@]}" --pool "$out/pool.h5" -x 2 --clean-up 2 -o "$out/test" --seed 7

echo "== 4. a small SR model for this camera (a narrow compact net, L1, a few minutes)"
srkit train-sr "$out/pairs" -o "$out/model.safetensors" -x 2 --arch compact --recipe psnr \
    --num-feat 32 --num-conv 6 --iters 300 --batch-size 16 --patch-size 64 \
    --learning-rate 1e-3 --set "lr_milestones=[0.6, 0.9]" --seed 0 --overwrite

echo "== 5. upscale the held-out LR with the model and with interpolation"
srkit upscale "$out/test/lr" --model "$out/model.safetensors" -o "$out/sr/model" --overwrite -q
srkit upscale "$out/test/lr" -x 2 --method bicubic -o "$out/sr/bicubic" --overwrite -q
srkit upscale "$out/test/lr" -x 2 --method lanczos -o "$out/sr/lanczos" --overwrite -q

echo "== 6. evaluate against the held-out HR"
srkit evaluate "$out/sr/model" "$out/sr/bicubic" "$out/sr/lanczos" --ref "$out/test/hr" -x 2 \
    --metrics psnr,ssim
srkit evaluate "$out/sr/model" "$out/sr/bicubic" "$out/sr/lanczos" --ref "$out/test/hr" -x 2 \
    --json -q > "$out/evaluation.json"

echo "== 7. a visual report: zoomed crops where the methods differ, scores, pool, training curves"
srkit evaluate "$out/sr/model" "$out/sr/bicubic" "$out/sr/lanczos" --ref "$out/test/hr" -x 2 \
    --lr "$out/test/lr" --report "$out/report.html" --grid "$out/grid.png" \
    --attach "$out/pool.png" --training-log "$out/model.train.csv" -q

echo "== 8. the shipped general model on the same LR (trained on other photos, other degradations)"
if srkit upscale "$out/test/lr" -x 2 -o "$out/sr/general_x2" --overwrite -q; then
    srkit evaluate "$out/sr/general_x2" --ref "$out/test/hr" -x 2 --metrics psnr,ssim
fi
echo "== done: open $out/report.html (also in $out/: grid.png, evaluation.json, pool.png, kernels/, sr/)"

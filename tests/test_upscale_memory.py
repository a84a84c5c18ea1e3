"""``srkit upscale`` memory: tiles go straight into the output's samples, so the peak above
the process's baseline grows by about the output's bytes, not by a float copy of it: within
1.5× the output's bytes at five image sizes (plus a fixed 16 MB for the two small ones)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = r'''
import json, sys
from pathlib import Path
import numpy as np
import torch
from PIL import Image
from srkit.io.checkpoints import save_model
from srkit.models import build_model
from srkit.stages.upscale import upscale

def status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

folder = Path(sys.argv[1])
torch.manual_seed(0)
args = {"num_feat": 8, "num_conv": 2, "upscale": 4}
model = save_model(folder / "tiny_x4.safetensors", build_model("compact", **args), "compact",
                   args, 4)

def photo(height, width, name, alpha):
    y, x = np.mgrid[0:height, 0:width]
    planes = [x * 255 // width, y * 255 // height, (x + y) % 256] + ([x % 256] if alpha else [])
    Image.fromarray(np.stack(planes, axis=2).astype(np.uint8)).save(folder / name)
    return folder / name

for alpha in (False, True):  # warm-up: torch, oneDNN's kernels, the model file, both paths
    upscale([photo(24, 24, "warm.png", alpha)], folder / "warm_x4.png", model=model, tile=64,
            overwrite=True)
for height in (96, 192, 768, 1024, 1280):
    alpha = height == 192  # RGBA on the middle size: alpha is enlarged tile by tile too
    source = photo(height, height * 3 // 2, f"in{height}.png", alpha)
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    baseline = status("VmRSS")
    upscale([source], folder / f"out{height}.png", model=model, tile=64)
    print(json.dumps({"output_bytes": 16 * height * (height * 3 // 2) * (4 if alpha else 3),
                      "peak": status("VmHWM") - baseline}))
'''


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_peak_memory_grows_by_the_output_bytes(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    runs = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(runs) == 5
    allowance = 16e6  # one 64² tile's activations, the PNG writer's bands, Python's pools
    for run in runs:
        assert run["peak"] <= 1.5 * run["output_bytes"] + allowance, runs
    # once the output dwarfs one tile's working set, the bound holds without the allowance,
    # at three sizes: 768 × 1152, 1024 × 1536 and 1280 × 1920 → ×4 (42, 75 and 118 MB)
    for run in runs[2:]:
        assert run["peak"] <= 1.5 * run["output_bytes"], runs
    small, large = runs[0], runs[-1]
    growth = (large["peak"] - small["peak"]) / (large["output_bytes"] - small["output_bytes"])
    # a float32 copy of the output alone would be 4 bytes per output byte (the whole-image
    # path measured 16)
    assert growth <= 1.5, runs
    assert all(p.stat().st_size > 0 for p in tmp_path.glob("out*.png"))

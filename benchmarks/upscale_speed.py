"""Upscale speed per architecture: output megapixels per second and share of the CPU's
measured convolution throughput; srkit's runner beside plain torch and onnxruntime on the
shipped model; the time from process start to the first tile.

    python benchmarks/upscale_speed.py [--threads N] [--repeats 3] [--out FILE.md]

For each architecture at its default size at ×4 it times the network on a small input
(untiled, float32, ``torch.inference_mode``, channels-last with freed memory kept mapped as
``srkit upscale`` runs it), counts the network's convolution FLOPs per
output pixel (2 × multiply-adds of every Conv2d, read from forward hooks), and compares
the FLOP rate reached with that of one large 64→64 3×3 convolution (the best case for
the same kernels). It also reports the extra work that *exact* tiling costs at the default
``--tile 512`` on a 1024×1024 input (processed input area / image area), computed from
:func:`srkit.ops.tiling.tile_spans`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

from srkit.device import cpu_name
from srkit.memory import keep_freed_memory
from srkit.models import build_model
from srkit.ops.tiling import tile_spans
from srkit.stages.upscale_tiles import native_bf16, prepare

SHIPPED_SIDE = 160  # LR side of the side-by-side runs on the shipped general_x4
BF16_ROW = "torch as srkit runs it with --precision bf16 (autocast; native bf16 here)"

MODELS = [  # name, arch, arguments, LR input side for the timing
    ("RRDBNet (23 blocks, ESRGAN)", "rrdbnet", {"scale": 4}, 48),
    ("SRResNet (16 blocks, SRGAN)", "srresnet", {"upscale": 4}, 96),
    ("compact (16 convs, Real-ESRGAN)", "compact", {"num_conv": 16, "upscale": 4}, 128),
    ("compact (32 convs, general-x4v3)", "compact", {"num_conv": 32, "upscale": 4}, 128),
    ("SAN (20 LSRAGs × 10 blocks)", "san", {"upscale": 4}, 48),
    ("SRFBN (G=6, T=4)", "srfbn", {"upscale": 4}, 48),
    ("Meta-RDN (16 RDBs × 8 convs, at ×4)", "metasr", {"scale": 4}, 48),
]


def conv_flops(model: nn.Module, x: torch.Tensor) -> int:
    """2 × multiply-adds of every Conv2d and ConvTranspose2d in one forward pass of ``x``
    (not SAN's attention and covariance products, nor Meta-SR's per-pixel filters)."""
    total = 0

    def hook(module: nn.Conv2d | nn.ConvTranspose2d, inputs, output: torch.Tensor) -> None:
        nonlocal total
        k_h, k_w = module.kernel_size
        if isinstance(module, nn.ConvTranspose2d):  # each input value meets k·k·C_out weights
            total += 2 * inputs[0].numel() * module.out_channels // module.groups * k_h * k_w
            return
        per_output = module.in_channels // module.groups * k_h * k_w
        total += 2 * per_output * output.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.inference_mode():
        model(x)
    for handle in handles:
        handle.remove()
    return total


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up: oneDNN picks and caches its kernels for this shape
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def peak_conv_gflops(repeats: int, dtype: torch.dtype = torch.float32
                     ) -> tuple[float, float]:
    """(best, median) GFLOP/s of a 64→64 3×3 convolution on a 1×64×256×256 map
    (channels-last, oneDNN's fastest layout)."""
    conv = nn.Conv2d(64, 64, 3, padding=1).eval().to(dtype, memory_format=torch.channels_last)
    x = torch.rand(1, 64, 256, 256).to(dtype, memory_format=torch.channels_last)
    flops = 2 * 64 * 9 * 64 * 256 * 256

    def run() -> None:
        with torch.inference_mode(), keep_freed_memory():
            conv(x)

    times = timed(run, repeats)
    return flops / min(times) / 1e9, flops / statistics.median(times) / 1e9


def side_by_side(repeats: int) -> tuple[list[dict], float, float | None]:
    """The shipped general_x4 on a SHIPPED_SIDE² tile: plain torch (NCHW), srkit's runner,
    onnxruntime with and without kept memory, and the fp32 (and bf16) reference convolution,
    each repeat running every variant once in turn; medians. Returns the rows, the fp32
    reference's median GFLOP/s and the bf16 one's (None without native bf16)."""
    import tempfile

    import numpy as np

    from srkit.io.checkpoints import load_model
    from srkit.modelzoo import resolve_model
    from srkit.stages.export import _export_onnx
    from srkit.stages.upscale_tiles import network_runner

    plain = load_model(resolve_model("general_x4"), "cpu").model
    srkit_net = load_model(resolve_model("general_x4"), "cpu").model
    prepare(srkit_net)
    rgb = np.random.default_rng(0).random((SHIPPED_SIDE, SHIPPED_SIDE, 3), dtype=np.float32)
    x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]
    flops = conv_flops(plain, x)
    runner = network_runner(srkit_net)
    variants = {
        "torch, NCHW (srkit before)": lambda: plain(x).clamp(0, 1)[0].permute(1, 2, 0).numpy(),
        "torch as srkit runs it (channels-last, freed memory kept)": lambda: _kept(
            lambda: runner(rgb)),
    }
    if native_bf16():  # `srkit upscale --precision bf16`
        fast = network_runner(srkit_net, bf16=True)
        variants[BF16_ROW] = lambda: _kept(lambda: fast(rgb))
    try:
        import onnxruntime
    except ImportError:
        onnxruntime = None
    if onnxruntime is not None:
        path = Path(tempfile.mkdtemp()) / "general_x4.onnx"
        _export_onnx(plain, torch.rand(1, 3, 32, 40), path, 18, "{}")
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

        def ort() -> np.ndarray:
            out = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
            return np.clip(out, 0, 1)[0].transpose(1, 2, 0)

        variants[f"onnxruntime {onnxruntime.__version__}"] = ort
        variants["onnxruntime, freed memory kept"] = lambda: _kept(ort)
        from srkit.stages.onnx_backend import session_runner

        backend = session_runner(path)  # what `srkit upscale --backend onnxruntime` runs
        variants["srkit's runner with --backend onnxruntime"] = lambda: _kept(
            lambda: backend(rgb))
    peaks = {torch.float32: []}
    if native_bf16():
        peaks[torch.bfloat16] = []
    times: dict[str, list[float]] = {name: [] for name in variants}
    with torch.inference_mode():
        reference = np.round(variants["torch, NCHW (srkit before)"]() * 255)
        diffs = {name: int(np.abs(np.round(fn() * 255) - reference).max())
                 for name, fn in variants.items()}  # also the warm-up
        for _ in range(repeats):
            for dtype, found in peaks.items():
                found.append(peak_conv_gflops(1, dtype)[1])
            for name, fn in variants.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    peak32 = statistics.median(peaks[torch.float32])
    out_pixels = (4 * SHIPPED_SIDE) ** 2
    rows = []
    base = statistics.median(times["torch, NCHW (srkit before)"])
    for name in variants:
        median = statistics.median(times[name])
        rows.append({"name": name, "mp_s": out_pixels / median / 1e6, "speedup": base / median,
                     "share": flops / median / 1e9 / peak32, "diff": diffs[name]})
    bf16 = statistics.median(peaks[torch.bfloat16]) if torch.bfloat16 in peaks else None
    return rows, peak32, bf16


def bf16_accuracy() -> list[str]:
    """bf16 autocast against float32 on the shipped general_x4, on the bundled photos
    (examples/photos, whole) and on the random tile of :func:`side_by_side`: 8-bit outputs
    compared level by level."""
    import numpy as np

    from srkit.io.checkpoints import load_model
    from srkit.io.images import read_image
    from srkit.metrics.psnr_ssim import psnr
    from srkit.modelzoo import resolve_model
    from srkit.stages.upscale_tiles import network_runner

    net = load_model(resolve_model("general_x4"), "cpu").model
    prepare(net)
    exact, fast = network_runner(net), network_runner(net, bf16=True)
    photos = sorted((Path(__file__).resolve().parents[1] / "examples" / "photos").glob("*.jpg"))
    inputs = [(p.stem, read_image(p).rgb) for p in photos]
    inputs.append(("random tile", np.random.default_rng(0).random(
        (SHIPPED_SIDE, SHIPPED_SIDE, 3), dtype=np.float32)))
    lines = ["bf16 autocast against float32 (8-bit outputs of general_x4):", "",
             "| input | size | max diff (levels) | mean diff | samples > 1 level | PSNR bf16 vs "
             "fp32 (dB) |", "|---|---|---|---|---|---|"]
    with torch.inference_mode(), keep_freed_memory():
        for name, rgb in inputs:
            a, b = np.round(exact(rgb) * 255), np.round(fast(rgb) * 255)
            d = np.abs(a - b)
            lines.append(f"| {name} | {rgb.shape[1]}×{rgb.shape[0]} | {d.max():.0f} | "
                         f"{d.mean():.3f} | {100 * (d > 1).mean():.4f} % | "
                         f"{psnr(a / 255, b / 255, y_channel=False):.1f} |")
    return lines


def _kept(fn):
    with keep_freed_memory():
        return fn()


def startup(repeats: int) -> dict[str, float]:
    """Median seconds of ``srkit upscale --help``, and from process start to the first tile
    of ``srkit upscale`` (a 64² PNG, the shipped model), in fresh processes."""
    import subprocess
    import sys
    import tempfile

    import numpy as np
    from PIL import Image

    folder = Path(tempfile.mkdtemp())
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(folder / "in.png")
    first_tile = (
        "import sys, time\n"
        "import srkit.stages.upscale_tiles as tiles\n"
        "original = tiles.network_runner\n"
        "def timed(*a, **k):\n"
        "    run = original(*a, **k)\n"
        "    def first(piece):\n"
        "        print('FIRST', time.time(), flush=True)\n"
        "        raise SystemExit(0)\n"
        "    return first\n"
        "tiles.network_runner = timed\n"
        "from srkit.cli import main\n"
        "sys.argv = ['srkit', 'upscale', sys.argv[1], '-o', sys.argv[2], '-q', *sys.argv[3:]]\n"
        "main()\n")
    env = {**os.environ, "SRKIT_CACHE": str(folder / "cache")}

    def to_first_tile(index: int, *extra: str) -> float:
        start = time.time()
        done = subprocess.run([sys.executable, "-c", first_tile, str(folder / "in.png"),
                               str(folder / f"out{index}.png"), *extra], capture_output=True,
                              text=True, check=True, env=env)
        return float(done.stdout.split("FIRST")[1].split()[0]) - start

    try:
        import onnxruntime  # noqa: F401
        ort = ("--backend", "onnxruntime")
        subprocess.run([sys.executable, "-m", "srkit", "upscale", str(folder / "in.png"), "-o",
                        str(folder / "warm.png"), "-q", *ort], check=True, env=env,
                       capture_output=True)  # exports the model once, into the cache
    except ImportError:
        ort = None
    helps, tiles, ort_tiles = [], [], []
    for index in range(repeats):
        start = time.time()
        subprocess.run([sys.executable, "-m", "srkit", "upscale", "--help"], check=True,
                       capture_output=True)
        helps.append(time.time() - start)
        tiles.append(to_first_tile(index))
        if ort is not None:
            ort_tiles.append(to_first_tile(index, *ort))
    return {"help": statistics.median(helps), "first_tile": statistics.median(tiles),
            "first_tile_onnxruntime": statistics.median(ort_tiles) if ort_tiles else None}


def tiling_overhead(radius: int, multiple: int, side: int = 1024, tile: int = 512) -> float:
    spans = tile_spans(side, tile, radius, multiple)
    processed = sum(s.in_stop - s.in_start for s in spans)
    return (processed / side) ** 2


def shipped_table(shipped: list[dict]) -> list[str]:
    """The side-by-side rows of :func:`side_by_side` as a markdown table."""
    lines = ["| runner | output MP/s (median) | speed vs plain torch | share of fp32 conv peak "
             "| max 8-bit diff |", "|---|---|---|---|---|"]
    for row in shipped:
        lines.append(f"| {row['name']} | {row['mp_s']:.3f} | {row['speedup']:.2f}× | "
                     f"{100 * row['share']:.0f} % | {row['diff']} |")
    return lines


def write_shipped(args: argparse.Namespace) -> None:
    """The shipped model's runners alone (``--shipped-only``), in their own results file."""
    load_before = os.getloadavg()
    shipped, peak32, peak_bf16 = side_by_side(args.repeats)
    ort = next((r for r in shipped if r["name"].startswith("onnxruntime 1")), None)
    own = next((r for r in shipped if "--backend onnxruntime" in r["name"]), None)
    bf16 = next((r for r in shipped if r["name"] == BF16_ROW), None)
    torch_row = next(r for r in shipped if r["name"].startswith("torch as srkit runs it ("))
    accuracy = bf16_accuracy() if native_bf16() else None
    text = "\n".join([
        "# The shipped ×4 model's runners side by side (CPU)", "",
        f"Generated by `python benchmarks/upscale_speed.py --shipped-only --repeats "
        f"{args.repeats}` ({args.threads} torch threads, {cpu_name()}, native bf16: "
        f"{'yes' if native_bf16() else 'no'}); 1-minute load {load_before[0]:.1f} → "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs. general_x4 on a {SHIPPED_SIDE}² "
        f"tile; each of {args.repeats} rounds runs every row once in turn; medians. Share = "
        f"conv GFLOP/s reached / the fp32 reference convolution's median in the same rounds "
        f"({peak32:.1f} GFLOP/s" + (f"; bf16 {peak_bf16:.1f}" if peak_bf16 else "") + ").", "",
        *shipped_table(shipped), "",
        (f"srkit's default (torch backend, float32) against onnxruntime: "
         f"{torch_row['mp_s'] / ort['mp_s']:.2f}×; srkit with `--backend onnxruntime` "
         f"against onnxruntime itself: {own['mp_s'] / ort['mp_s']:.2f}×"
         + (f"; srkit with `--precision bf16` against onnxruntime: "
            f"{bf16['mp_s'] / ort['mp_s']:.2f}×." if bf16 else ".")
         if ort and own else "onnxruntime not installed."),
        "", *(accuracy or ["No native bf16 on this CPU: `--precision auto` runs float32."]),
        ""])
    out = args.out.with_name("upscale_shipped.md")
    out.write_text(text)
    print(text)


def write_startup(args: argparse.Namespace) -> None:
    """The start-up numbers alone (``--startup-only``), in their own results file."""
    load_before = os.getloadavg()
    starts = startup(args.repeats)
    text = "\n".join([
        "# Upscale start-up on this machine", "",
        f"Generated by `python benchmarks/upscale_speed.py --startup-only --repeats "
        f"{args.repeats}`; 1-minute load {load_before[0]:.1f} → {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} CPUs. Medians of {args.repeats} fresh processes, seconds:", "",
        "| what | seconds |", "|---|---|",
        f"| `srkit upscale --help` | {starts['help']:.2f} |",
        f"| `srkit upscale` (torch backend): process start to the first tile entering the "
        f"network (64² PNG, shipped model; torch import and model load included) | "
        f"{starts['first_tile']:.2f} |",
        "| the same with `--backend onnxruntime`, the model's export cached (no torch "
        "import) | " + (f"{starts['first_tile_onnxruntime']:.2f} |"
                        if starts["first_tile_onnxruntime"] is not None
                        else "onnxruntime not installed |"), ""])
    out = args.out.with_name("upscale_startup.md")
    out.write_text(text)
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "upscale_speed.md")
    parser.add_argument("--startup-only", action="store_true",
                        help="measure start-up only, into results/upscale_startup.md")
    parser.add_argument("--shipped-only", action="store_true",
                        help="the shipped model's runners side by side only, into "
                        "results/upscale_shipped.md")
    args = parser.parse_args()
    if args.startup_only:
        write_startup(args)
        return
    if args.shipped_only:
        torch.set_num_threads(args.threads)
        write_shipped(args)
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load_before = os.getloadavg()
    rows = []
    peaks = []
    for name, arch, arch_args, side in MODELS:
        # The CPU is shared: measure the reference convolution right before each network so
        # that each share compares two measurements taken under the same load.
        peak, _ = peak_conv_gflops(args.repeats)
        peaks.append(peak)
        model = build_model(arch, **arch_args).eval()
        x = torch.rand(1, 3, side, side)
        out_pixels = (side * model.scale) ** 2
        flops_per_pixel = conv_flops(model, x) / out_pixels
        prepare(model)
        x = x.contiguous(memory_format=torch.channels_last)

        def run(model: nn.Module = model, x: torch.Tensor = x) -> None:
            with torch.inference_mode(), keep_freed_memory():
                model(x)

        times = timed(run, args.repeats)
        best, median = min(times), statistics.median(times)
        rows.append({
            "name": name, "params": sum(p.numel() for p in model.parameters()) / 1e6,
            "input": side, "mflop_per_px": flops_per_pixel / 1e6,
            "mp_s_best": out_pixels / best / 1e6, "mp_s_median": out_pixels / median / 1e6,
            "gflops": flops_per_pixel * out_pixels / best / 1e9, "peak": peak,
            "radius": model.receptive_radius,
            "overhead": tiling_overhead(model.receptive_radius, model.size_multiple)})
        print(f"{name}: {rows[-1]['mp_s_best']:.4f} output MP/s (best), "
              f"{rows[-1]['gflops']:.1f} GFLOP/s", flush=True)
    shipped, peak32, peak_bf16 = side_by_side(args.repeats)
    for row in shipped:
        print(f"{row['name']}: {row['mp_s']:.3f} output MP/s, {row['speedup']:.2f}×", flush=True)
    starts = startup(args.repeats)
    load_after = os.getloadavg()
    peak_best = max(peaks)
    lines = [
        "# Upscale speed on this machine (×4, CPU)",
        "",
        f"Generated by `{' '.join(['python', 'benchmarks/upscale_speed.py', *sys.argv[1:]])}`. "
        "Untiled float32 inference, `torch.inference_mode`, channels-last with freed memory "
        f"kept mapped (as `srkit upscale` runs), {args.threads} thread(s), best and median of "
        f"{args.repeats} runs after a warm-up.",
        "",
        f"- CPU: {cpu_name()}, {os.cpu_count()} logical cores; torch {torch.__version__}",
        f"- Measured convolution throughput (64→64 3×3 on 1×64×256×256, best of "
        f"{args.repeats}, measured again before each network): **{peak_best:.1f} GFLOP/s** "
        f"at best, {min(peaks):.1f} at worst",
        f"- Load average (1 min) before / after: {load_before[0]:.1f} / {load_after[0]:.1f}. "
        "**The CPU was shared with other jobs during this run**, so absolute numbers are "
        "pessimistic and noisy; the ratios between rows are more trustworthy.",
        "",
        "| network | params (M) | LR input | conv MFLOP / output px | output MP/s (best) | "
        "output MP/s (median) | GFLOP/s reached | conv reference just before | share of conv "
        "throughput | receptive radius (px) | exact-tiling work, 1024² at --tile 512 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['name']} | {row['params']:.2f} | {row['input']}² | "
            f"{row['mflop_per_px']:.3f} | {row['mp_s_best']:.4f} | {row['mp_s_median']:.4f} | "
            f"{row['gflops']:.1f} | {row['peak']:.1f} | "
            f"{100 * row['gflops'] / row['peak']:.0f} % | "
            f"{row['radius']} | {row['overhead']:.2f}× |")
    lines += [
        "",
        "FLOPs count convolutions and deconvolutions only (2 × multiply-adds); activations, "
        "pixel shuffle, interpolation and concatenation are memory-bound work on top, and "
        "SAN's non-local attention and covariance square roots and Meta-SR's per-pixel "
        "filters are matrix products not counted here. SAN's receptive radius is that of its "
        "convolutions: its attention makes the field global, so its tiling is never exact. "
        "*Share of conv throughput* = GFLOP/s reached / the reference convolution's GFLOP/s "
        "measured just before, the fraction of what the CPU's convolution kernels deliver in "
        "the best case. The last column is the input area "
        "processed when tiling exactly (each 512² tile with its receptive radius of context) "
        "relative to the image area: RRDBNet's 23 blocks reach 349 input pixels, so exact "
        "tiles cost nearly 3× the work; `--tile-overlap 32` brings that to about 1.1× at the "
        "price of differences near tile borders.",
        "",
    ]
    lines += [
        f"## The shipped general_x4 side by side ({SHIPPED_SIDE}² LR tile, ×4)",
        "",
        f"Each of {args.repeats} rounds runs every row once in turn, and the reference "
        "convolution too; medians. Share = conv GFLOP/s reached / the fp32 reference's median "
        f"in the same rounds ({peak32:.1f} GFLOP/s"
        + (f"; bf16, native on this CPU: {peak_bf16:.1f} GFLOP/s" if peak_bf16 else
           "; this CPU has no native bf16, so no bf16 reference") + "). *8-bit diff* = max "
        "difference from the first row after rounding to 8 bits.",
        "",
        *shipped_table(shipped),
    ]
    lines += [
        "",
        f"Start-up (median of {args.repeats} fresh processes): `srkit upscale --help` "
        f"{starts['help']:.2f} s; `srkit upscale` from process start to the first tile "
        f"entering the network (64² PNG, shipped model; torch import and model load included) "
        f"{starts['first_tile']:.2f} s"
        + (f"; with `--backend onnxruntime` and the model's export cached (no torch import) "
           f"{starts['first_tile_onnxruntime']:.2f} s."
           if starts.get("first_tile_onnxruntime") is not None else "."),
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

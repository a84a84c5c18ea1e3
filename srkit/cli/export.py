"""``srkit export``: an SR model as ONNX (``.onnx``) or TorchScript (``.pt``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from srkit.cli.app import JsonOpt, QuietOpt, app, setup

ModelArg = Annotated[str, typer.Argument(
    help="Model file (srkit .safetensors or a BasicSR/Real-ESRGAN .pth) or the name of one "
    "listed by srkit models.", show_default=False)]
OutOpt = Annotated[Path, typer.Option(
    "-o", "--output", show_default=False,
    help="Exported file: .onnx for ONNX, .pt (or .pts, .torchscript) for TorchScript.")]
OpsetOpt = Annotated[int, typer.Option(
    "--opset", min=13, help="ONNX operator set (lower ones are converted by onnx).")]
ToleranceOpt = Annotated[float, typer.Option(
    "--tolerance", min=0.0,
    help="Refuse the export when its [0, 1] output differs from srkit's by more than this.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")]


@app.command("export")
def export_cmd(
    model: ModelArg,
    output: OutOpt,
    opset: OpsetOpt = 18,
    tolerance: ToleranceOpt = 1e-3,
    overwrite: OverwriteOpt = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Export an SR model to ONNX or TorchScript, checked against srkit's own forward pass.

    Height and width are dynamic. The exported file is run at two sizes on random inputs and
    refused if it differs from srkit by more than --tolerance. ONNX needs the srkit[export]
    extra (onnx, onnxscript, onnxruntime).

    The written path is printed on stdout.
    """
    setup(quiet=quiet)
    from srkit.stages.export import EXPORT_SIZE, SECOND_SIZE, export_model

    result = export_model(model, output, opset=opset, tolerance=tolerance, overwrite=overwrite)
    from srkit.console import info, stdout

    if json_out:
        import json

        stdout.print_json(json.dumps({
            "output": str(result.path), "format": result.format, "model": str(result.model),
            "arch": result.arch, "scale": result.scale, "opset": result.opset,
            "max_abs_diff": result.max_abs_diff,
            "max_abs_diff_resized": result.max_abs_diff_resized,
            "tolerance": result.tolerance, "seconds": round(result.seconds, 3)}))
    else:
        stdout.print(str(result.path), highlight=False, soft_wrap=True)
    what = f"ONNX, opset {result.opset}" if result.opset else "TorchScript, traced"
    sizes = (f"{result.max_abs_diff:.2g} at {EXPORT_SIZE[0]}×{EXPORT_SIZE[1]}, "
             f"{result.max_abs_diff_resized:.2g} at {SECOND_SIZE[0]}×{SECOND_SIZE[1]}")
    info(f"{result.arch} ×{result.scale} → {result.path} ({what}); max |exported − srkit| "
         f"{sizes} (tolerance {result.tolerance:g}) in {result.seconds:.1f} s")

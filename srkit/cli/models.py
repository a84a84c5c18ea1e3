"""``srkit models``: the shipped models and the user's models folder."""

from __future__ import annotations

from srkit.cli.app import JsonOpt, app


@app.command("models")
def models_cmd(json_out: JsonOpt = False) -> None:
    """List the models --model NAME accepts: shipped ones and those in the models folder.

    The models folder is $SRKIT_MODELS, else ~/.local/share/srkit/models: copy a .safetensors
    or .pth file there and use its name (without the suffix) with srkit upscale --model.
    """
    from srkit.console import stdout, warn
    from srkit.modelzoo import list_models, user_models_dir

    models, problems = list_models()
    for problem in problems:
        warn(f"skipped {problem}")
    if json_out:
        import json

        stdout.print_json(json.dumps({"user_models_dir": str(user_models_dir()),
                                      "models": [m.to_dict() for m in models]}))
        return
    from rich.table import Table

    table = Table(title="srkit models", title_justify="left")
    for column in ("name", "scale", "arch", "params", "MB", "source", "description"):
        table.add_column(column, justify="right" if column in ("scale", "params", "MB")
                         else "left")
    for m in models:
        table.add_row(m.name, f"×{m.scale}" if m.scale else "?", m.arch or "?",
                      f"{m.params / 1e6:.2f} M" if m.params else "?",
                      f"{m.size_bytes / 1e6:.1f}", m.source, m.description)
    stdout.print(table)
    if not models:
        stdout.print("no models installed")
    stdout.print(f"user models folder: {user_models_dir()}")

"""The README documents every command and every option (regenerate with docs/cli_reference.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from srkit.cli import iter_commands

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_command_and_option_is_in_the_readme() -> None:
    text = README.read_text()
    missing = []
    for name, command in iter_commands():
        heading = f"### `srkit {name}`"
        if heading not in text:
            missing.append(heading)
            continue
        section = text.split(heading, 1)[1].split("\n### ", 1)[0]
        for param in command.params:
            for opt in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]:
                documented = f"`{opt}`" in section
                if opt.startswith("-") and opt not in ("--help", "-h") and not documented:
                    missing.append(f"srkit {name} {opt}")
    assert not missing, ("README is out of date (python docs/cli_reference.py): "
                         + ", ".join(missing))


@pytest.mark.slow  # about 30 s: kernels, noise, pairs and a 20-iteration training run
def test_the_library_snippet_runs_as_written(tmp_path, monkeypatch) -> None:
    """The README's library snippet, on the bundled photos: photos/ their LR (a JPEG of each
    downscaled to 400 px, the size of a x4 user's photos), clean/ them at 256 px as clean HR."""
    import re

    from PIL import Image

    text = README.read_text()
    snippet = re.search(r"Every step is also a library call.*?```python\n(.*?)```", text,
                        re.S).group(1)
    photos = README.parent / "examples" / "photos"
    for folder, side in (("photos", 400), ("clean", 256)):
        (tmp_path / folder).mkdir()
        for path in photos.glob("*.jpg"):
            with Image.open(path) as image:
                image.thumbnail((side, side), Image.Resampling.BICUBIC)
                image.save(tmp_path / folder / path.name, quality=90)
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, "README.md", "exec"), {})
    assert (tmp_path / "model.safetensors").exists() and any((tmp_path / "sr").iterdir())

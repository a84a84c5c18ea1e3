"""The CLI shell: fast help without heavy imports, one-line errors, commands registered."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from srkit.cli import app


def test_help_imports_no_heavy_modules() -> None:
    code = ("import sys; import srkit.cli; "
            "heavy = [m for m in ('torch', 'h5py', 'scipy', 'skimage') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


def test_help_lists_the_workflow_commands() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("collect-noise", "degrade", "evaluate", "pool"):
        assert command in result.output


def test_help_names_values_as_the_user_types_them() -> None:
    """No ``<bool>`` after flags, no ``{inputs}`` / ``<list[str]>``: click's words (TEXT, PATH,
    INTEGER RANGE), arguments upper-case in the usage line, and each -o says what it writes."""
    runner = CliRunner()
    for command in (["upscale"], ["degrade"], ["train-sr"], ["pool", "show"], ["evaluate"],
                    ["collect-noise"], ["estimate-kernels"], ["pool", "merge"]):
        result = runner.invoke(app, [*command, "--help"], terminal_width=200)
        assert result.exit_code == 0, command
        text = result.output
        for typer_label in ("<bool>", "<str>", "<list[", "<path>", "<int", "<float>", "{"):
            assert typer_label not in text, (command, typer_label)
        assert "Output file or folder" not in text
        overwrite = [line for line in text.splitlines() if "--overwrite" in line]
        assert all("BOOLEAN" not in line for line in overwrite)
    usage = runner.invoke(app, ["upscale", "--help"], terminal_width=200).output
    assert "Usage: srkit upscale [OPTIONS] INPUTS..." in usage
    assert "INTEGER RANGE" in usage and "PATH" in usage and "[model|bicubic|lanczos]" in usage
    shown = runner.invoke(app, ["pool", "show", "--help"], terminal_width=200).output
    assert "POOL_sheet.png" in shown and "[OPTIONS] POOL" in shown


def test_user_error_is_one_line_and_exit_1(tmp_path) -> None:
    out = subprocess.run([sys.executable, "-m", "srkit", "evaluate", str(tmp_path / "nope")],
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "nope" in lines[0]

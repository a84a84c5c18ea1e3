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


def test_user_error_is_one_line_and_exit_1(tmp_path) -> None:
    out = subprocess.run([sys.executable, "-m", "srkit", "evaluate", str(tmp_path / "nope")],
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "nope" in lines[0]

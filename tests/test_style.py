"""The code base is ruff clean (docs/design.md, "Conventions"); checked by the test suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean() -> None:
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    result = subprocess.run([ruff, "check", "srkit", "tests", "benchmarks", "examples", "docs"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_package_imports_without_torch() -> None:
    code = "import srkit, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_no_reference_to_notes_outside_the_project() -> None:
    """A clone has no ../shared: the code and docs cite the project's own docs/ instead."""
    root = ROOT
    files = [*root.glob("srkit/**/*.py"), *root.glob("docs/**/*.md"), root / "README.md",
             *root.glob("benchmarks/*.py"), *root.glob("benchmarks/results/*.md")]
    cited = [f"{path.relative_to(root)}" for path in files
             if any(name in path.read_text() for name in ("DESIGN.md", "STYLE.md"))]
    assert not cited, f"cite docs/design.md (or another page of docs/) instead: {cited}"

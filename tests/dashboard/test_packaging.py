"""The dashboard as ``pip install 'arame[dashboard]'`` delivers it: from a built wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(300)


def test_the_wheel_carries_the_dashboards_templates_and_static_files(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy: building writes build/ next to the sources
    shutil.copytree(ROOT / "arame", source / "arame", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(source)]
    subprocess.run(command, check=True, capture_output=True, timeout=280)

    (wheel,) = tmp_path.glob("arame-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    needed = {
        path.relative_to(ROOT).as_posix()
        for pattern in ("templates/*", "static/*")
        for path in (ROOT / "arame" / "dashboard").glob(pattern)
    }
    assert needed and needed <= shipped, sorted(needed - shipped)

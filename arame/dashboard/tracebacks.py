"""A failed task's traceback with arame's own frames taken out, so the user's code comes first."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import arame

#: Where arame runs from here; a worker elsewhere is an installed package (site- or dist-packages).
HERE = str(Path(arame.__file__).resolve().parent)
INSTALLED = re.compile(r"[/\\](site|dist)-packages[/\\]arame[/\\]")
FRAME = re.compile(r'^  File "(?P<path>[^"]*)", line \d+')


@dataclass(frozen=True)
class Folded:
    """A traceback as the task page shows it."""

    users: str  # every line but those of arame's frames
    arame_frames: int  # how many frames were taken out


def fold(traceback: str) -> Folded:
    """``traceback`` without the frames in arame's own files (the worker calling the task).

    A traceback with no frame of the user's (the error arose in arame) is kept whole.
    """
    kept: list[str] = []
    taken = users = 0
    in_arame = False
    for line in traceback.splitlines():
        frame = FRAME.match(line)
        if frame:
            in_arame = _is_arame(frame["path"])
            taken, users = taken + in_arame, users + (not in_arame)
        elif not line.startswith("    "):
            in_arame = False  # a frame's code and markers are indented by four spaces
        if not in_arame:
            kept.append(line)
    if not taken or not users:
        return Folded(traceback, 0)
    return Folded("\n".join(kept), taken)


def _is_arame(path: str) -> bool:
    return path.startswith(HERE + os.sep) or INSTALLED.search(path) is not None

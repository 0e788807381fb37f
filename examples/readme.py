"""Runs an example's README as a user does: its ``sh`` blocks, line by line, in a shell.

Port 8000 in the commands becomes a free port, ``TASK_ID`` the last ``task_id`` a request
printed; ``python``, ``arame``, ``flask`` and ``uvicorn`` are the running interpreter's.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

README_PORT = "8000"
_SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
TIMEOUT = 60.0


def shell_blocks(readme: Path) -> list[list[str]]:
    """The commands of each ``sh`` block of ``readme``, in order (comment lines left out)."""
    return [
        [line.strip() for line in body.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        for body in _SH_BLOCK.findall(readme.read_text())
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ReadmeSession:
    """Runs README commands in ``cwd``; ``close()`` stops what ``start()`` started.

    Args:
        cwd: the folder the README says to run them in.
        env: the environment (the running interpreter's folder goes first on ``PATH``).
        logs: where the output of background commands goes.
    """

    def __init__(self, cwd: Path, env: dict[str, str], logs: Path) -> None:
        self.cwd, self.logs = cwd, logs
        self.env = {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}
        self.port = free_port()
        self.task_id = ""
        self._started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def _command(self, line: str) -> str:
        return line.replace(README_PORT, str(self.port)).replace("TASK_ID", self.task_id)

    def run(self, line: str) -> str:
        """Run a command to its end; return what it printed. It must succeed."""
        done = subprocess.run(
            ["bash", "-c", self._command(line)],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def request(self, line: str) -> Any:
        """Run a ``curl`` line; return the JSON it printed (and remember a ``task_id`` in it)."""
        printed = self.run(line)
        try:
            body = json.loads(printed)
        except ValueError:
            raise AssertionError(f"{line} printed no JSON: {printed[:2000]}") from None
        if isinstance(body, dict) and isinstance(body.get("task_id"), str):
            self.task_id = body["task_id"]
        return body

    def poll(self, line: str, until: Callable[[Any], bool]) -> Any:
        """Run a ``curl`` line again until its JSON satisfies ``until``; return that JSON."""
        deadline = time.monotonic() + TIMEOUT
        while not until(body := self.request(line)):
            assert time.monotonic() < deadline, f"{line}: still {body}"
            self.check_running()
            time.sleep(0.1)  # a client polling, as the README's reader does
        return body

    def start(self, line: str) -> None:
        """Start a long-running command (a server, a worker) in the background."""
        log = self.logs / f"started-{len(self._started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                ["bash", "-c", f"exec {self._command(line)}"],
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: close() stops its children too
            )
        self._started.append((process, log))

    def check_running(self) -> None:
        """Fail, with its output, if a started command has exited."""
        for process, log in self._started:
            assert process.poll() is None, f"{process.args} exited:\n{log.read_text()}"

    def wait_until_serving(self) -> None:
        """Wait until something accepts connections on the session's port."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            self.check_running()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                assert time.monotonic() < deadline, f"nothing listens on port {self.port}"
                time.sleep(0.1)

    def close(self) -> None:
        """SIGTERM each started command's process group; SIGKILL what is left after a while."""
        for process, _log in self._started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process, _log in self._started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

"""A private PostgreSQL server on a free loopback port, to stop and start at will.

The shared server on 5432 is never touched. initdb refuses root, so the cluster belongs to the
``postgres`` user and lives in a folder of its own under /tmp (pytest's tmp_path is not
reachable by that user).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.faults.helpers import free_port

OWNER = "postgres"


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    """One throwaway cluster: ``init()`` once, then ``start()`` / ``stop()`` as often as needed."""

    def __init__(self) -> None:
        bindir = postgres_bin()
        if bindir is None:
            raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
        self.bindir = bindir
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="arame-faults-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        user = pwd.getpwnam(OWNER)
        os.chown(self.folder, user.pw_uid, user.pw_gid)
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> PrivatePostgres:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        return self

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        status = subprocess.run(
            ["runuser", "-u", OWNER, "--", str(self.bindir / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
            check=False,
        )
        return status.returncode == 0

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            if self.data.exists() and self.running():
                self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", OWNER, "--", str(self.bindir / program), *args],
            check=True,
            capture_output=True,
            cwd=self.folder,
            timeout=90,
        )

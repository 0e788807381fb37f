"""A private RabbitMQ cluster on this machine: nodes on free ports, joined, stopped at the end.

Each node has a folder of its own owned by the ``rabbitmq`` user (the server drops to that user),
its own ports and its own configuration file (the machine's one binds the shared node's port).
The nodes share the Erlang cookie of the ``rabbitmq`` user, so they and ``rabbitmqctl`` can talk.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.faults.helpers import free_port
from tests.helpers import rabbitmq_queues


@dataclass
class Node:
    """One private RabbitMQ node."""

    name: str
    port: int
    directory: Path
    config: str = ""  # extra rabbitmq.conf lines
    advanced: str = "[]."  # advanced.config (Erlang terms)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def env(self) -> dict[str, str]:
        return dict(
            os.environ,
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(free_port()),
            RABBITMQ_MNESIA_BASE=str(self.directory / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.directory / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.directory / "plugins"),
            RABBITMQ_CONFIG_FILE=str(self.directory / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.directory / "advanced.config"),
            RABBITMQ_PID_FILE=str(self.directory / "pid"),
        )

    def start(self) -> None:
        self.directory.mkdir(parents=True)
        (self.directory / "plugins").write_text("[].")
        (self.directory / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\nloopback_users = none\n{self.config}"
        )
        (self.directory / "advanced.config").write_text(self.advanced)
        subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", str(self.directory)], check=True)
        self.process = subprocess.Popen(
            ["rabbitmq-server"],
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def ctl(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(
            ["rabbitmqctl", "-n", self.name, *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl -n {self.name} {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def wait(self, timeout: float = 90) -> None:
        pid_file = str(self.directory / "pid")
        self.ctl("wait", pid_file, "--timeout", str(int(timeout)), timeout=timeout + 10)

    def pid(self) -> int:
        return int((self.directory / "pid").read_text().strip())

    def kill(self) -> None:
        """SIGKILL the node's Erlang VM: no goodbye to its peers."""
        os.kill(self.pid(), signal.SIGKILL)

    def stop(self) -> None:
        with contextlib.suppress(Exception):  # killed already, or hung: killed below
            self.ctl("stop", timeout=30)
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        with contextlib.suppress(OSError, ValueError):
            os.kill(self.pid(), signal.SIGKILL)


@dataclass
class Cluster:
    """Nodes joined into one cluster."""

    nodes: list[Node] = field(default_factory=list)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="arame-rabbit-")))

    @property
    def url(self) -> str:
        """A failover list of every node."""
        return ";".join(node.url for node in self.nodes)

    def start(self, size: int, config: str = "", advanced: str = "[].") -> None:
        """Start ``size`` nodes (extra rabbitmq.conf lines, an advanced.config) and join them."""
        tag = os.urandom(3).hex()
        self.nodes = [
            Node(f"arame{tag}n{i}@localhost", free_port(), self.directory / f"n{i}", config, advanced)
            for i in range(size)
        ]
        os.chmod(self.directory, 0o755)
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            node.wait()
        first = self.nodes[0]
        for node in self.nodes[1:]:
            node.ctl("stop_app")
            node.ctl("join_cluster", first.name)
            node.ctl("start_app")
        for node in self.nodes:
            node.wait()

    def node_named(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def leader_of(self, queue: str, asking: Node) -> Node:
        """The node that holds the quorum queue's leader."""
        return self.node_named(rabbitmq_queues("leader", asking.name)[queue].strip())

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

"""Private Redis servers for failover tests: a 6-node cluster, or a master, a replica and 3 sentinels.

Every server runs in the foreground as a child of the test process, on free loopback ports, with
its files in the test's folder; ``stop()`` SIGKILLs whatever is left, so a failing test leaves
nothing running. Timeouts are short (1 s) so that a failover completes in a few seconds.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import redis
from redis.crc import key_slot

T = TypeVar("T")

NODE_TIMEOUT_MS = 1000  # cluster-node-timeout and sentinel down-after-milliseconds
STARTUP = 15.0


def free_port() -> int:
    """A loopback port free now, whose cluster bus port (10000 higher) is free too."""
    while True:
        port = random.randrange(20_000, 45_000)
        if _free(port) and _free(port + 10_000):
            return port


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def have_redis() -> bool:
    """Whether redis-server and redis-cli are installed."""
    return shutil.which("redis-server") is not None and shutil.which("redis-cli") is not None


@dataclass
class Server:
    """One redis-server (or sentinel) process."""

    port: int
    process: subprocess.Popen[bytes]

    def client(self) -> redis.Redis:
        return redis.Redis("127.0.0.1", self.port, decode_responses=True, socket_timeout=2)

    def kill(self) -> float:
        """SIGKILL it; return when (epoch seconds)."""
        at = time.time()
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        return at

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)


@dataclass
class Servers:
    """The servers a test started, killed at the end whatever happened."""

    folder: Path
    started: list[Server] = field(default_factory=list)

    def start(self, *args: str, port: int | None = None, sentinel_conf: str | None = None) -> Server:
        port = port or free_port()
        work = self.folder / str(port)
        work.mkdir(parents=True, exist_ok=True)
        if sentinel_conf is not None:
            conf = work / "sentinel.conf"
            conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {work}\n{sentinel_conf}")
            command = ["redis-server", str(conf), "--sentinel"]
        else:
            command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(work)]
            command += ["--save", "", "--appendonly", "no", *args]
        with open(work / "server.log", "wb") as log:  # the process keeps its own copy of the file
            server = Server(port, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=work))
        self.started.append(server)
        wait_for(lambda: _answers(server), STARTUP, f"redis on port {port}")
        return server

    def stop(self) -> None:
        for server in self.started:
            if server.process.poll() is None:
                server.kill()


@dataclass
class Cluster:
    """Three masters, each with one replica."""

    servers: Servers
    nodes: list[Server]

    @property
    def url(self) -> str:
        """Every node as a seed: the client needs one alive when it connects."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    def master_of(self, key: str) -> Server:
        """The node serving ``key``'s slot now."""
        slot = key_slot(key.encode())
        for node in self.nodes:
            if node.process.poll() is not None:
                continue
            for start, end, master, *_ in node.client().execute_command("CLUSTER SLOTS"):
                if start <= slot <= end:
                    return next(n for n in self.nodes if n.port == int(master[1]))
        raise AssertionError(f"no live node serves slot {slot}")

    def healthy(self) -> bool:
        live = [node for node in self.nodes if node.process.poll() is None]
        return all(node.client().execute_command("CLUSTER INFO")["cluster_state"] == "ok" for node in live)


def start_cluster(servers: Servers) -> Cluster:
    """Six nodes joined by ``redis-cli --cluster create --cluster-replicas 1``."""
    options = ["--cluster-enabled", "yes", "--cluster-node-timeout", str(NODE_TIMEOUT_MS)]
    options += ["--cluster-replica-validity-factor", "0"]  # a replica may always take over
    nodes = [servers.start(*options) for _ in range(6)]
    addresses = [f"127.0.0.1:{n.port}" for n in nodes]
    subprocess.run(
        ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "1", "--cluster-yes"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    cluster = Cluster(servers, nodes)
    wait_for(cluster.healthy, 30, "the cluster's state ok")
    wait_for(lambda: _replicas_in_sync(nodes), 30, "every replica in sync")
    return cluster


@dataclass
class SentinelGroup:
    """A master, its replica and three sentinels watching it as ``main``."""

    master: Server
    replica: Server
    sentinels: list[Server]
    name: str = "main"

    @property
    def url(self) -> str:
        sentinels = ";".join(f"sentinel://127.0.0.1:{s.port}" for s in self.sentinels)
        return f"{sentinels}/0?master_name={self.name}"

    def master_port(self) -> int:
        """The master's port as the first live sentinel says."""
        for sentinel in self.sentinels:
            with contextlib.suppress(redis.RedisError):
                return int(sentinel.client().sentinel_get_master_addr_by_name(self.name)[1])
        raise AssertionError("no sentinel answers")


def start_sentinels(servers: Servers) -> SentinelGroup:
    master = servers.start()
    replica = servers.start("--replicaof", "127.0.0.1", str(master.port))
    conf = (
        f"sentinel monitor main 127.0.0.1 {master.port} 2\n"
        f"sentinel down-after-milliseconds main {NODE_TIMEOUT_MS}\n"
        "sentinel failover-timeout main 5000\n"
        "sentinel parallel-syncs main 1\n"
    )
    sentinels = [servers.start(sentinel_conf=conf) for _ in range(3)]
    group = SentinelGroup(master, replica, sentinels)
    wait_for(lambda: _replicas_in_sync([master, replica]), 30, "the replica in sync")
    wait_for(lambda: _sentinels_see(sentinels), 30, "every sentinel sees the replica and the others")
    return group


def cut_off_replica_and_publish(master: Server, replica: Server, publish: Callable[[], T]) -> T:
    """Publish what the replica never gets, then kill the master: the asynchronous replication gap.

    The replica is stopped and its link cut first (a stopped process would still find in its
    socket what the master sent), so the publishes reach only the master, which acknowledges them
    and dies; the replica then takes over without them.
    """
    master.client().execute_command("WAIT", 1, 5000)  # what came before is on the replica
    replica.signal(signal.SIGSTOP)
    try:
        master.client().execute_command("CLIENT", "KILL", "TYPE", "replica")
        published = publish()
        master.kill()
    finally:
        replica.signal(signal.SIGCONT)
    return published


def wait_for(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError, OSError):
            if condition():
                return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {within:.0f}s waiting for {what}")


def _answers(server: Server) -> bool:
    if server.process.poll() is not None:
        raise AssertionError(f"redis on port {server.port} exited with {server.process.returncode}")
    return bool(server.client().ping())


def _replicas_in_sync(nodes: list[Server]) -> bool:
    for node in nodes:
        info = node.client().info("replication")
        if info["role"] == "slave" and info.get("master_link_status") != "up":
            return False
    return True


def _sentinels_see(sentinels: list[Server]) -> bool:
    for sentinel in sentinels:
        master = sentinel.client().sentinel_master("main")
        if int(master["num-slaves"]) < 1 or int(master["num-other-sentinels"]) < 2:
            return False
    return True

"""A real `redis-server` on a free loopback port, started and stopped by the tests.

Never the one on 6379, never a fake: each server runs in its own temporary directory,
with persistence off, and is stopped (SIGTERM, then SIGKILL) when the block ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import redis

from tests.support.secrets_sweep import SWEEP
from tests.support.servers import free_port

_HIGHEST_CLUSTER_PORT = 65535 - 10000
_START_ATTEMPTS = 3  # a free port can be taken by someone else before the server binds it


def _command(port: int, *args: str, timeout: float = 1.0) -> bytes:
    """One command over a bare socket (RESP), its raw reply; no client library involved."""
    request = f"*{len(args)}\r\n".encode()
    for arg in args:
        data = arg.encode()
        request += b"$%d\r\n%s\r\n" % (len(data), data)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(request)
        reply = b""
        while not _complete(reply):
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
        return reply


def _complete(reply: bytes) -> bool:
    """Whether a simple, error, integer or bulk string reply has arrived in full."""
    header, found, rest = reply.partition(b"\r\n")
    if not found:
        return False
    if header.startswith(b"$") and int(header[1:]) >= 0:
        return len(rest) >= int(header[1:]) + 2
    return True


_Entries = list[tuple[bytes, dict[bytes, bytes]]]


def _text(value: bytes) -> str:
    return value.decode(errors="replace")


class RedisServer:
    """One redis-server process; `url` once started. Extra arguments go to redis-server."""

    def __init__(self, *extra: str) -> None:
        self._extra = extra
        self._dir = Path(tempfile.mkdtemp(prefix="phasegate-redis-"))
        self._process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self, *args: str) -> bytes:
        """Send one command and return the raw RESP reply, e.g. b"+PONG\\r\\n"."""
        if args and args[0].upper() in ("FLUSHALL", "FLUSHDB"):
            self._sweep_streams()
        return _command(self.port, *args)

    def _sweep_streams(self) -> None:
        """Hands the server's streams (audit records) to the secrets sweep before they go."""
        lines: list[str] = []
        try:
            client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)
            with client:
                for key in client.scan_iter(_type="STREAM"):
                    # The synchronous client answers at once; its types cover the async one too.
                    entries = cast(_Entries, client.xrange(key))
                    for entry, fields in entries:
                        values = " ".join(f"{_text(k)}={_text(v)}" for k, v in fields.items())
                        lines.append(f"{_text(key)} {_text(entry)} {values}")
        except redis.RedisError:
            return  # a server that is down, or wants a password, has nothing to hand over
        SWEEP.add_output(
            "redis streams, as the tests up to a flush or stop left them", "\n".join(lines)
        )

    def start(self, timeout: float = 10.0) -> None:
        for _ in range(_START_ATTEMPTS):
            self.port = self._free_port()
            if self._launch(timeout):
                return
        raise RuntimeError(f"redis-server did not start; its log:\n{self._log_tail()}")

    def _free_port(self) -> int:
        # A cluster node also listens on its port + 10000 (the cluster bus), which must
        # be a port too.
        while (port := free_port()) > _HIGHEST_CLUSTER_PORT and "--cluster-enabled" in self._extra:
            continue
        return port

    def _launch(self, timeout: float) -> bool:
        log = (self._dir / "redis.log").open("ab")
        with log:
            self._process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self._dir),
                    *self._extra,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._dir,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False  # most likely the port was taken; try another
            try:
                # NOAUTH: up and answering, but started with --requirepass.
                if self.command("PING").startswith((b"+PONG", b"-NOAUTH")):
                    return True
            except OSError:
                pass
            time.sleep(0.01)
        self.kill()
        return False

    def _log_tail(self) -> str:
        log = self._dir / "redis.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"

    def stop(self, timeout: float = 5.0) -> None:
        """Shut the server down (SIGTERM, SIGKILL if it lingers); stopping twice is harmless."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGCONT)  # a paused server would not handle SIGTERM
        self._sweep_streams()
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """End the server at once (SIGKILL), as a crash would."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open but nothing answers."""
        if self._process is not None:
            os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            os.kill(self._process.pid, signal.SIGCONT)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.cleanup()


@contextmanager
def redis_server(*extra: str) -> Iterator[RedisServer]:
    """A started redis-server, stopped and its directory removed afterwards."""
    with RedisServer(*extra) as server:
        yield server


@contextmanager
def redis_cluster_node() -> Iterator[RedisServer]:
    """A one-node Redis Cluster that owns every slot: enough to run cluster-mode clients."""
    with redis_server("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf") as node:
        reply = node.command("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"could not assign the slots: {reply!r}")
        deadline = time.monotonic() + 10
        while b"cluster_state:ok" not in node.command("CLUSTER", "INFO"):
            if time.monotonic() > deadline:
                raise RuntimeError("the one-node cluster did not become ready")
            time.sleep(0.02)
        yield node


@dataclass(frozen=True)
class RedisClusterServers:
    """The primaries of a Redis Cluster started by `redis_cluster`."""

    nodes: tuple[RedisServer, ...]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    def flush(self) -> None:
        """Empty every primary (each holds its own slots)."""
        for node in self.nodes:
            reply = node.command("FLUSHALL")
            if not reply.startswith(b"+OK"):
                raise RuntimeError(f"FLUSHALL failed: {reply!r}")

    def command_calls(self) -> dict[str, int]:
        """`command_calls` summed over the primaries."""
        total: dict[str, int] = {}
        for node in self.nodes:
            for name, calls in command_calls(node).items():
                total[name] = total.get(name, 0) + calls
        return total

    def reset_stats(self) -> None:
        for node in self.nodes:
            node.command("CONFIG", "RESETSTAT")


def command_calls(server: RedisServer) -> dict[str, int]:
    """Calls per command since the last CONFIG RESETSTAT, from Redis's own `INFO
    commandstats` (commands that scripts run count too, under their own names)."""
    calls: dict[str, int] = {}
    for line in _text(server.command("INFO", "commandstats")).splitlines():
        name, _, stats = line.partition(":")
        if name.startswith("cmdstat_"):
            fields = dict(field.split("=", 1) for field in stats.split(","))
            calls[name.removeprefix("cmdstat_")] = int(fields["calls"])
    return calls


@contextmanager
def redis_cluster(primaries: int = 3) -> Iterator[RedisClusterServers]:
    """A Redis Cluster of `primaries` nodes on free loopback ports, joined by
    `redis-cli --cluster create` (no replicas), ready once every node reads
    cluster_state:ok, and stopped afterwards."""
    with ExitStack() as stack:
        nodes = tuple(
            stack.enter_context(
                redis_server("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
            )
            for _ in range(primaries)
        )
        created = subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{node.port}" for node in nodes),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if created.returncode != 0:
            raise RuntimeError(
                f"redis-cli --cluster create failed:\n{created.stdout}{created.stderr}"
            )
        deadline = time.monotonic() + 20
        while not all(b"cluster_state:ok" in node.command("CLUSTER", "INFO") for node in nodes):
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not become ready")
            time.sleep(0.05)
        yield RedisClusterServers(nodes)

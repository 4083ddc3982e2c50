"""Rolling restarts lose nothing: two `phasegate serve` replicas stopped with SIGTERM and
started again, one after the other, while clients keep sending requests.

The clients know nothing of readiness: each request goes to the replicas in turn, and is
sent to the other replica only when its connection is refused, which any client may do
since a refused connection carried no request. Anything else after the request was sent
(a reset, an empty or cut answer, a timeout, a status other than 200) counts as lost.
Half the clients open a new connection per request; the others keep their connections
alive and, like pooling clients (httpcore, urllib3), do not reuse one that the server has
closed or that has something to read before a request was sent.

The requests are `GET /healthz`. Losing a request in a restart is a matter of
connections, not of routes: the listening socket, its accept queue, keep-alive
connections closed while a request arrives on them. `/healthz` takes that same path
through the server as every other request (accept, head parsing, the app, keep-alive,
shutdown), and it is cheap enough for thousands of requests to cross every restart.
The client is a few lines over asyncio streams rather than httpx for the same reason:
httpx spends most of the CPU time of such a test on itself.
"""

from __future__ import annotations

import asyncio
import select
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import POLICIES, exit_status, serving, wait_ready
from tests.support.servers import free_port

RUNS = 3
REQUESTS_PER_RUN = 4_000
CLIENTS = 4  # of each kind
# One replica drains for half a second before it stops taking connections (answering
# with `Connection: close` meanwhile), the other stops at once.
DRAIN_DELAYS = ("500ms", "0s")
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
TIMEOUT = 10.0


class Lost(Exception):
    """The request was sent and no whole answer came back."""


@dataclass
class Tally:
    answered: int = 0
    # Connections refused, after which the request went to the other replica.
    refused: int = 0
    lost: list[str] = field(default_factory=list)


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        return cls(reader, writer)

    def reusable(self) -> bool:
        readable, _, _ = select.select([self.writer.get_extra_info("socket")], [], [], 0)
        return not readable and not self.writer.is_closing()

    async def get(self) -> tuple[int, bool]:
        """The status of `GET /healthz`, and whether the connection may be used again."""
        self.writer.write(REQUEST)
        try:
            await self.writer.drain()
            head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            lines = head.decode("latin-1").split("\r\n")
            headers = dict(line.lower().split(": ", 1) for line in lines[1:] if line)
            await asyncio.wait_for(self.reader.readexactly(int(headers["content-length"])), TIMEOUT)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as error:
            raise Lost(f"{type(error).__name__}: {error}") from None
        return int(lines[0].split(" ", 2)[1]), headers.get("connection") != "close"

    def close(self) -> None:
        self.writer.close()


class Client:
    def __init__(self, ports: list[int], keep_alive: bool, tally: Tally) -> None:
        self._ports = ports
        self._keep_alive = keep_alive
        self._tally = tally
        self._kept: dict[int, Connection] = {}

    async def request(self, order: list[int]) -> None:
        for index in order:
            try:
                connection = await self._connection(index)
            except ConnectionRefusedError:
                self._tally.refused += 1
                continue
            except (OSError, TimeoutError) as error:
                self._tally.lost.append(f"connecting: {type(error).__name__}: {error}")
                return
            try:
                status, reusable = await connection.get()
            except Lost as error:
                connection.close()
                self._tally.lost.append(f"replica {index}: {error}")
                return
            if status == 200:
                self._tally.answered += 1
            else:
                self._tally.lost.append(f"replica {index}: status {status}")
            if self._keep_alive and reusable:
                self._kept[index] = connection
            else:
                connection.close()
            return
        self._tally.lost.append("both replicas refused the connection")

    async def _connection(self, index: int) -> Connection:
        kept = self._kept.pop(index, None)
        if kept is not None:
            if kept.reusable():
                return kept
            kept.close()
        return await Connection.open(self._ports[index])

    def close(self) -> None:
        for connection in self._kept.values():
            connection.close()


class Replicas:
    def __init__(self, data_dir: Path) -> None:
        self.ports = [free_port(), free_port()]
        # Nothing listens there: /healthz never asks the model API.
        self._upstream = f"http://127.0.0.1:{free_port()}"
        self._settings = ["--data-dir", str(data_dir), "--policies", str(POLICIES)]
        self.processes = [self._start(index) for index in range(2)]

    def _start(self, index: int) -> subprocess.Popen[str]:
        options = ("--drain-delay", DRAIN_DELAYS[index], "--access-log", "off")
        return serving(self.ports[index], self._upstream, self._settings, *options)

    def wait_serving(self, index: int) -> None:
        assert wait_ready(f"http://127.0.0.1:{self.ports[index]}/healthz").status_code == 200

    def restart(self, index: int) -> None:
        self.processes[index].send_signal(signal.SIGTERM)
        assert exit_status(self.processes[index]) == 0
        self.processes[index] = self._start(index)
        self.wait_serving(index)

    def stop(self) -> None:
        for replica in self.processes:
            if replica.poll() is None:
                replica.send_signal(signal.SIGINT)
            exit_status(replica)


async def _one_run(replicas: Replicas) -> dict[str, Tally]:
    """Clients of both kinds send requests until both replicas were restarted and each kind
    had `REQUESTS_PER_RUN` answered."""
    tallies = {"new connection per request": Tally(), "keep-alive": Tally()}
    restarted = asyncio.Event()

    def done() -> bool:
        return restarted.is_set() and all(
            tally.answered >= REQUESTS_PER_RUN for tally in tallies.values()
        )

    async def send(client: Client, turn: int) -> None:
        try:
            while not done():
                turn += 1
                await client.request([turn % 2, (turn + 1) % 2])
        finally:
            client.close()

    async def restart_each() -> None:
        for index in range(2):
            await asyncio.sleep(0.5)  # under way, with connections open to both replicas
            await asyncio.to_thread(replicas.restart, index)
        restarted.set()

    clients = [
        Client(replicas.ports, keep_alive, tally)
        for keep_alive, tally in zip((False, True), tallies.values(), strict=True)
        for _ in range(CLIENTS)
    ]
    await asyncio.gather(restart_each(), *(send(client, n) for n, client in enumerate(clients)))
    return tallies


def test_rolling_restarts_lose_no_request(tmp_path: Path) -> None:
    """Three runs, each across a restart of both replicas, of at least 4,000 requests on new
    connections and 4,000 on kept-alive ones: every request answered 200; and connections
    were refused meanwhile (so the restarts happened under load)."""
    replicas = Replicas(tmp_path)
    try:
        for index in range(2):
            replicas.wait_serving(index)
        for _ in range(RUNS):
            for kind, tally in asyncio.run(_one_run(replicas)).items():
                assert tally.lost == [], f"{kind}: {len(tally.lost)} of {tally.answered} lost"
                assert tally.answered >= REQUESTS_PER_RUN
                assert tally.refused > 0, kind
    finally:
        replicas.stop()

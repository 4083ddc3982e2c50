"""Benchmark harness: the gateway against nginx and the bare mock model API.

Run from the repository root as `.venv/bin/python bench/run.py` (see bench/README.md).

Every target is a server on a free loopback port in front of (or being) the same mock
model API. Servers are pinned to CPU 1 and wrk to CPU 0, so load generator and
servers do not steal each other's core. For every scenario, every target is measured
back to back and compared by ratios taken within the same run, because absolute
numbers on a shared machine drift from one minute to the next.

The gateway is measured with authentication on: each gateway target gets a credential
from `phasegate grant` and one access token from its token endpoint, and every request
to it carries that one token (the token and the secret are never logged or stored).
After the wrk runs, bench/verify_cost.py measures the in-process cost of token
verification with and without the claims cache, and its numbers join the report.

To add a target or a scenario, add an entry to TARGETS or SCENARIOS below.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Final

BENCH_DIR: Final = Path(__file__).resolve().parent
ROOT: Final = BENCH_DIR.parent
RESULTS_FILE: Final = BENCH_DIR / "results" / "latest.json"
NGINX_TEMPLATE: Final = BENCH_DIR / "nginx.conf.template"
VERIFY_COST_SCRIPT: Final = BENCH_DIR / "verify_cost.py"
SHIPPED_POLICIES: Final = ROOT / "policies"
BENCH_TIER: Final = BENCH_DIR / "bench_tier.yaml"

SERVER_CPU: Final = 1
LOAD_CPU: Final = 0
HOST: Final = "127.0.0.1"
STARTUP_TIMEOUT_S: Final = 30.0
STOP_TIMEOUT_S: Final = 10.0
WRK_TIMEOUT: Final = "5s"  # per request; slower answers count as socket timeouts

DEFAULT_DURATION_S: Final = 8
DEFAULT_WARMUP_S: Final = 2
QUICK_DURATION_S: Final = 2
QUICK_WARMUP_S: Final = 1

# A run is invalid when more than this fraction of its responses were not 2xx/3xx.
MAX_NON2XX_FRACTION: Final = 0.001

# Names the report compares against one another.
BASELINE: Final = "direct"
REFERENCE_PROXY: Final = "nginx"
SUBJECT: Final = "gateway"
# The gateway without its audit log: what the durable write-ahead record costs.
AUDIT_OFF: Final = "gateway-noaudit"
# The scale-out configuration: state store and limits in a Redis the bench starts.
GATEWAY_REDIS: Final = "gateway-redis"
# The same stack forwarding and nothing else: what the gateway's goals are measured against.
FLOOR: Final = "bare"

# Targets for the gateway (see bench/README.md).
MIN_RATIO_TO_NGINX: Final = 0.10
MAX_ADDED_P50_MS: Final = 0.3

# Goals against the bare stack (bare_proxy.py), measured in the same run:
# (scenario, target, minimum req/s ratio) and (scenario, target, maximum added p50 ms).
FLOOR_THROUGHPUT_GOALS: Final = (
    ("create-c32", "gateway-redis", 0.5),
    ("create-c32", "gateway", 0.6),
    ("poll-c32", "gateway", 0.8),
    ("poll-c32", "gateway-redis", 0.8),
)
FLOOR_LATENCY_GOALS: Final = (
    ("poll-c1", "gateway", 0.15),
    ("poll-c1", "gateway-redis", 0.15),
)

CREATE_BODY: Final = {"model": "sora-2", "prompt": "benchmark download", "seconds": "4"}

# The gateway's caller: one credential per gateway target, one access token reused for
# every request of that target, as a real client does. The token must outlive the run.
PRINCIPAL: Final = "bench"
TIER: Final = "bench"
TOKEN_TTL: Final = "2h"  # noqa: S105 - a duration, not a secret
MIN_TOKEN_LIFETIME_S: Final = 3600

# verify_cost.py: calls timed per repeat, and repeats (the best is kept).
VERIFY_COST_RUNS: Final = (20_000, 5)
QUICK_VERIFY_COST_RUNS: Final = (2_000, 3)

LATENCY_UNITS_MS: Final = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
BYTE_PREFIXES: Final = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


class BenchError(Exception):
    """A problem that stops the benchmark, with a message meant for the operator."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- tools


def find_tool(name: str) -> str | None:
    """Locate an executable, also in the sbin folders a non-root PATH may lack."""
    found = shutil.which(name)
    if found is not None:
        return found
    for folder in ("/usr/sbin", "/usr/local/sbin", "/sbin"):
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def require_tool(name: str) -> str:
    found = find_tool(name)
    if found is None:
        raise BenchError(f"{name} not found")
    return found


def run_install_step(command: list[str]) -> bool:
    log("$ " + " ".join(command))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(command, check=False, env=env).returncode == 0


def ensure_tools() -> None:
    """Install wrk and nginx with apt-get when either is missing."""
    missing = [name for name in ("wrk", "nginx") if find_tool(name) is None]
    if not missing:
        return
    log(f"missing: {', '.join(missing)}; installing them with apt-get")
    if shutil.which("apt-get") is None:
        raise BenchError(
            f"{' and '.join(missing)} not installed and apt-get is not available: "
            "install wrk and nginx by hand, then run this again"
        )
    if os.geteuid() == 0:
        prefix: list[str] = []
    elif shutil.which("sudo") is not None:
        prefix = ["sudo", "-n"]
    else:
        raise BenchError(
            f"{' and '.join(missing)} not installed, and installing needs root: run "
            "`apt-get install -y wrk nginx-light` as root, then run this again"
        )
    run_install_step([*prefix, "apt-get", "update"])
    # nginx-light is the package the benchmark was designed with; on releases
    # that dropped it, plain nginx has the same proxy and upstream modules.
    if not run_install_step([*prefix, "apt-get", "install", "-y", "wrk", "nginx-light"]):
        run_install_step([*prefix, "apt-get", "install", "-y", "wrk", "nginx"])
    still_missing = [name for name in ("wrk", "nginx") if find_tool(name) is None]
    if still_missing:
        raise BenchError(
            f"could not install {', '.join(still_missing)} with apt-get (see its output "
            "above): install wrk and nginx by hand, then run this again"
        )


def phasegate_command() -> list[str]:
    venv_cli = ROOT / ".venv" / "bin" / "phasegate"
    if venv_cli.is_file():
        return [str(venv_cli)]
    found = shutil.which("phasegate")
    if found is not None:
        return [found]
    # Same interpreter as this script, which has the project installed.
    return [sys.executable, "-m", "gateway"]


def tool_version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (done.stdout + done.stderr).strip()
    return text.splitlines()[0].strip() if text else "unknown"


def pinning(cpu: int) -> list[str]:
    """Command prefix that pins a process to one CPU, or nothing when that is impossible."""
    if shutil.which("taskset") is None:
        return []
    try:
        allowed = os.sched_getaffinity(0)
    except OSError:
        return []
    if not {SERVER_CPU, LOAD_CPU} <= allowed:
        return []
    return ["taskset", "-c", str(cpu)]


# --------------------------------------------------------------------------- harness


def free_port(taken: set[int]) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port: int = sock.getsockname()[1]
        if port not in taken:
            taken.add(port)
            return port


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Harness:
    """Owns the temporary folder and every server started; stops them all on exit."""

    def __init__(self, *, keep_temp: bool) -> None:
        self.keep_temp = keep_temp
        self.temp = Path(tempfile.mkdtemp(prefix="phasegate-bench-"))
        # nginx workers may run as another user and must reach their temp folders.
        self.temp.chmod(0o755)
        self.servers: list[Server] = []
        self.ports: set[int] = set()
        self.server_prefix = pinning(SERVER_CPU)
        self.load_prefix = pinning(LOAD_CPU)
        self.mock_port = 0

    def __enter__(self) -> Harness:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()
        if exc_type is not None and exc_type is not KeyboardInterrupt:
            self.keep_temp = True
        if self.keep_temp:
            log(f"server logs kept in {self.temp}")
        else:
            shutil.rmtree(self.temp, ignore_errors=True)

    @property
    def mock_url(self) -> str:
        return f"http://{HOST}:{self.mock_port}"

    def port(self) -> int:
        return free_port(self.ports)

    def start(self, name: str, command: list[str], port: int) -> Server:
        log_path = self.temp / f"{name}.log"
        full = [*self.server_prefix, *command]
        log(f"starting {name} on port {port}: {' '.join(full)}")
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                full,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.temp,
                # Own session: a Ctrl-C in the terminal reaches only this script,
                # which then stops the servers in order.
                start_new_session=True,
            )
        server = Server(name, process, port, log_path)
        self.servers.append(server)
        self.wait_for_port(server)
        return server

    def wait_for_port(self, server: Server) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            code = server.process.poll()
            if code is not None:
                raise BenchError(
                    f"{server.name} exited with status {code} before accepting "
                    f"connections; its log ends with:\n{server.log_tail()}"
                )
            try:
                with socket.create_connection((HOST, server.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise BenchError(
            f"{server.name} did not accept connections on port {server.port} within "
            f"{STARTUP_TIMEOUT_S:.0f}s; its log ends with:\n{server.log_tail()}"
        )

    def stop_all(self) -> None:
        for server in reversed(self.servers):
            process = server.process
            if process.poll() is not None:
                continue
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log(f"{server.name} ignored SIGTERM; killing it")
                process.kill()
                process.wait()
        self.servers.clear()

    def check_alive(self) -> None:
        for server in self.servers:
            code = server.process.poll()
            if code is not None:
                raise BenchError(
                    f"{server.name} died (status {code}); its log ends with:\n{server.log_tail()}"
                )

    def start_mock(self) -> None:
        self.mock_port = self.port()
        command = [
            *phasegate_command(),
            "mock-model",
            "--host",
            HOST,
            "--port",
            str(self.mock_port),
            "--job-seconds",
            "0",
            "--content-size",
            "1MiB",
        ]
        self.start("mock", command, self.mock_port)


@dataclass(frozen=True)
class Endpoint:
    """Where a target listens, and the headers every request to it must carry."""

    url: str
    # May hold a live credential (Authorization): never logged nor written to results.
    headers: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def authenticated(self) -> bool:
        return bool(self.headers)


def request(
    endpoint: Endpoint,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    content_type: str = "application/json",
) -> tuple[int, bytes]:
    """One request to `endpoint` with its headers; the status and the whole body."""
    parts = urllib.parse.urlsplit(endpoint.url)
    headers = dict(endpoint.headers)
    if body is not None:
        headers["Content-Type"] = content_type
    connection = http.client.HTTPConnection(parts.hostname or HOST, parts.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# -- the completed video that download scenarios fetch, one per owner


def create_video(target: str, endpoint: Endpoint) -> str:
    status, body = request(endpoint, "POST", "/v1/videos", json.dumps(CREATE_BODY).encode())
    if status != 200:
        raise BenchError(f"creating a video through {target} failed: {status} {body[:200]!r}")
    video: dict[str, Any] = json.loads(body)
    if video.get("status") != "completed":
        raise BenchError(f"the video created through {target} is not completed: {video}")
    video_id: str = video["id"]
    return video_id


def ensure_video(target: str, endpoint: Endpoint, video_id: str) -> str:
    """Return a video id downloadable through `endpoint`, recreating it if it is gone.

    The mock keeps only its newest 100,000 jobs, and the POST scenarios create far
    more than that over a full run.
    """
    status, _ = request(endpoint, "GET", f"/v1/videos/{video_id}")
    if status == 200:
        return video_id
    new_id = create_video(target, endpoint)
    log(f"video {video_id} is gone ({status} through {target}); created {new_id}")
    return new_id


def video_owner(target: str, endpoint: Endpoint) -> str:
    """Who a target's download video must belong to.

    Through the gateway only the principal that created a job may fetch it, so each
    authenticated target gets its own video; unauthenticated targets all reach the
    same mock jobs and share one.
    """
    return target if endpoint.authenticated else "anonymous"


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    # Starts whatever the target needs; returns its base URL and the headers to send.
    start: Callable[[Harness], Endpoint]


def start_direct(harness: Harness) -> Endpoint:
    return Endpoint(harness.mock_url)


def nginx_extra_temp_paths(nginx: str, temp: Path) -> str:
    """Temp path lines for the modules this nginx build has, so none points outside."""
    done = subprocess.run([nginx, "-V"], capture_output=True, text=True, check=False)
    build = done.stdout + done.stderr
    lines = []
    for module in ("fastcgi", "uwsgi", "scgi"):
        if f"--without-http_{module}_module" not in build:
            lines.append(f"    {module}_temp_path {temp / (module + '_temp')};")
    return "\n".join(lines)


def start_nginx(harness: Harness) -> Endpoint:
    return Endpoint(start_nginx_over(harness, [harness.mock_port]))


def start_nginx_over(harness: Harness, ports: list[int]) -> str:
    """nginx balancing over servers on these loopback ports; its base URL."""
    nginx = require_tool("nginx")
    folder = harness.temp / "nginx"
    folder.mkdir()
    folder.chmod(0o755)
    port = harness.port()
    servers = "\n".join(f"        server 127.0.0.1:{upstream};" for upstream in ports)
    config = (
        NGINX_TEMPLATE.read_text()
        .replace("@@EXTRA_TEMP_PATHS@@", nginx_extra_temp_paths(nginx, folder))
        .replace("@@DIR@@", str(folder))
        .replace("@@UPSTREAM_SERVERS@@", servers)
        .replace("@@PORT@@", str(port))
    )
    config_path = folder / "nginx.conf"
    config_path.write_text(config)
    command = [
        nginx,
        "-p",
        str(folder),
        "-c",
        str(config_path),
        "-e",
        str(folder / "error.log"),
        "-g",
        "daemon off;",
    ]
    harness.start("nginx", command, port)
    return f"http://{HOST}:{port}"


def grant_credential(settings: list[str]) -> tuple[str, str]:
    """A new client credential (client_id, client_secret) for PRINCIPAL, from the CLI."""
    command = [*phasegate_command(), "grant", PRINCIPAL, "--tier", TIER, "--json", *settings]
    log("$ " + " ".join(command))
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    # stdout holds the secret: it is parsed, never shown.
    if done.returncode != 0:
        raise BenchError(
            f"phasegate grant exited with status {done.returncode}: {done.stderr.strip()}"
        )
    try:
        document = json.loads(done.stdout)
        client_id, client_secret = document["client_id"], document["client_secret"]
    except (ValueError, KeyError, TypeError):
        raise BenchError("phasegate grant --json printed no client_id and client_secret") from None
    if not isinstance(client_id, str) or not isinstance(client_secret, str):
        raise BenchError("phasegate grant --json printed no client_id and client_secret")
    log(f"granted {TIER} to {PRINCIPAL}: client {client_id}")
    return client_id, client_secret


def access_token(base_url: str, client_id: str, client_secret: str) -> str:
    """One access token from the gateway's token endpoint (OAuth2 client credentials)."""
    # RFC 6749 section 2.3.1: both parts are form-encoded before Basic encoding.
    pair = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(client_secret, safe='')}"
    basic = base64.b64encode(pair.encode()).decode()
    status, body = request(
        Endpoint(base_url, {"Authorization": f"Basic {basic}"}),
        "POST",
        "/oauth/token",
        urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
        content_type="application/x-www-form-urlencoded",
    )
    if status != 200:
        # An OAuth error document: it names the problem and holds no credential.
        raise BenchError(f"the token endpoint answered {status}: {body[:300]!r}")
    try:
        document = json.loads(body)
        token = document["access_token"]
        lifetime = document.get("expires_in")
    except (ValueError, KeyError, TypeError):
        raise BenchError("the token endpoint's answer holds no access_token") from None
    if not isinstance(token, str) or not token:
        raise BenchError("the token endpoint's answer holds no access_token")
    if isinstance(lifetime, int) and lifetime < MIN_TOKEN_LIFETIME_S:
        raise BenchError(
            f"the access token lives only {lifetime}s (--token-ttl {TOKEN_TTL} was asked); "
            "it could expire during the run"
        )
    log(f"obtained an access token for client {client_id} (expires in {lifetime}s)")
    return token


def bench_policies(temp: Path) -> Path:
    """The shipped rules and lists, scoped to the bench tier, beside bench_tier.yaml."""
    folder = temp / "policies"
    if folder.is_dir():
        return folder
    shutil.copytree(SHIPPED_POLICIES / "lists", folder / "lists")
    shutil.copy(BENCH_TIER, folder / "bench.yaml")
    rules = (SHIPPED_POLICIES / "rules.yaml").read_text()
    # Every tier-scoped rule applies to the one tier the benchmark has.
    scoped = re.sub(r"(?m)^(\s+tiers:\s*)\[[^\]]*\]", r"\1[bench]", rules)
    (folder / "rules.yaml").write_text(scoped)
    return folder


def start_gateway_instance(
    harness: Harness,
    name: str,
    *,
    access_log: bool,
    program: list[str] | None = None,
    extra: Sequence[str] = (),
) -> Endpoint:
    """A gateway on the mock; `extra` settings (a store, limits) reach its CLI grant too."""
    port = harness.port()
    # The CLI's grant must reach the same state as the server: same data folder,
    # same policies, same environment.
    settings = [
        "--data-dir",
        str(harness.temp / f"{name}-data"),
        "--policies",
        str(bench_policies(harness.temp)),
        *extra,
    ]
    command = [
        *(program or [*phasegate_command(), "serve"]),
        "--host",
        HOST,
        "--port",
        str(port),
        "--upstream",
        harness.mock_url,
        *settings,
        "--token-ttl",
        TOKEN_TTL,
    ]
    if not access_log:
        command += ["--access-log", "off"]
    # The log (access log included, when on) goes to TEMP/NAME.log.
    harness.start(name, command, port)
    url = f"http://{HOST}:{port}"
    token = access_token(url, *grant_credential(settings))
    return Endpoint(url, {"Authorization": f"Bearer {token}"})


def project_python() -> str:
    """The interpreter that has the project's dependencies (the bare proxy needs them)."""
    venv_python = ROOT / ".venv" / "bin" / "python"
    return str(venv_python) if venv_python.is_file() else sys.executable


def start_bare(harness: Harness) -> Endpoint:
    port = harness.port()
    command = [
        project_python(),
        str(BENCH_DIR / "bare_proxy.py"),
        "--host",
        HOST,
        "--port",
        str(port),
        "--upstream",
        harness.mock_url,
    ]
    harness.start("bare", command, port)
    return Endpoint(f"http://{HOST}:{port}")


def start_gateway(harness: Harness) -> Endpoint:
    return start_gateway_instance(harness, "gateway", access_log=False)


def start_gateway_logged(harness: Harness) -> Endpoint:
    return start_gateway_instance(harness, "gateway+log", access_log=True)


def start_redis(harness: Harness) -> int:
    """A redis-server of the run's own, pinned with the servers, keeping nothing on disk."""
    port = harness.port()
    redis_server = require_tool("redis-server")
    command = [redis_server, "--port", str(port), "--bind", HOST, "--save", ""]
    command += ["--appendonly", "no", "--dir", str(harness.temp)]
    harness.start("redis", command, port)
    return port


def start_gateway_redis(harness: Harness) -> Endpoint:
    redis_url = f"redis://{HOST}:{start_redis(harness)}/0"
    extra = ["--store", redis_url, "--limits", redis_url]
    return start_gateway_instance(harness, GATEWAY_REDIS, access_log=False, extra=extra)


def start_gateway_without_audit(harness: Harness) -> Endpoint:
    program = [project_python(), str(BENCH_DIR / "gateway_without_audit.py")]
    return start_gateway_instance(harness, AUDIT_OFF, access_log=False, program=program)


TARGETS: Final[list[Target]] = [
    Target(BASELINE, "the mock model API itself, no proxy (baseline)", start_direct),
    Target(REFERENCE_PROXY, "nginx proxy_pass with upstream keepalive", start_nginx),
    Target("bare", "Starlette + one aiohttp session, forwarding only (the floor)", start_bare),
    Target(
        SUBJECT,
        "phasegate serve, defaults, --access-log off; one Bearer token reused",
        start_gateway,
    ),
    Target(
        GATEWAY_REDIS,
        "phasegate serve, Redis store and limits (the scale-out configuration)",
        start_gateway_redis,
    ),
    Target(
        AUDIT_OFF,
        "the same gateway with the audit sink replaced by one that keeps nothing",
        start_gateway_without_audit,
    ),
    Target(
        "gateway+log",
        "phasegate serve, defaults, access log to a file; one Bearer token reused",
        start_gateway_logged,
    ),
]


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    # "{video_id}" is replaced by the id of a completed video.
    path: str
    connections: int
    threads: int = 1
    # A wrk Lua script in bench/, needed for anything but a plain GET.
    script: str | None = None
    # Report transfer/sec (MiB/s) as well.
    download: bool = False
    # The gateway must reach MIN_RATIO_TO_NGINX of nginx's req/s here.
    throughput_target: bool = False
    # The gateway may add at most MAX_ADDED_P50_MS to the direct p50 here.
    latency_target: bool = False

    def __post_init__(self) -> None:
        if self.method != "GET" and self.script is None:
            raise ValueError(f"scenario {self.name}: {self.method} needs a wrk script")

    @property
    def needs_video(self) -> bool:
        return "{video_id}" in self.path


SCENARIOS: Final[list[Scenario]] = [
    Scenario(
        name="create-c32",
        method="POST",
        path="/v1/videos",
        connections=32,
        script="post.lua",
        throughput_target=True,
    ),
    Scenario(
        name="create-c1",
        method="POST",
        path="/v1/videos",
        connections=1,
        script="post.lua",
        latency_target=True,
    ),
    Scenario(
        name="poll-c32",
        method="GET",
        path="/v1/videos/{video_id}",
        connections=32,
    ),
    Scenario(
        name="poll-c1",
        method="GET",
        path="/v1/videos/{video_id}",
        connections=1,
    ),
    Scenario(
        name="download-1MiB-c8",
        method="GET",
        path="/v1/videos/{video_id}/content",
        connections=8,
        download=True,
    ),
]


# --------------------------------------------------------------------------- wrk


@dataclass
class WrkRun:
    scenario: str
    target: str
    url: str
    connections: int
    duration_s: int
    requests: int = 0
    requests_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    transfer_mib_per_s: float = 0.0
    non_2xx_3xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    valid: bool = False
    problems: list[str] = field(default_factory=list)
    raw: str = ""


def latency_ms(value: str, unit: str) -> float:
    return float(value) * LATENCY_UNITS_MS[unit]


def parse_wrk(run: WrkRun, text: str) -> None:
    """Fill `run` from wrk's --latency output; a missing essential line is a problem."""
    run.raw = text
    requests = re.search(r"^\s*(\d+) requests in ", text, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s*([\d.]+)", text, re.MULTILINE)
    p50 = re.search(r"^\s*50(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\b", text, re.MULTILINE)
    p99 = re.search(r"^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\b", text, re.MULTILINE)
    transfer = re.search(r"^Transfer/sec:\s*([\d.]+)([KMGT]?)B", text, re.MULTILINE)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if requests is None or rate is None or p50 is None or p99 is None:
        run.problems.append("could not parse wrk output")
        return
    run.requests = int(requests.group(1))
    run.requests_per_s = float(rate.group(1))
    run.p50_ms = round(latency_ms(p50.group(1), p50.group(2)), 3)
    run.p99_ms = round(latency_ms(p99.group(1), p99.group(2)), 3)
    if transfer is not None:
        size = float(transfer.group(1)) * BYTE_PREFIXES[transfer.group(2)]
        run.transfer_mib_per_s = round(size / 1024**2, 3)
    if sockets is not None:
        names = ("connect", "read", "write", "timeout")
        run.socket_errors = {
            name: int(count) for name, count in zip(names, sockets.groups(), strict=True)
        }
    run.non_2xx_3xx = int(non2xx.group(1)) if non2xx is not None else 0


def judge(run: WrkRun) -> None:
    if run.requests == 0:
        run.problems.append("no request completed")
    elif run.non_2xx_3xx > MAX_NON2XX_FRACTION * run.requests:
        share = 100 * run.non_2xx_3xx / run.requests
        run.problems.append(
            f"{run.non_2xx_3xx} non-2xx/3xx responses ({share:.2f}% > "
            f"{100 * MAX_NON2XX_FRACTION:.1f}%)"
        )
    errors = sum(run.socket_errors.values())
    if errors:
        detail = ", ".join(f"{k} {v}" for k, v in run.socket_errors.items() if v)
        # Reported, but only non-2xx responses make a run invalid.
        log(f"  note: socket errors: {detail}")
    run.valid = not run.problems


def wrk_command(harness: Harness, scenario: Scenario, url: str, duration_s: int) -> list[str]:
    """The wrk command line; the target's headers travel in the environment instead."""
    command = [
        *harness.load_prefix,
        require_tool("wrk"),
        "--latency",
        "--timeout",
        WRK_TIMEOUT,
        "-t",
        str(scenario.threads),
        "-c",
        str(scenario.connections),
        "-d",
        f"{duration_s}s",
    ]
    command += ["-s", str(BENCH_DIR / (scenario.script or "get.lua"))]
    return [*command, url]


def run_wrk(
    harness: Harness, scenario: Scenario, url: str, headers: dict[str, str], duration_s: int
) -> tuple[int, str]:
    command = wrk_command(harness, scenario, url, duration_s)
    # In the environment, not in argv, so a token never shows in the process list.
    environment = {
        **os.environ,
        "BENCH_HEADERS": "\n".join(f"{name}: {value}" for name, value in headers.items()),
    }
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        timeout=duration_s + 60,
        env=environment,
    )
    return done.returncode, done.stdout + done.stderr


def measure(
    harness: Harness,
    scenario: Scenario,
    target: str,
    endpoint: Endpoint,
    video_id: str,
    *,
    duration_s: int,
    warmup_s: int,
) -> WrkRun:
    path = scenario.path.format(video_id=video_id)
    url = endpoint.url + path
    run = WrkRun(scenario.name, target, url, scenario.connections, duration_s)
    if warmup_s > 0:
        run_wrk(harness, scenario, url, endpoint.headers, warmup_s)  # discarded
    code, text = run_wrk(harness, scenario, url, endpoint.headers, duration_s)
    if code != 0:
        run.problems.append(f"wrk exited with status {code}")
    parse_wrk(run, text)
    judge(run)
    if run.non_2xx_3xx:
        # wrk counts failures but does not say which status; one request tells.
        run.problems.append("sample response: " + probe(scenario, endpoint, path))
    harness.check_alive()
    return run


def probe(scenario: Scenario, endpoint: Endpoint, path: str) -> str:
    """Send one request like the scenario's and describe the answer, for diagnosis."""
    body = json.dumps(CREATE_BODY).encode() if scenario.method != "GET" else None
    try:
        status, answer = request(endpoint, scenario.method, path, body)
    except OSError as exc:
        return f"request failed: {exc}"
    return f"{status} {answer[:300].decode(errors='replace')}"


# --------------------------------------------------------------------------- verification cost


def measure_verify_cost(runs: tuple[int, int], prefix: list[str]) -> dict[str, Any]:
    """bench/verify_cost.py's measurement, or {"error": ...} when it failed."""
    iterations, repeats = runs
    command = [
        *prefix,
        project_python(),
        str(VERIFY_COST_SCRIPT),
        "--json",
        "--iterations",
        str(iterations),
        "--repeats",
        str(repeats),
    ]
    log("token verification cost: $ " + " ".join(command))
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
    except subprocess.TimeoutExpired:
        return {"error": "verify_cost.py did not finish within 900s"}
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        return {"error": f"verify_cost.py exited with status {done.returncode}: {tail}"}
    try:
        result: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        return {"error": "verify_cost.py printed no JSON document"}
    result["pinned_cpu"] = SERVER_CPU if prefix else None
    return result


def token_verification_summary(verify_cost: dict[str, Any]) -> dict[str, Any] | None:
    measurements = verify_cost.get("measurements")
    if not isinstance(measurements, dict):
        return None
    return {
        "verify_us": measurements["verify"]["us_per_call"],
        "cache_hit_us": measurements["cache_hit"]["us_per_call"],
        "backend_cached_us": measurements["backend"]["us_per_call"],
        "ratio_verify_to_cache_hit": verify_cost["ratio_verify_to_cache_hit"],
    }


def render_verify_cost(verify_cost: dict[str, Any]) -> str:
    if "error" in verify_cost or "measurements" not in verify_cost:
        return f"token verification cost: NOT MEASURED ({verify_cost.get('error', 'no result')})"
    measurements: dict[str, dict[str, Any]] = verify_cost["measurements"]
    width = max(len(m["label"]) for m in measurements.values())
    cpu = verify_cost.get("pinned_cpu")
    lines = [
        "token verification cost per request, in process, no HTTP "
        f"({'CPU ' + str(cpu) if cpu is not None else 'not pinned'}; best of "
        f"{verify_cost['repeats']} x {verify_cost['iterations']} calls):"
    ]
    lines += [
        f"  {m['label'].ljust(width)}  {m['us_per_call']:9.2f} us/call"
        for m in measurements.values()
    ]
    lines.append(
        f"  (a)/(b): {verify_cost['ratio_verify_to_cache_hit']:.1f}x   "
        f"(a)/(c): {verify_cost['ratio_verify_to_backend']:.1f}x   "
        f"(loop overhead {verify_cost['call_overhead_us']:.2f} us/call included)"
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------- report


def find_run(runs: list[WrkRun], scenario: str, target: str) -> WrkRun | None:
    for run in runs:
        if run.scenario == scenario and run.target == target and run.valid:
            return run
    return None


def ratio(runs: list[WrkRun], scenario: str, target: str, reference: str) -> float | None:
    mine = find_run(runs, scenario, target)
    theirs = find_run(runs, scenario, reference)
    if mine is None or theirs is None or theirs.requests_per_s <= 0:
        return None
    return round(mine.requests_per_s / theirs.requests_per_s, 4)


def added_p50(
    runs: list[WrkRun], scenario: str, target: str, reference: str = BASELINE
) -> float | None:
    mine = find_run(runs, scenario, target)
    base = find_run(runs, scenario, reference)
    if mine is None or base is None:
        return None
    return round(mine.p50_ms - base.p50_ms, 3)


def audit_cost(runs: list[WrkRun], scenarios: list[Scenario]) -> list[dict[str, Any]]:
    """Audit on vs off per scenario: the req/s ratio and what the log adds to p50/p99."""
    costs = []
    for scenario in scenarios:
        on, off = find_run(runs, scenario.name, SUBJECT), find_run(runs, scenario.name, AUDIT_OFF)
        if on is None or off is None or off.requests_per_s <= 0:
            continue
        costs.append(
            {
                "scenario": scenario.name,
                "rps_on_vs_off": round(on.requests_per_s / off.requests_per_s, 4),
                "added_p50_ms": round(on.p50_ms - off.p50_ms, 3),
                "added_p99_ms": round(on.p99_ms - off.p99_ms, 3),
            }
        )
    return costs


def build_summary(
    runs: list[WrkRun], scenarios: list[Scenario], verify_cost: dict[str, Any]
) -> dict[str, Any]:
    comparisons: list[dict[str, Any]] = []
    for scenario in scenarios:
        for target in sorted({run.target for run in runs if run.scenario == scenario.name}):
            if target in (BASELINE, REFERENCE_PROXY):
                continue
            comparisons.append(
                {
                    "scenario": scenario.name,
                    "target": target,
                    "rps_vs_nginx": ratio(runs, scenario.name, target, REFERENCE_PROXY),
                    "rps_vs_direct": ratio(runs, scenario.name, target, BASELINE),
                    "added_p50_ms_vs_direct": added_p50(runs, scenario.name, target),
                }
            )
    throughput_checks = []
    for scenario in (s for s in scenarios if s.throughput_target):
        value = ratio(runs, scenario.name, SUBJECT, REFERENCE_PROXY)
        throughput_checks.append(
            {
                "scenario": scenario.name,
                "rps_vs_nginx": value,
                "minimum": MIN_RATIO_TO_NGINX,
                "met": None if value is None else value >= MIN_RATIO_TO_NGINX,
            }
        )
    latency_checks = []
    for scenario in (s for s in scenarios if s.latency_target):
        added = added_p50(runs, scenario.name, SUBJECT)
        latency_checks.append(
            {
                "scenario": scenario.name,
                "added_p50_ms": added,
                "maximum_ms": MAX_ADDED_P50_MS,
                "met": None if added is None else added <= MAX_ADDED_P50_MS,
            }
        )
    floor_checks = []
    for scenario_name, target, minimum in FLOOR_THROUGHPUT_GOALS:
        value = ratio(runs, scenario_name, target, FLOOR)
        if value is not None:
            floor_checks.append(
                {
                    "scenario": scenario_name,
                    "target": target,
                    "rps_vs_bare": value,
                    "minimum": minimum,
                    "met": value >= minimum,
                }
            )
    for scenario_name, target, maximum_ms in FLOOR_LATENCY_GOALS:
        added = added_p50(runs, scenario_name, target, FLOOR)
        if added is not None:
            floor_checks.append(
                {
                    "scenario": scenario_name,
                    "target": target,
                    "added_p50_ms_vs_bare": added,
                    "maximum_ms": maximum_ms,
                    "met": added <= maximum_ms,
                }
            )
    checks = throughput_checks + latency_checks
    return {
        "floor_goals": floor_checks,
        "comparisons": comparisons,
        "audit_cost": audit_cost(runs, scenarios),
        "throughput_target": throughput_checks,
        "latency_target": latency_checks,
        "all_targets_met": bool(checks) and all(check["met"] is True for check in checks),
        "all_runs_valid": all(run.valid for run in runs),
        "token_verification": token_verification_summary(verify_cost),
    }


def fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def render_table(runs: list[WrkRun]) -> str:
    header = [
        "scenario",
        "target",
        "req/s",
        "p50 ms",
        "p99 ms",
        "MiB/s",
        "non-2xx",
        "sock err",
        "vs nginx",
        "vs direct",
        "+p50 ms",
        "valid",
    ]
    rows: list[list[str]] = []
    for run in runs:
        is_reference = run.target == REFERENCE_PROXY
        is_baseline = run.target == BASELINE
        vs_nginx = None if is_reference else ratio(runs, run.scenario, run.target, REFERENCE_PROXY)
        vs_direct = None if is_baseline else ratio(runs, run.scenario, run.target, BASELINE)
        plus = None if is_baseline else added_p50(runs, run.scenario, run.target)
        rows.append(
            [
                run.scenario,
                run.target,
                f"{run.requests_per_s:.0f}",
                f"{run.p50_ms:.2f}",
                f"{run.p99_ms:.2f}",
                f"{run.transfer_mib_per_s:.1f}" if run.transfer_mib_per_s else "-",
                str(run.non_2xx_3xx),
                str(sum(run.socket_errors.values())),
                fmt(vs_nginx, suffix="x"),
                fmt(vs_direct, suffix="x"),
                "-" if plus is None else f"{plus:+.2f}",
                "yes" if run.valid else "NO",
            ]
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        left = {0, 1}
        return "  ".join(
            cell.ljust(widths[i]) if i in left else cell.rjust(widths[i])
            for i, cell in enumerate(cells)
        ).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out += [line(row) for row in rows]
    return "\n".join(out)


VERDICTS: Final[dict[bool | None, str]] = {
    True: "MET",
    False: "NOT MET",
    None: "NOT MEASURED (a run it needs is invalid or missing)",
}


def render_summary(summary: dict[str, Any], runs: list[WrkRun]) -> str:
    out = []
    for comparison in summary["comparisons"]:
        if comparison["rps_vs_direct"] is None and comparison["rps_vs_nginx"] is None:
            out.append(f"{comparison['target']} / {comparison['scenario']}: not comparable")
            continue
        out.append(
            f"{comparison['target']} / {comparison['scenario']}: "
            f"req/s {fmt(comparison['rps_vs_nginx'])}x nginx, "
            f"{fmt(comparison['rps_vs_direct'])}x direct; "
            f"p50 {fmt(comparison['added_p50_ms_vs_direct'], suffix=' ms')} over direct"
        )
    for cost in summary["audit_cost"]:
        out.append(
            f"audit on vs off / {cost['scenario']}: req/s {cost['rps_on_vs_off']:.2f}x; "
            f"adds {cost['added_p50_ms']:+.2f} ms p50, {cost['added_p99_ms']:+.2f} ms p99"
        )
    for check in summary["throughput_target"]:
        verdict = VERDICTS[check["met"]]
        out.append(
            f"target {SUBJECT} req/s >= {check['minimum']:.2f}x nginx "
            f"({check['scenario']}): {fmt(check['rps_vs_nginx'])}x -> {verdict}"
        )
    for check in summary["latency_target"]:
        verdict = VERDICTS[check["met"]]
        out.append(
            f"target {SUBJECT} added p50 <= {check['maximum_ms']:.1f} ms over direct "
            f"({check['scenario']}): {fmt(check['added_p50_ms'], suffix=' ms')} -> {verdict}"
        )
    for check in summary.get("floor_goals", []):
        verdict = VERDICTS[check["met"]]
        if "rps_vs_bare" in check:
            out.append(
                f"goal {check['target']} req/s >= {check['minimum']:.2f}x bare "
                f"({check['scenario']}): {fmt(check['rps_vs_bare'])}x -> {verdict}"
            )
        else:
            out.append(
                f"goal {check['target']} added p50 <= {check['maximum_ms']:.2f} ms over bare "
                f"({check['scenario']}): {fmt(check['added_p50_ms_vs_bare'], 3, ' ms')} "
                f"-> {verdict}"
            )
    for run in runs:
        for problem in run.problems:
            out.append(f"INVALID {run.scenario} / {run.target}: {problem}")
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the gateway against nginx and the bare mock model API."
    )
    parser.add_argument(
        "--duration",
        type=int,
        default=None,
        metavar="S",
        help=f"seconds measured per run (default {DEFAULT_DURATION_S}, --quick {QUICK_DURATION_S})",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        metavar="S",
        help=f"seconds of discarded warm-up before each run (default {DEFAULT_WARMUP_S})",
    )
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    parser.add_argument(
        "--json", action="store_true", help="print the results as JSON instead of the table"
    )
    parser.add_argument(
        "--target",
        action="append",
        choices=[t.name for t in TARGETS],
        metavar="NAME",
        help="only this target (repeatable; direct and nginx are needed for ratios)",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[s.name for s in SCENARIOS],
        metavar="NAME",
        help="only this scenario (repeatable)",
    )
    parser.add_argument(
        "--keep-temp", action="store_true", help="keep the server logs and nginx config"
    )
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help="JSON results file")
    args = parser.parse_args(argv)
    if args.duration is not None and args.duration < 1:
        parser.error("--duration must be at least 1 second")
    if args.warmup is not None and args.warmup < 0:
        parser.error("--warmup must not be negative")
    return args


def raise_on_signal(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    duration = args.duration or (QUICK_DURATION_S if args.quick else DEFAULT_DURATION_S)
    warmup = (
        args.warmup
        if args.warmup is not None
        else (QUICK_WARMUP_S if args.quick else DEFAULT_WARMUP_S)
    )
    targets = [t for t in TARGETS if not args.target or t.name in args.target]
    scenarios = [s for s in SCENARIOS if not args.scenario or s.name in args.scenario]
    ensure_tools()
    started = datetime.datetime.now(datetime.UTC)
    runs: list[WrkRun] = []
    with Harness(keep_temp=args.keep_temp) as harness:
        if not harness.server_prefix:
            log("warning: cannot pin to CPUs 0 and 1 (taskset or CPUs missing); not pinning")
        harness.start_mock()
        endpoints = {target.name: target.start(harness) for target in targets}
        owners = {name: video_owner(name, endpoint) for name, endpoint in endpoints.items()}
        # Each owner's download video, created through that owner's first target.
        videos: dict[str, str] = {}
        if any(scenario.needs_video for scenario in scenarios):
            for name, endpoint in endpoints.items():
                if owners[name] not in videos:
                    videos[owners[name]] = create_video(name, endpoint)
                    log(f"created completed video {videos[owners[name]]} through {name}")
        total = len(scenarios) * len(targets)
        for scenario in scenarios:
            # Targets back to back per scenario, so the ratios compare runs that
            # saw about the same background load.
            for target in targets:
                endpoint = endpoints[target.name]
                owner = owners[target.name]
                if scenario.needs_video:
                    videos[owner] = ensure_video(target.name, endpoint, videos[owner])
                log(
                    f"[{len(runs) + 1}/{total}] {scenario.name} -> {target.name} "
                    f"({scenario.method} {scenario.path}, c={scenario.connections}, "
                    f"{warmup}s warm-up + {duration}s)"
                )
                run = measure(
                    harness,
                    scenario,
                    target.name,
                    endpoint,
                    videos.get(owner, ""),
                    duration_s=duration,
                    warmup_s=warmup,
                )
                runs.append(run)
                log(
                    f"  {run.requests_per_s:.0f} req/s, p50 {run.p50_ms:.2f} ms, "
                    f"p99 {run.p99_ms:.2f} ms" + ("" if run.valid else f"  INVALID: {run.problems}")
                )
    # After the servers have stopped, on the core they ran on.
    verify_cost = measure_verify_cost(
        QUICK_VERIFY_COST_RUNS if args.quick else VERIFY_COST_RUNS,
        pinning(SERVER_CPU),
    )
    summary = build_summary(runs, scenarios, verify_cost)
    return {
        "date": started.isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "pinned": bool(harness.server_prefix),
            "server_cpu": SERVER_CPU if harness.server_prefix else None,
            "load_cpu": LOAD_CPU if harness.load_prefix else None,
            "wrk": tool_version([require_tool("wrk"), "--version"]),
            "nginx": tool_version([require_tool("nginx"), "-v"]),
        },
        "settings": {
            "duration_s": duration,
            "warmup_s": warmup,
            "wrk_timeout": WRK_TIMEOUT,
            "max_non2xx_fraction": MAX_NON2XX_FRACTION,
        },
        "targets": [{"name": t.name, "description": t.description} for t in targets],
        "scenarios": [asdict(s) | {"needs_video": s.needs_video} for s in scenarios],
        "runs": [asdict(run) for run in runs],
        "verify_cost": verify_cost,
        "summary": summary,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Also when started in the background with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_on_signal)
    signal.signal(signal.SIGHUP, raise_on_signal)
    try:
        report = run_benchmark(args)
    except KeyboardInterrupt:
        log("interrupted; servers stopped")
        return 130
    except (BenchError, subprocess.TimeoutExpired, OSError) as exc:
        log(f"benchmark failed: {exc}")
        return 1
    output: Path = args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    runs = [WrkRun(**run) for run in report["runs"]]
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"PhaseGate benchmark, {report['date']} (wrk {report['settings']['duration_s']}s "
            f"per run after {report['settings']['warmup_s']}s warm-up)"
        )
        print(render_table(runs))
        print()
        print(render_summary(report["summary"], runs))
        print()
        print(render_verify_cost(report["verify_cost"]))
    log(f"results written to {output}")
    summary = report["summary"]
    return 0 if summary["all_runs_valid"] and summary["token_verification"] is not None else 1


if __name__ == "__main__":
    sys.exit(main())

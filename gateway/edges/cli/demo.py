"""`phasegate demo`: the mock model API and the gateway in front of it, on loopback,
with one credential per tier and the commands to try them.

The default ports (8080 for the gateway, 8081 for the model) give way to free ones when
taken; a port asked for with `--port` or `--model-port` is used or refused, never
swapped. Every command printed runs as printed: the `phasegate` executable by its
path (a fresh checkout does not have it on PATH) and the same state and policies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.edges.admin import IssuedCredential, grant_tier
from gateway.edges.cli.admin_commands import load_checked_policy
from gateway.edges.cli.ports import free_port, wait_listening
from gateway.edges.cli.serve import check_serveable, serve_on
from gateway.edges.logging import configure_logging
from gateway.edges.settings import Settings
from gateway.ports.store import open_store

_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_MODEL_PORT = 8081
MOCK_JOB_SECONDS = 3
DEMO_PRINCIPALS = {
    "invited_artists": "demo-artist",
    "studios": "demo-studio",
    "public": "demo-public",
}


class PortTaken(Exception):
    """A port the operator asked for is in use."""


@dataclass(frozen=True, slots=True)
class Commands:
    """How to run the demo's own tools from another terminal, as they are installed."""

    phasegate: str  # the executable, quoted for a POSIX shell
    python: str
    state_options: str  # --data-dir and --policies, absolute, quoted

    @classmethod
    def for_settings(cls, settings: Settings) -> Commands:
        options = (
            f"--data-dir {shlex.quote(str(settings.data_dir.resolve()))} "
            f"--policies {shlex.quote(str(settings.policies.resolve()))}"
        )
        return cls(_phasegate_command(), shlex.quote(sys.executable), options)


def _phasegate_command() -> str:
    """The installed `phasegate` beside this interpreter (a virtual environment's bin),
    else the interpreter running the package: either runs without PATH."""
    beside = Path(sys.executable).with_name("phasegate")
    if beside.is_file():
        return shlex.quote(str(beside))
    return f"{shlex.quote(sys.executable)} -m gateway"


def listen(port: int, *, asked: bool, what: str, flag: str) -> tuple[socket.socket, list[str]]:
    """A listening socket on the port, or, for a default port that is taken, on a free one
    (with a note saying so). Listening from here on, nothing can take it meanwhile."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        try:
            sock.bind((_HOST, port))
        except OSError:
            if asked:
                raise PortTaken(f"{flag} {port}: the port is in use") from None
            sock.bind((_HOST, 0))
        sock.listen(socket.SOMAXCONN)
    except BaseException:
        sock.close()
        raise
    chosen: int = sock.getsockname()[1]
    notes = [] if chosen == port else [f"(port {port} is in use: the {what} listens on {chosen})"]
    return sock, notes


def _model_port(asked: int | None, *, gateway_port: int) -> tuple[int, list[str]]:
    """The mock model API's port, probed now and bound by its own process in a moment."""
    if asked is not None and asked == gateway_port:
        raise PortTaken(f"--model-port {asked}: the gateway listens there")
    port = asked if asked is not None else DEFAULT_MODEL_PORT
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((_HOST, port))
        except OSError:
            if asked is not None:
                raise PortTaken(f"--model-port {port}: the port is in use") from None
        else:
            return port, []
    chosen = free_port(_HOST)
    return chosen, [f"(port {port} is in use: the mock model API listens on {chosen})"]


async def _demo_credentials(settings: Settings) -> list[IssuedCredential]:
    """Fresh credentials for the demo principals; earlier demo runs' ones are revoked."""
    tiers = frozenset(load_checked_policy(settings.policies).tiers)
    store = open_store(settings.store_url)
    now = time.time()
    try:
        issued = []
        for tier, principal in DEMO_PRINCIPALS.items():
            if tier in tiers:
                await store.revoke_principal(principal, now)
                issued.append(await grant_tier(store, principal, tier, known_tiers=tiers, now=now))
        return issued
    finally:
        await store.close()


def instructions(
    gateway_url: str,
    mock_url: str,
    credentials: list[IssuedCredential],
    commands: Commands,
    notes: Sequence[str] = (),
) -> str:
    json_field = commands.python + " -c 'import json,sys; print(json.load(sys.stdin)[\"{}\"])'"
    lines = [
        "PhaseGate demo",
        f"  gateway        {gateway_url}",
        f"  mock model API {mock_url}  (jobs complete after {MOCK_JOB_SECONDS} s)",
        *(f"  {note}" for note in notes),
        "",
        "Credentials, one per tier (the secrets are shown only here):",
    ]
    lines += [
        f"  {c.grant.tier:<16} {c.grant.principal:<12} {c.grant.client_id}  {c.client_secret}"
        for c in credentials
    ]
    if credentials:
        first = credentials[0]
        auth = '-H "Authorization: Bearer $TOKEN"'
        lines += [
            "",
            f"Try it as {first.grant.principal} ({first.grant.tier}), in a shell:",
            f"  export TOKEN=$(curl -s -u '{first.grant.client_id}:{first.client_secret}' "
            f"-d grant_type=client_credentials {gateway_url}/oauth/token "
            f"| {json_field.format('access_token')})",
            f"  VIDEO=$(curl -s {gateway_url}/v1/videos {auth} "
            "-H 'Content-Type: application/json' "
            """-d '{"model": "sora-2", "prompt": "A paper boat in the rain", "seconds": "4"}' """
            f"| {json_field.format('id')})",
            f"  curl -s {gateway_url}/v1/videos/$VIDEO {auth}          # until status is completed",
            f"  curl -s {gateway_url}/v1/videos/$VIDEO/content {auth} -o video.mp4",
            f"  curl -s {gateway_url}/v1/videos {auth}                 # only your own jobs",
            "",
            "Or with the OpenAI SDK (pip install openai), with TOKEN exported as above:",
            "  import os",
            "  from openai import OpenAI",
            f'  client = OpenAI(base_url="{gateway_url}/v1", api_key=os.environ["TOKEN"])',
            '  video = client.videos.create_and_poll(model="sora-2", prompt="A boat at dusk")',
            '  client.videos.download_content(video.id).write_to_file("video.mp4")',
        ]
    lines += [
        "",
        "The rollout starts in the research preview: only invited artists get in. Open it up",
        "from another terminal (running gateways follow within a second):",
        f"  {commands.phasegate} phase set limited_preview {commands.state_options}",
        f"  {commands.phasegate} phase set general_availability {commands.state_options}",
        "",
        "Ctrl-C stops both.",
    ]
    return "\n".join(lines)


def run_demo(settings: Settings, *, port_asked: bool, model_port: int | None) -> int:
    try:
        gateway_socket, notes = listen(
            settings.port, asked=port_asked, what="gateway", flag="--port"
        )
    except PortTaken as exc:
        print(f"phasegate demo: {exc}", file=sys.stderr)
        return 1
    with gateway_socket:
        gateway_port = gateway_socket.getsockname()[1]
        try:
            mock_port, mock_notes = _model_port(model_port, gateway_port=gateway_port)
        except PortTaken as exc:
            print(f"phasegate demo: {exc}", file=sys.stderr)
            return 1
        gateway_url = f"http://{_HOST}:{gateway_port}"
        settings = dataclasses.replace(
            settings,
            host=_HOST,
            port=gateway_port,
            upstream=f"http://{_HOST}:{mock_port}",
            issuer=settings.issuer or gateway_url,
        )
        check_serveable(settings)
        credentials = asyncio.run(_demo_credentials(settings))
        mock = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
            [
                sys.executable,
                *("-m", "gateway", "mock-model"),
                *("--host", _HOST, "--port", str(mock_port)),
                *("--job-seconds", str(MOCK_JOB_SECONDS)),
            ]
        )
        try:
            if not wait_listening(_HOST, mock_port, timeout=15):
                print("phasegate demo: the mock model API did not start", file=sys.stderr)
                return 1
            text = instructions(
                gateway_url,
                settings.upstream,
                credentials,
                Commands.for_settings(settings),
                [*notes, *mock_notes],
            )
            print(text, flush=True)
            configure_logging(settings.log_level)
            return serve_on(settings, [gateway_socket])
        finally:
            mock.terminate()
            try:
                mock.wait(timeout=10)
            except subprocess.TimeoutExpired:
                mock.kill()

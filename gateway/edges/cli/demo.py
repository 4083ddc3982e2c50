"""`phasegate demo`: the mock model API and the gateway in front of it, on loopback,
with one credential per tier and the commands to try them."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import time

from gateway.edges.admin import IssuedCredential, grant_tier
from gateway.edges.cli.admin_commands import load_checked_policy
from gateway.edges.cli.ports import free_port, is_free, wait_listening
from gateway.edges.cli.serve import run_serve
from gateway.edges.settings import Settings
from gateway.ports.store import open_store

_HOST = "127.0.0.1"
DEMO_PRINCIPALS = {
    "invited_artists": "demo-artist",
    "studios": "demo-studio",
    "public": "demo-public",
}
_JSON_FIELD = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"{field}\"])'"


def _port_or_free(port: int) -> int:
    return port if is_free(_HOST, port) else free_port(_HOST)


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


def instructions(gateway_url: str, mock_url: str, credentials: list[IssuedCredential]) -> str:
    lines = [
        "PhaseGate demo",
        f"  gateway        {gateway_url}",
        f"  mock model API {mock_url}  (jobs complete after 3 s)",
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
            f"Try it as {first.grant.principal} ({first.grant.tier}):",
            f"  TOKEN=$(curl -s -u '{first.grant.client_id}:{first.client_secret}' "
            f"-d grant_type=client_credentials {gateway_url}/oauth/token "
            f"| {_JSON_FIELD.format(field='access_token')})",
            f"  VIDEO=$(curl -s {gateway_url}/v1/videos {auth} "
            "-H 'Content-Type: application/json' "
            """-d '{"model": "sora-2", "prompt": "A paper boat in the rain", "seconds": "4"}' """
            f"| {_JSON_FIELD.format(field='id')})",
            f"  curl -s {gateway_url}/v1/videos/$VIDEO {auth}          # until status is completed",
            f"  curl -s {gateway_url}/v1/videos/$VIDEO/content {auth} -o video.mp4",
            f"  curl -s {gateway_url}/v1/videos {auth}                 # only your own jobs",
        ]
    lines += [
        "",
        "The rollout starts in the research preview: only invited artists get in. Open it up",
        "from another terminal (running gateways follow within a second):",
        "  phasegate phase set limited_preview      # studios too",
        "  phasegate phase set general_availability # and 10% of the public",
        "",
        "Ctrl-C stops both.",
    ]
    return "\n".join(lines)


def run_demo(settings: Settings) -> int:
    gateway_port = _port_or_free(settings.port)
    mock_port = _port_or_free(8081 if gateway_port != 8081 else 8082)
    gateway_url = f"http://{_HOST}:{gateway_port}"
    settings = dataclasses.replace(
        settings,
        host=_HOST,
        port=gateway_port,
        upstream=f"http://{_HOST}:{mock_port}",
        issuer=settings.issuer or gateway_url,
    )
    credentials = asyncio.run(_demo_credentials(settings))
    mock = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
        [sys.executable, "-m", "gateway", "mock-model", "--host", _HOST, "--port", str(mock_port)]
    )
    try:
        if not wait_listening(_HOST, mock_port, timeout=15):
            print("phasegate demo: the mock model API did not start", file=sys.stderr)
            return 1
        print(instructions(gateway_url, settings.upstream, credentials), flush=True)
        return run_serve(settings)
    finally:
        mock.terminate()
        try:
            mock.wait(timeout=10)
        except subprocess.TimeoutExpired:
            mock.kill()

"""No secret the tests used reaches any log stream or audit record (the secrets sweep).

The sweep itself lives in `tests/support/secrets_sweep.py`; these tests show that it
finds what it should, passes what it should, and fails a run, and then run it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.processes import deployment, stderr_of
from tests.support.secrets_sweep import MARKER, SWEEP, Secret, Sweep, describe, find_leaks

ROOT = Path(__file__).resolve().parent.parent
VIDEO = {"model": "sora-2", "prompt": "a lighthouse at dusk", "seconds": "4"}


def _token() -> str:
    """A token shaped like the gateway's: a JWT header and payload anyone may read, and a
    signature that is the secret part."""
    header = base64.urlsafe_b64encode(b'{"alg":"ES256","typ":"at+jwt"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(b'{"sub":"alice","tier":"studios"}').rstrip(b"=").decode()
    return f"{header}.{payload}.{secrets.token_urlsafe(64)}"


def _registered(*values: tuple[str, str]) -> list[Secret]:
    sweep = Sweep()
    for kind, value in values:
        if kind == "access token":
            sweep.add_token(value)
        else:
            sweep.add_secret(kind, value)
    return sweep.registered()


def test_a_planted_secret_is_found_and_reported_without_showing_it() -> None:
    client_secret = "pgs_" + secrets.token_urlsafe(32)
    token = _token()
    signature = token.rpartition(".")[2]
    streams = [
        ("serve stderr", '{"event":"granted","note":"issued ' + client_secret + '"}\n'),
        # Cut short at the front, as a truncating log would: the signature is still there.
        ("in-process gateway logs", f'{{"event":"request","auth":"…{signature}"}}\n'),
        # Glued to other token characters, with no delimiter to find it by.
        ("audit segment a.jsonl", f'{{"ref":"x{client_secret}y"}}\n'),
    ]
    leaks = find_leaks(
        _registered(("client secret", client_secret), ("access token", token)), streams
    )

    found = {(leak.secret.kind, leak.stream) for leak in leaks}
    assert found == {
        ("client secret", "serve stderr"),
        ("access token signature", "in-process gateway logs"),
        ("client secret", "audit segment a.jsonl"),
    }
    report = "\n".join(describe(leaks))
    assert "found in serve stderr" in report
    assert '"event":"granted"' in report  # the context around the leak, to find its source
    for secret in (client_secret, token, signature, signature[:12], client_secret[4:16]):
        assert secret not in report


def test_a_clean_stream_passes() -> None:
    """The parts of a secret that are not secret, and the secret cut short, are no leak."""
    client_secret = "pgs_" + secrets.token_urlsafe(32)
    token = _token()
    header, payload, _ = token.split(".")
    streams = [
        ("serve stderr", f'{{"event":"request","kid":"{header}","claims":"{payload}"}}\n'),
        ("audit", f'{{"secret_prefix":"{client_secret[:12]}","signature":"[redacted]"}}\n'),
    ]
    registered = _registered(("client secret", client_secret), ("access token", token))
    assert find_leaks(registered, streams) == []


def test_only_real_secrets_are_searched_for() -> None:
    """Placeholders are not searched for; every form a real secret travels in is."""
    sweep = Sweep()
    token = _token()
    client_secret = "pgs_" + secrets.token_urlsafe(32)
    cookie = secrets.token_urlsafe(24)
    sweep.add_secret("client secret", "not-a-secret")  # too short
    sweep.add_authorization("Bearer " + "x" * 40)  # no secret has so few distinct characters
    sweep.add_authorization("Bearer " + token)
    basic = base64.b64encode(f"pgc_0123456789abcdef:{client_secret}".encode()).decode()
    sweep.add_authorization("Basic " + basic)
    sweep.add_cookie(f"theme=dark; session={cookie}")
    sweep.add_granted(f"client_id      pgc_0123\nclient_secret  {client_secret}\n")
    sweep.add_arguments(["serve", "--upstream-key", "sk-upstream-for-tests"])

    kinds = {secret.value: secret.kind for secret in sweep.registered()}
    assert kinds == {
        token: "access token",
        token.rpartition(".")[2]: "access token signature",
        basic: "Authorization header",
        client_secret: "client secret",
        cookie: "cookie",
        "sk-upstream-for-tests": "upstream key",
    }


def test_what_any_test_client_sends_or_is_given_is_searched_for() -> None:
    """Whichever client a test makes: Basic credentials put on by `auth=`, bearer tokens,
    cookies, and the tokens that token responses carry."""
    client_secret = "pgs_" + secrets.token_urlsafe(32)
    cookie = secrets.token_urlsafe(24)
    issued, held = _token(), _token()

    def answer(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"access_token": issued, "token_type": "Bearer"})

    transport = httpx.MockTransport(answer)
    with httpx.Client(transport=transport, base_url="http://gateway.test") as client:
        form = {"grant_type": "client_credentials"}
        client.post("/oauth/token", data=form, auth=("pgc_0123", client_secret))

    async def hold() -> None:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as peer:
            headers = {"Authorization": f"Bearer {held}", "Cookie": f"session={cookie}"}
            await peer.get("/v1/videos", headers=headers)

    asyncio.run(hold())
    registered = {secret.value for secret in SWEEP.registered()}
    assert {client_secret, cookie, issued, held} <= registered


_PLANTED = """
import os

import pytest
import structlog

from tests.support.secrets_sweep import SWEEP


@pytest.mark.{marker}
def test_sweep() -> None:
    SWEEP.assert_clean()


def test_uses_a_secret() -> None:
    secret = os.environ["PLANTED_SECRET"]
    SWEEP.add_secret("client secret", secret)
    note = f"issued {{secret}}" if os.environ["LEAK"] == "yes" else "issued"
    structlog.get_logger("planted").warning("granted", note=note)
"""


@pytest.mark.parametrize(
    ("leak", "select", "status", "outcome"),
    [
        # Declared first, the sweep still runs last, and fails as a test.
        ("yes", [], 1, "1 failed, 1 passed"),
        # A run that leaves the sweep out still ends with it, and fails.
        ("yes", ["-k", "not sweep"], 1, "1 passed, 1 deselected"),
        ("no", ["-k", "not sweep"], 0, "1 passed, 1 deselected"),
    ],
    ids=["leak-sweep-runs-last", "leak-subset-run", "clean-subset-run"],
)
def test_a_leak_fails_the_run(
    tmp_path: Path, leak: str, select: list[str], status: int, outcome: str
) -> None:
    # Without the pgs_ prefix, which the production redaction would mask before the
    # sweep could see the leak.
    planted = secrets.token_hex(24)
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    )
    (tmp_path / "test_planted.py").write_text(_PLANTED.format(marker=MARKER))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.support.secrets_sweep",
            "-p",
            "no:cacheprovider",
            "-q",
            "-c",
            str(tmp_path / "pytest.ini"),
            "--basetemp",
            str(tmp_path / "basetemp"),
            *select,
            str(tmp_path / "test_planted.py"),
        ],
        capture_output=True,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PLANTED_SECRET": planted, "LEAK": leak},
        text=True,
        timeout=120,
    )
    output = run.stdout + run.stderr
    assert run.returncode == status, output
    assert outcome in output
    assert "secrets sweep: 1 secrets searched for" in output
    if leak == "yes":
        assert "client secret" in output
        assert "found in in-process gateway logs" in output
        assert "used by test_planted.py::test_uses_a_secret" in output
        assert ("FAILED test_planted.py::test_sweep" in output) == (select == [])
    else:
        assert ": clean" in output
    assert planted not in output


def test_debug_logs_of_a_gateway_carry_no_credential(tmp_path: Path) -> None:
    """At debug level, with access logs on, an upstream key set and every request carrying
    a real token and a session cookie, no credential reaches the gateway's output."""
    upstream_key = "sk-" + secrets.token_urlsafe(24)
    cookie = secrets.token_urlsafe(24)
    with deployment(
        tmp_path / "data", "--log-level", "debug", "--upstream-key", upstream_key
    ) as target:
        credential = target.grant("alice")
        token = target.token(credential)
        sent = 1
        headers = {"Authorization": f"Bearer {token}", "Cookie": f"session={cookie}"}
        with httpx.Client(base_url=target.gateway_url, headers=headers) as client:
            created = client.post("/v1/videos", json=VIDEO)
            assert created.status_code == 200, created.text
            video = created.json()["id"]
            for path in (f"/v1/videos/{video}", "/v1/videos", "/v1/not-a-route"):
                client.get(path)
            client.post("/v1/videos", json={**VIDEO, "seconds": "not a number"})
            client.post(
                "/oauth/introspect",
                data={"token": token},
                auth=(credential["client_id"], credential["client_secret"]),
            )
            client.post(
                "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": credential["client_id"],
                    "client_secret": credential["client_secret"],
                },
            )
            sent += 7
    stdout, _ = target.process.communicate()
    written = stdout + stderr_of(target.process)
    # The capture did see the gateway's log: one access line per request.
    assert written.count('"event":"request"') >= sent
    for what, secret in [
        ("access token", token),
        ("token signature", token.rpartition(".")[2]),
        ("client secret", credential["client_secret"]),
        ("cookie", cookie),
        ("upstream key", upstream_key),
    ]:
        assert secret not in written, f"the gateway's debug log carries the {what}"


@pytest.mark.secrets_sweep
def test_no_log_stream_carries_a_secret_the_tests_used() -> None:
    """Runs after every other test of the session (the sweep plugin moves it last)."""
    SWEEP.assert_clean()

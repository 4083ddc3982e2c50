"""Revocation and key rotation made by the CLI reach a running gateway in another process."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import jwt

from tests.support.processes import Deployment, deployment


def _seconds_until_refused(target: Deployment, token: str, limit: float = 3.0) -> float:
    started = time.monotonic()
    while target.status(token) != 401:
        assert time.monotonic() - started < limit, "the revocation never took effect"
        time.sleep(0.01)
    return time.monotonic() - started


def test_cli_revocation_reaches_a_running_gateway_within_a_second(tmp_path: Path) -> None:
    """`phasegate revoke` of a principal, a client and a jti each refuse tokens within 1 s."""
    with deployment(tmp_path) as target:
        alice, bob, carol = (target.grant(name) for name in ("alice", "bob", "carol"))
        alice_token, bob_token, carol_token = (target.token(c) for c in (alice, bob, carol))
        for token in (alice_token, bob_token, carol_token):
            assert target.status(token) == 200

        # From the moment the command has made the change (its own start-up, a Python
        # process on a loaded machine, is not propagation).
        assert target.admin("revoke", "alice").returncode == 0
        assert _seconds_until_refused(target, alice_token) < 1.0

        assert target.admin("revoke", "--client-id", bob["client_id"]).returncode == 0
        assert _seconds_until_refused(target, bob_token) < 1.0

        jti = jwt.decode(carol_token, options={"verify_signature": False})["jti"]
        assert target.admin("revoke", "--jti", jti).returncode == 0
        assert _seconds_until_refused(target, carol_token) < 1.0
        # Only that token: carol's next token works.
        assert target.status(target.token(carol)) == 200


def test_key_rotation_across_processes(tmp_path: Path) -> None:
    """After `keys rotate` new tokens carry the new kid, old ones verify, JWKS lists both;
    `keys retire` of the old key then refuses its tokens."""
    with deployment(tmp_path) as target:
        credential = target.grant("alice")
        old_token = target.token(credential)
        old_kid = jwt.get_unverified_header(old_token)["kid"]

        assert target.admin("keys", "rotate").returncode == 0
        deadline = time.monotonic() + 1.0
        new_token = target.token(credential)
        while jwt.get_unverified_header(new_token)["kid"] == old_kid:
            assert time.monotonic() < deadline, "the gateway never picked up the new key"
            time.sleep(0.02)
            new_token = target.token(credential)
        new_kid = jwt.get_unverified_header(new_token)["kid"]

        jwks = httpx.get(f"{target.gateway_url}/.well-known/jwks.json").json()
        assert {key["kid"] for key in jwks["keys"]} == {old_kid, new_kid}
        assert target.status(old_token) == 200
        assert target.status(new_token) == 200
        listed = target.admin("keys", "list", "--json")
        states = {row["kid"]: row["state"] for row in json.loads(listed.stdout)}
        assert states == {old_kid: "verifying", new_kid: "signing"}

        assert target.admin("keys", "retire", old_kid).returncode == 0
        _seconds_until_refused(target, old_token, limit=1.0)
        assert target.status(new_token) == 200
        jwks = httpx.get(f"{target.gateway_url}/.well-known/jwks.json").json()
        assert [key["kid"] for key in jwks["keys"]] == [new_kid]

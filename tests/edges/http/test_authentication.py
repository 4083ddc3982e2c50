"""Authentication end to end: hostile credentials against a real gateway in front of the mock.

Every hostile credential is built around a real granted client and, where a signature is
involved, the gateway's real signing key read from its state file: each one differs from
a token the gateway would accept by exactly the defect its case is named after.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import structlog

from gateway.core.claims_cache import ClaimsCache, token_digest
from gateway.core.keys import SigningKey, new_key
from gateway.core.tokens import AccessClaims, TokenRules, verify
from gateway.edges.http import authentication
from gateway.edges.logging import configure_logging
from gateway.edges.shared_state import SharedState
from gateway.ports.store import SqliteStore
from tests.conftest import Gateway, GatewayFactory
from tests.support.identity import Credential, grant
from tests.support.servers import AppServer
from tests.support.tokens import (
    access_payload,
    attacker_key,
    es256_token,
    gateway_signing_key,
    hs256_token,
    on_store,
    public_jwk,
    public_pem,
    segments,
    thumbprint,
    unsigned_token,
    unverified_header,
    unverified_payload,
    with_payload,
)

VIDEO = {"model": "sora-2", "prompt": "x", "seconds": "4"}
INVALID_CHALLENGE = 'Bearer error="invalid_token"'
Headers = list[tuple[str, str]]


def _bearer(token: str) -> Headers:
    return [("Authorization", f"Bearer {token}")]


def _upstream_requests(mock_model: AppServer) -> list[Any]:
    data: list[Any] = httpx.get(f"{mock_model.url}/_mock/requests").json()["data"]
    return data


def _clear_upstream(mock_model: AppServer) -> None:
    assert httpx.delete(f"{mock_model.url}/_mock/requests").status_code == 200
    assert _upstream_requests(mock_model) == []


def _assert_invalid_token(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers.get_list("www-authenticate") == [INVALID_CHALLENGE]
    error = response.json()["error"]
    assert error["code"] == "invalid_token"
    assert error["type"] == "authentication_error"
    assert error["request_id"] == response.headers["x-request-id"]


def _refused_within(
    gateway: Gateway, headers: Headers, seconds: float, poll: float = 0.02
) -> httpx.Response:
    """Asks (GET /v1/videos, answered by the gateway alone) until refused, for up to `seconds`."""
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=gateway.url) as client:
        while True:
            response = client.get("/v1/videos", headers=headers)
            if response.status_code == 401 or time.monotonic() >= deadline:
                return response
            assert response.status_code == 200, response.text
            time.sleep(poll)


def _accepted(gateway: Gateway, headers: Headers) -> None:
    response = httpx.get(f"{gateway.url}/v1/videos", headers=headers)
    assert response.status_code == 200, response.text


@dataclass
class Scene:
    """A running gateway and its mock model API, a granted client with a real access token,
    and the gateway's own signing key."""

    gateway: Gateway
    mock_model: AppServer
    credential: Credential
    token: str
    key: SigningKey
    now: int

    @classmethod
    def of(cls, gateway: Gateway, mock_model: AppServer) -> Scene:
        credential = gateway.grant("mallory", "invited_artists")
        token = gateway.token(credential)
        key = gateway_signing_key(gateway.state_file, time.time())
        assert key.kid == _kid(token)
        return cls(gateway, mock_model, credential, token, key, int(time.time()))

    def header(self, **changes: Any) -> dict[str, Any]:
        return {"alg": "ES256", "typ": "at+jwt", "kid": self.key.kid, **changes}

    def payload(self, **changes: Any) -> dict[str, Any]:
        payload = access_payload(
            issuer=self.gateway.settings.issuer_url,
            audience=self.gateway.settings.audience,
            subject=self.credential.principal,
            client_id=self.credential.client_id,
            tier=self.credential.tier,
            now=self.now,
        )
        payload.update(changes)
        return payload

    def signed(
        self, header: dict[str, Any] | None = None, payload: dict[str, Any] | None = None
    ) -> str:
        """A token signed by the gateway's real key; valid unless header or payload say not."""
        return es256_token(
            self.header() if header is None else header,
            self.payload() if payload is None else payload,
            self.key.private,
        )

    def revoke(self, work: Callable[[SqliteStore], Any]) -> None:
        on_store(self.gateway.state_file, work)


def _kid(token: str) -> str:
    kid: str = unverified_header(token)["kid"]
    return kid


@dataclass(frozen=True)
class Hostile:
    name: str
    build: Callable[[Scene], Headers]
    # Part of the refusal message: each credential must be refused for its own defect.
    reason: str
    # How long the refusal may take to arrive: revocations travel through the store.
    settle: float = 0.0


def _attacker_signed(scene: Scene, **header: Any) -> str:
    attacker = attacker_key()
    kid = thumbprint(attacker.public_key())
    fields = {"alg": "ES256", "typ": "at+jwt", "kid": kid}
    fields.update(
        {name: value(attacker) if callable(value) else value for name, value in header.items()}
    )
    return es256_token(fields, scene.payload(), attacker)


def _revoked_jti(scene: Scene) -> Headers:
    headers = _bearer(scene.token)
    _accepted(scene.gateway, headers)
    claims = unverified_payload(scene.token)
    scene.revoke(lambda store: store.revoke_token(claims["jti"], claims["exp"], time.time()))
    return headers


def _revoked_client(scene: Scene) -> Headers:
    headers = _bearer(scene.token)
    _accepted(scene.gateway, headers)
    scene.revoke(lambda store: store.revoke_client(scene.credential.client_id, time.time()))
    return headers


def _revoked_principal(scene: Scene) -> Headers:
    headers = _bearer(scene.token)
    _accepted(scene.gateway, headers)
    scene.revoke(lambda store: store.revoke_principal(scene.credential.principal, time.time()))
    return headers


def _grant_expired(scene: Scene) -> Headers:
    credential = grant(scene.gateway.state_file, "fleeting", ttl=1)
    headers = _bearer(scene.gateway.token(credential))
    _accepted(scene.gateway, headers)
    return headers


def _basic(scene: Scene) -> Headers:
    pair = f"{scene.credential.client_id}:{scene.credential.client_secret}".encode()
    return [("Authorization", "Basic " + base64.b64encode(pair).decode())]


HOSTILE = [
    Hostile(
        "alg-none",
        lambda s: _bearer(unsigned_token(s.header(alg="none"), s.payload())),
        reason="not a signed JWT",
    ),
    Hostile(
        "hs256-with-public-key",
        lambda s: _bearer(
            hs256_token(s.header(alg="HS256"), s.payload(), public_pem(s.key.public))
        ),
        reason="must be signed with ES256",
    ),
    Hostile(
        "unknown-kid",
        lambda s: _bearer(_attacker_signed(s)),
        reason="not signed by a key of this gateway",
    ),
    Hostile(
        "gateway-kid-other-key",
        lambda s: _bearer(es256_token(s.header(), s.payload(), attacker_key())),
        reason="signature or claims are invalid",
    ),
    Hostile(
        "expired",
        lambda s: _bearer(s.signed(payload=s.payload(iat=s.now - 1000, exp=s.now - 120))),
        reason="has expired",
    ),
    Hostile(
        "ten-year-lifetime",
        lambda s: _bearer(s.signed(payload=s.payload(exp=s.now + 10 * 365 * 86_400))),
        reason="lifetime is longer than this gateway issues",
    ),
    Hostile(
        "lifetime-past-token-ttl-and-leeway",
        lambda s: _bearer(
            s.signed(payload=s.payload(exp=s.now + int(s.gateway.settings.token_ttl) + 31))
        ),
        reason="lifetime is longer than this gateway issues",
    ),
    Hostile(
        "no-iat",
        lambda s: _bearer(s.signed(payload={k: v for k, v in s.payload().items() if k != "iat"})),
        reason="lacks the 'iat' claim",
    ),
    Hostile(
        "not-yet-valid",
        lambda s: _bearer(s.signed(payload=s.payload(nbf=s.now + 300))),
        reason="not valid yet",
    ),
    Hostile(
        "issued-in-future",
        lambda s: _bearer(s.signed(payload=s.payload(iat=s.now + 300, exp=s.now + 900))),
        reason="not valid yet",
    ),
    Hostile(
        "wrong-aud",
        lambda s: _bearer(s.signed(payload=s.payload(aud="another-api"))),
        reason="another audience",
    ),
    Hostile(
        "wrong-iss",
        lambda s: _bearer(s.signed(payload=s.payload(iss="http://attacker.test"))),
        reason="issued by someone else",
    ),
    Hostile(
        "wrong-typ",
        lambda s: _bearer(s.signed(header=s.header(typ="JWT"))),
        reason="typ must be at+jwt",
    ),
    Hostile(
        "no-typ",
        lambda s: _bearer(s.signed(header={"alg": "ES256", "kid": s.key.kid})),
        reason="typ must be at+jwt",
    ),
    Hostile(
        "tampered-tier",
        lambda s: _bearer(
            with_payload(s.token, {**unverified_payload(s.token), "tier": "studios"})
        ),
        reason="signature or claims are invalid",
    ),
    Hostile(
        "truncated",
        # 22 characters off: what is left of the signature is still well-formed base64url.
        lambda s: _bearer(s.token[:-22]),
        reason="signature or claims are invalid",
    ),
    Hostile(
        "extra-segments",
        lambda s: _bearer(f"{s.token}.{segments(s.token)[2]}"),
        reason="not a signed JWT",
    ),
    Hostile(
        "embedded-jwk",
        lambda s: _bearer(
            _attacker_signed(
                s, kid=s.key.kid, jwk=lambda attacker: public_jwk(attacker.public_key())
            )
        ),
        reason="signature or claims are invalid",
    ),
    Hostile(
        "jku-to-attacker",
        # Pointed at the mock, whose request log would show any fetch.
        lambda s: _bearer(_attacker_signed(s, jku=f"{s.mock_model.url}/.well-known/jwks.json")),
        reason="not signed by a key of this gateway",
    ),
    Hostile(
        "x5u-to-attacker",
        lambda s: _bearer(_attacker_signed(s, kid=s.key.kid, x5u=f"{s.mock_model.url}/cert.pem")),
        reason="signature or claims are invalid",
    ),
    Hostile(
        "oversized-header",
        lambda s: _bearer(s.signed(payload=s.payload(pad="x" * (9 * 1024)))),
        reason="header is too large",
    ),
    Hostile("revoked-jti", _revoked_jti, settle=1.0, reason="the token was revoked"),
    Hostile("revoked-client", _revoked_client, settle=1.0, reason="the grant was revoked"),
    Hostile("revoked-principal", _revoked_principal, settle=1.0, reason="the grant was revoked"),
    Hostile("grant-expired", _grant_expired, settle=2.0, reason="the grant has expired"),
    Hostile(
        "unknown-client",
        lambda s: _bearer(s.signed(payload=s.payload(client_id="pgc_000000000000000000000000"))),
        reason="client is unknown",
    ),
    Hostile(
        "subject-not-holding-client",
        lambda s: _bearer(s.signed(payload=s.payload(sub="someone-else"))),
        reason="does not hold its client",
    ),
    Hostile(
        "two-authorization-headers",
        lambda s: _bearer(s.token) + _bearer(s.token),
        reason="Send one Authorization header",
    ),
    Hostile("basic-scheme", _basic, reason="Only Bearer access tokens"),
    Hostile(
        "token-without-scheme",
        lambda s: [("Authorization", s.token)],
        reason="Only Bearer access tokens",
    ),
    Hostile(
        "empty-bearer", lambda s: [("Authorization", "Bearer")], reason="credential is malformed"
    ),
]


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda hostile: hostile.name)
def test_hostile_credential_is_refused_before_the_model_api(
    hostile: Hostile, gateway: Gateway, mock_model: AppServer
) -> None:
    """Each hostile credential gets 401 invalid_token with the Bearer challenge on create and
    list, and nothing at all reaches the model API."""
    scene = Scene.of(gateway, mock_model)
    headers = hostile.build(scene)
    if hostile.settle:
        _assert_invalid_token(_refused_within(gateway, headers, hostile.settle))
    _clear_upstream(mock_model)
    with httpx.Client(base_url=gateway.url) as client:
        created = client.post("/v1/videos", json=VIDEO, headers=headers)
        listed = client.get("/v1/videos", headers=headers)
    for response in (created, listed):
        _assert_invalid_token(response)
        assert hostile.reason in response.json()["error"]["message"]
    assert _upstream_requests(mock_model) == []


def test_there_are_enough_hostile_cases() -> None:
    """The hostile matrix keeps at least the 18 attacks it was written to cover."""
    assert len({hostile.name for hostile in HOSTILE}) == len(HOSTILE) >= 18


def test_missing_token_is_challenged(gateway: Gateway, mock_model: AppServer) -> None:
    """No Authorization header gets 401 missing_token with a bare `Bearer` challenge."""
    _clear_upstream(mock_model)
    with httpx.Client(base_url=gateway.url) as client:
        responses = [client.post("/v1/videos", json=VIDEO), client.get("/v1/videos")]
    for response in responses:
        assert response.status_code == 401
        assert response.headers.get_list("www-authenticate") == ["Bearer"]
        error = response.json()["error"]
        assert error["code"] == "missing_token"
        assert error["request_id"] == response.headers["x-request-id"]
    assert _upstream_requests(mock_model) == []


@pytest.mark.parametrize("source", ["issued", "hand-built"])
def test_valid_token_passes(source: str, gateway: Gateway, mock_model: AppServer) -> None:
    """A token from the token endpoint, or hand-built like the hostile ones but with nothing
    wrong, creates a video that reaches the model API for its principal."""
    scene = Scene.of(gateway, mock_model)
    token = scene.token if source == "issued" else scene.signed()
    _clear_upstream(mock_model)
    with httpx.Client(base_url=gateway.url, headers=_bearer(token)) as client:
        created = client.post("/v1/videos", json=VIDEO)
        listed = client.get("/v1/videos")
    assert created.status_code == 200, created.text
    assert listed.status_code == 200, listed.text
    assert [video["id"] for video in listed.json()["data"]] == [created.json()["id"]]
    seen = _upstream_requests(mock_model)
    assert ("POST", "/v1/videos") in [(request["method"], request["path"]) for request in seen]
    for request in seen:
        forwarded = {name.lower(): value for name, value in request["headers"]}
        assert forwarded["x-phasegate-principal"] == "mallory"
        assert forwarded["x-phasegate-tier"] == "invited_artists"
        assert token not in str(forwarded)


def test_scheme_case_does_not_matter(gateway: Gateway) -> None:
    """The Bearer scheme is accepted in any letter case over HTTP too."""
    token = gateway.token(gateway.grant("alice"))
    for scheme in ("bearer", "BEARER", "bEaReR"):
        _accepted(gateway, [("Authorization", f"{scheme} {token}")])


@pytest.fixture
def verify_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts signature verifications done by the authentication backend."""
    calls: list[str] = []

    def counting_verify(token: str, keys: Any, rules: TokenRules) -> AccessClaims:
        calls.append(token)
        return verify(token, keys, rules)

    monkeypatch.setattr(authentication, "verify", counting_verify)
    return calls


def test_claims_cache_verifies_a_token_once(
    verify_calls: list[str], mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    """The same token used five times is verified once; another token is verified on its own."""
    gateway = start_gateway(mock_model.url)
    first = gateway.token(gateway.grant("alice"))
    with httpx.Client(base_url=gateway.url, headers=_bearer(first)) as client:
        assert client.post("/v1/videos", json=VIDEO).status_code == 200
        for _ in range(4):
            assert client.get("/v1/videos").status_code == 200
    assert verify_calls == [first]
    second = gateway.token(gateway.grant("bob"))
    _accepted(gateway, _bearer(second))
    _accepted(gateway, _bearer(second))
    assert verify_calls == [first, second]


@pytest.fixture
def claims_caches(monkeypatch: pytest.MonkeyPatch) -> list[ClaimsCache]:
    """The claims caches the authentication backends of gateways started after this use."""
    caches: list[ClaimsCache] = []

    class Recorded(ClaimsCache):
        def __init__(self, capacity: int = 10_000) -> None:
            super().__init__(capacity)
            caches.append(self)

    monkeypatch.setattr(authentication, "ClaimsCache", Recorded)
    return caches


def _reachable(root: object) -> Iterator[object]:
    """Every object reachable from `root` through references the garbage collector sees."""
    seen: set[int] = set()
    pending = [root]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        # Classes and modules lead everywhere; the cache's own state is all that matters.
        pending.extend(child for child in gc.get_referents(current) if not isinstance(child, type))


def test_the_claims_cache_is_keyed_by_digest_never_by_the_token(
    claims_caches: list[ClaimsCache], mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    """After real authenticated requests, the gateway's claims cache holds each token's
    claims under its SHA-256 digest, and nothing in it is the token, as text or bytes."""
    gateway = start_gateway(mock_model.url)
    tokens = [gateway.token(gateway.grant(name)) for name in ("alice", "bob")]
    for token in tokens:
        _accepted(gateway, _bearer(token))
        _accepted(gateway, _bearer(token))
    [cache] = claims_caches
    assert len(cache) == 2
    for token, principal in zip(tokens, ("alice", "bob"), strict=True):
        cached = cache.get(token_digest(token), time.time())
        assert cached is not None, "the token's claims are not under its digest"
        assert cached.subject == principal
    held = [
        item
        for item in _reachable(cache)
        if isinstance(item, str | bytes | bytearray) and len(item) >= 16
    ]
    texts = [item if isinstance(item, str) else bytes(item).decode("latin-1") for item in held]
    for token in tokens:
        assert token_digest(token) in held  # the walk does reach the keys
        # Not compared with `in` one by one: a failure would print the token.
        assert not any(token in text for text in texts), "the cache holds a token's text"
        signature = token.split(".")[2]
        assert not any(signature in text for text in texts), "the cache holds a signature"


def test_a_token_refused_for_its_lifetime_is_never_cached(
    verify_calls: list[str], mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    """A token signed by the gateway's key for ten years is refused on every use, each time
    verified again rather than answered from the claims cache, and reaches nothing."""
    gateway = start_gateway(mock_model.url)
    scene = Scene.of(gateway, mock_model)
    long_lived = scene.signed(payload=scene.payload(exp=scene.now + 10 * 365 * 86_400))
    _clear_upstream(mock_model)
    for _ in range(3):
        refused = httpx.get(f"{gateway.url}/v1/videos", headers=_bearer(long_lived))
        _assert_invalid_token(refused)
    assert verify_calls.count(long_lived) == 3
    assert _upstream_requests(mock_model) == []
    _accepted(gateway, _bearer(scene.signed()))


def test_revocation_reaches_a_cached_token(
    verify_calls: list[str], mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    """Revoking a token whose claims are cached refuses it within a second, without re-verifying,
    and nothing more reaches the model API."""
    gateway = start_gateway(mock_model.url)
    token = gateway.token(gateway.grant("alice"))
    headers = _bearer(token)
    for _ in range(3):
        _accepted(gateway, headers)
    assert len(verify_calls) == 1
    claims = unverified_payload(token)
    on_store(
        gateway.state_file,
        lambda store: store.revoke_token(claims["jti"], claims["exp"], time.time()),
    )
    refused = _refused_within(gateway, headers, 1.0)
    _assert_invalid_token(refused)
    assert "revoked" in refused.json()["error"]["message"]
    _clear_upstream(mock_model)
    _assert_invalid_token(httpx.post(f"{gateway.url}/v1/videos", json=VIDEO, headers=headers))
    assert _upstream_requests(mock_model) == []
    assert len(verify_calls) == 1


def test_retiring_the_key_refuses_a_cached_token(
    verify_calls: list[str], mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    """A cached token is refused once its signing key is retired, and new tokens from the
    replacement key pass."""
    gateway = start_gateway(mock_model.url)
    credential = gateway.grant("alice")
    headers = _bearer(gateway.token(credential))
    _accepted(gateway, headers)
    old = gateway_signing_key(gateway.state_file, time.time())
    on_store(gateway.state_file, lambda store: store.schedule_retirement(old.kid, time.time()))
    refused = _refused_within(gateway, headers, 1.0)
    _assert_invalid_token(refused)
    assert len(verify_calls) == 1
    fresh = gateway.token(credential)
    assert _kid(fresh) != old.kid
    _accepted(gateway, _bearer(fresh))


@pytest.fixture
def without_watcher(monkeypatch: pytest.MonkeyPatch) -> None:
    """Gateways started after this learn of store changes only by catching up on demand."""

    async def idle(_: SharedState) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(SharedState, "watch", idle)


def test_client_granted_elsewhere_is_caught_up_at_once(
    without_watcher: None, mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    """A token of a client granted by another process after the gateway last loaded its state
    is accepted on first use."""
    gateway = start_gateway(mock_model.url)
    token = gateway.token(gateway.grant("newcomer"))
    _accepted(gateway, _bearer(token))


def test_key_added_elsewhere_is_caught_up_at_once(
    without_watcher: None, mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    """A token signed by a key another process added after the gateway last loaded its state
    is accepted on first use."""
    gateway = start_gateway(mock_model.url)
    credential = gateway.grant("alice")
    stored = new_key(time.time())
    on_store(gateway.state_file, lambda store: store.add_key(stored))
    key = SigningKey.from_stored(stored)
    payload = access_payload(
        issuer=gateway.settings.issuer_url,
        audience=gateway.settings.audience,
        subject=credential.principal,
        client_id=credential.client_id,
        now=int(time.time()),
    )
    token = es256_token({"alg": "ES256", "typ": "at+jwt", "kid": key.kid}, payload, key.private)
    _accepted(gateway, _bearer(token))


@contextmanager
def _production_logging() -> Iterator[None]:
    """Production logging at debug level, on the streams of the moment, undone on exit.

    Entered inside the test body: capfd swaps its capture files between test phases.
    """
    root = logging.getLogger()
    level, before = root.level, list(root.handlers)
    configure_logging("debug")
    installed = [handler for handler in root.handlers if handler not in before]
    # Module-level loggers would otherwise keep the capture file past this test.
    structlog.configure(cache_logger_on_first_use=False)
    try:
        yield
    finally:
        structlog.reset_defaults()
        for handler in installed:
            root.removeHandler(handler)
        for handler in before:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)


def test_logs_never_carry_credentials(
    capfd: pytest.CaptureFixture[str], mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    """With access logs on at debug level, no token and no client secret is ever written out,
    whether the credential is valid or hostile."""
    with _production_logging():
        gateway = start_gateway(mock_model.url, access_log=True)
        scene = Scene.of(gateway, mock_model)
        tampered = with_payload(scene.token, {**unverified_payload(scene.token), "tier": "studios"})
        hostile = [
            _bearer(tampered),
            _bearer(unsigned_token(scene.header(alg="none"), scene.payload())),
            _bearer(scene.signed(payload=scene.payload(aud="another-api"))),
            _bearer(scene.token + "." + segments(scene.token)[2]),
            _bearer(scene.signed(payload=scene.payload(pad="x" * (9 * 1024)))),
            _bearer(scene.token) + _bearer(scene.token),
            _basic(scene),
            [("Authorization", scene.token)],
        ]
        sent = 0
        with httpx.Client(base_url=gateway.url) as client:
            for headers in [_bearer(scene.token), *hostile]:
                client.post("/v1/videos", json=VIDEO, headers=headers)
                client.get("/v1/videos", headers=headers)
                sent += 2
            # The token endpoint sees the client secret too.
            client.post(
                "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": scene.credential.client_id,
                    "client_secret": scene.credential.client_secret,
                },
            )
            client.post(
                "/oauth/introspect",
                data={"token": scene.token},
                auth=(scene.credential.client_id, scene.credential.client_secret),
            )
            sent += 2
        out, err = capfd.readouterr()
    written = out + err
    # The capture did see the gateway's logs: one access log line per request.
    assert written.count('"event":"request"') >= sent
    secrets = [
        ("client secret", scene.credential.client_secret),
        ("token", scene.token),
        ("signature", segments(scene.token)[2]),
    ]
    for number, headers in enumerate(hostile):
        for _, value in headers:
            secrets.append((f"hostile credential #{number}", value))
            last = value.rpartition(".")[2]
            if len(last) >= 20:
                secrets.append((f"hostile signature #{number}", last))
    for what, secret in secrets:
        assert secret not in written, f"a {what} was written to the logs"

"""The OAuth2 surface over real HTTP: token, revocation, introspection, JWKS, metadata."""

from __future__ import annotations

import asyncio
import time

import httpx
import jwt
import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from gateway.ports.store import SqliteStore
from tests.conftest import Gateway, GatewayFactory
from tests.support.identity import Credential
from tests.support.raw_http import exchange
from tests.support.servers import AppServer
from tests.support.tokens import gateway_signing_key, public_jwk

TOKEN_FORM = {"grant_type": "client_credentials"}
# Members of a private JWK for EC, RSA and symmetric keys: none may ever be published.
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def _token_response(gateway: Gateway, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(f"{gateway.url}/oauth/token", data=TOKEN_FORM, auth=(client_id, secret))


def test_client_credentials_by_basic_auth(gateway: Gateway) -> None:
    """HTTP Basic client authentication yields an RFC 9068 ES256 access token of 15 minutes."""
    credential = gateway.grant("alice", "studios")
    response = _token_response(gateway, credential.client_id, credential.client_secret)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == "videos"
    assert "refresh_token" not in body
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "ES256"
    assert header["typ"] == "at+jwt"
    jwks = httpx.get(f"{gateway.url}/.well-known/jwks.json").json()
    assert header["kid"] in {key["kid"] for key in jwks["keys"]}
    key = jwt.PyJWK({k: v for k, v in jwks["keys"][0].items()}).key
    claims = jwt.decode(
        body["access_token"],
        key,
        algorithms=["ES256"],
        audience="phasegate",
        issuer="https://phasegate.test",
    )
    assert claims["sub"] == "alice"
    assert claims["client_id"] == credential.client_id
    assert claims["tier"] == "studios"
    assert claims["scope"] == "videos"
    assert claims["exp"] - claims["iat"] == 900
    assert claims["jti"]


def test_client_credentials_by_form(gateway: Gateway) -> None:
    """client_secret_post authentication works as well as Basic."""
    credential = gateway.grant("alice")
    response = httpx.post(
        f"{gateway.url}/oauth/token",
        data={
            **TOKEN_FORM,
            "client_id": credential.client_id,
            "client_secret": credential.client_secret,
        },
    )
    assert response.status_code == 200
    assert response.json()["access_token"].count(".") == 2


def test_tokens_are_unique(gateway: Gateway) -> None:
    """Two tokens for the same client differ in jti."""
    credential = gateway.grant("alice")
    first, second = (gateway.token(credential) for _ in range(2))
    assert (
        jwt.decode(first, options={"verify_signature": False})["jti"]
        != jwt.decode(second, options={"verify_signature": False})["jti"]
    )


def test_token_lifetime_follows_the_setting(
    mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    """--token-ttl sets the access token lifetime."""
    gateway = start_gateway(mock_model.url, token_ttl=60.0)
    credential = gateway.grant("alice")
    assert (
        _token_response(gateway, credential.client_id, credential.client_secret).json()[
            "expires_in"
        ]
        == 60
    )


def test_wrong_secret_and_unknown_client_are_invalid_client(gateway: Gateway) -> None:
    """A wrong secret and an unknown client are both refused with 401 invalid_client."""
    credential = gateway.grant("alice")
    for client_id, secret in (
        (credential.client_id, credential.client_secret + "x"),
        (credential.client_id, ""),
        ("pgc_unknown", credential.client_secret),
    ):
        response = _token_response(gateway, client_id, secret)
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"


def test_revoked_grant_gets_no_token(gateway: Gateway) -> None:
    """After the principal is revoked its credential cannot obtain tokens."""
    credential = gateway.grant("alice")

    async def revoke() -> None:
        store = SqliteStore(gateway.state_file)
        await store.revoke_principal("alice", time.time())
        await store.close()

    asyncio.run(revoke())
    response = _token_response(gateway, credential.client_id, credential.client_secret)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_bad_token_requests(gateway: Gateway) -> None:
    """Unsupported grant types, repeated parameters and non-form bodies get RFC 6749 errors."""
    credential = gateway.grant("alice")
    auth = (credential.client_id, credential.client_secret)
    url = f"{gateway.url}/oauth/token"
    unsupported = httpx.post(url, data={"grant_type": "password"}, auth=auth)
    assert unsupported.status_code == 400
    assert unsupported.json()["error"] == "unsupported_grant_type"
    repeated = httpx.post(
        url,
        content=b"grant_type=client_credentials&grant_type=client_credentials",
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=auth,
    )
    assert repeated.status_code == 400
    assert repeated.json()["error"] == "invalid_request"
    as_json = httpx.post(url, json=TOKEN_FORM, auth=auth)
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"
    huge = httpx.post(
        url,
        content=b"grant_type=client_credentials&pad=" + b"x" * 40000,
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=auth,
    )
    assert huge.status_code == 413


OVERSIZED_FORM = b"grant_type=client_credentials&pad=" + b"x" * (1024 * 1024)
TOO_LARGE = {"error": "invalid_request", "error_description": "The request body is too large."}


def test_an_oversized_form_gets_413_over_httpx(gateway: Gateway) -> None:
    """A 1 MiB form is answered 413 in RFC 6749 form, and the client goes on working."""
    credential = gateway.grant("alice")
    auth = (credential.client_id, credential.client_secret)
    with httpx.Client(base_url=gateway.url, auth=auth) as client:
        huge = client.post(
            "/oauth/token",
            content=OVERSIZED_FORM,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert (huge.status_code, huge.json()) == (413, TOO_LARGE)
        assert huge.headers["cache-control"] == "no-store"
        assert client.post("/oauth/token", data=TOKEN_FORM).status_code == 200


def _form_head(version: bytes = b"1.1", *fields: bytes) -> bytes:
    lines = [
        b"POST /oauth/token HTTP/" + version,
        b"Host: gateway",
        b"Content-Type: application/x-www-form-urlencoded",
        *fields,
    ]
    return b"".join(line + b"\r\n" for line in lines) + b"\r\n"


def _chunked(body: bytes, size: int = 64 * 1024) -> bytes:
    chunks = [body[at : at + size] for at in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"


LENGTH = b"Content-Length: %d" % len(OVERSIZED_FORM)
RAW_OVERSIZED_FORMS = {
    "keep-alive": (_form_head(b"1.1", LENGTH), OVERSIZED_FORM),
    "connection-close": (_form_head(b"1.1", LENGTH, b"Connection: close"), OVERSIZED_FORM),
    "http-1.0": (_form_head(b"1.0", LENGTH), OVERSIZED_FORM),
    "chunked": (_form_head(b"1.1", b"Transfer-Encoding: chunked"), _chunked(OVERSIZED_FORM)),
    "expect-100-continue": (_form_head(b"1.1", LENGTH, b"Expect: 100-continue"),),
}


@pytest.mark.parametrize("framing", RAW_OVERSIZED_FORMS)
def test_an_oversized_form_gets_413_and_no_reset_on_a_raw_socket(
    framing: str, gateway: Gateway
) -> None:
    """Sent whole however the connection is meant to go on (or not), or announced with
    `Expect: 100-continue`: the 413 in RFC 6749 form arrives, and the gateway ends the
    connection with an end of stream, never a reset that would destroy the answer."""
    outcome = exchange(gateway.server.port, RAW_OVERSIZED_FORMS[framing], deadline=20)
    assert outcome.status == 413
    assert outcome.json() == TOO_LARGE
    assert outcome.ending == "closed"


def test_introspection(gateway: Gateway) -> None:
    """A client introspects its own token; others' tokens and garbage read inactive."""
    alice, bob = gateway.grant("alice", "studios"), gateway.grant("bob")
    alice_token, bob_token = gateway.token(alice), gateway.token(bob)
    url = f"{gateway.url}/oauth/introspect"
    own = httpx.post(url, data={"token": alice_token}, auth=(alice.client_id, alice.client_secret))
    assert own.status_code == 200
    body = own.json()
    assert body["active"] is True
    assert body["sub"] == "alice"
    assert body["tier"] == "studios"
    assert body["client_id"] == alice.client_id
    other = httpx.post(url, data={"token": bob_token}, auth=(alice.client_id, alice.client_secret))
    assert other.json() == {"active": False}
    garbage = httpx.post(url, data={"token": "nope"}, auth=(alice.client_id, alice.client_secret))
    assert garbage.json() == {"active": False}
    anonymous = httpx.post(url, data={"token": alice_token})
    assert anonymous.status_code == 401


@pytest.mark.parametrize("endpoint", ["revoke", "introspect"])
@pytest.mark.parametrize("hint", ["refresh_token", "id_token"])
def test_a_token_type_the_gateway_does_not_issue_is_a_400(
    gateway: Gateway, endpoint: str, hint: str
) -> None:
    """A `token_type_hint` of a type the gateway does not issue is `unsupported_token_type`,
    a 400 like every OAuth error but a failed client authentication (RFC 7009 2.2.1)."""
    alice = gateway.grant("alice")
    response = httpx.post(
        f"{gateway.url}/oauth/{endpoint}",
        data={"token": gateway.token(alice), "token_type_hint": hint},
        auth=(alice.client_id, alice.client_secret),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_token_type"


def test_revocation_endpoint_refuses_the_token_everywhere(gateway: Gateway) -> None:
    """A token revoked through RFC 7009 stops working on the proxy within a second."""
    alice = gateway.grant("alice")
    token = gateway.token(alice)
    auth_header = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{gateway.url}/v1/videos", headers=auth_header).status_code == 200
    revoked = httpx.post(
        f"{gateway.url}/oauth/revoke",
        data={"token": token, "token_type_hint": "access_token"},
        auth=(alice.client_id, alice.client_secret),
    )
    assert revoked.status_code == 200
    deadline = time.monotonic() + 1.0
    status = 200
    while status == 200 and time.monotonic() < deadline:
        status = httpx.get(f"{gateway.url}/v1/videos", headers=auth_header).status_code
        time.sleep(0.02)
    assert status == 401
    introspected = httpx.post(
        f"{gateway.url}/oauth/introspect",
        data={"token": token},
        auth=(alice.client_id, alice.client_secret),
    )
    assert introspected.json() == {"active": False}
    # A fresh token of the same client still works: only that one token was revoked.
    fresh = {"Authorization": f"Bearer {gateway.token(alice)}"}
    assert httpx.get(f"{gateway.url}/v1/videos", headers=fresh).status_code == 200


def test_revoking_someone_elses_token_is_refused(gateway: Gateway) -> None:
    """A client cannot revoke a token issued to another client."""
    alice, bob = gateway.grant("alice"), gateway.grant("bob")
    bob_token = gateway.token(bob)
    response = httpx.post(
        f"{gateway.url}/oauth/revoke",
        data={"token": bob_token},
        auth=(alice.client_id, alice.client_secret),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    _served_past_a_revocation_of_its_own(gateway, alice)
    auth_header = {"Authorization": f"Bearer {bob_token}"}
    still = httpx.get(f"{gateway.url}/v1/videos", headers=auth_header)
    assert still.status_code == 200, f"the refused revocation took effect: {still.text}"


def _served_past_a_revocation_of_its_own(gateway: Gateway, client: Credential) -> None:
    """Returns once the gateway serves every store change made before this call: a token
    revoked now is refused only once the gateway has read the store past it, and so past
    anything written earlier."""
    marker = gateway.token(client)
    revoked = httpx.post(
        f"{gateway.url}/oauth/revoke",
        data={"token": marker},
        auth=(client.client_id, client.client_secret),
    )
    assert revoked.status_code == 200
    headers = {"Authorization": f"Bearer {marker}"}
    deadline = time.monotonic() + 5.0
    while httpx.get(f"{gateway.url}/v1/videos", headers=headers).status_code != 401:
        assert time.monotonic() < deadline, "a revoked token was still accepted after 5s"
        time.sleep(0.02)


def test_metadata_is_valid_rfc_8414(mock_model: AppServer, start_gateway: GatewayFactory) -> None:
    """The authorization server metadata validates and points at the real endpoints."""
    gateway = start_gateway(mock_model.url, issuer="https://videos.example")
    document = httpx.get(f"{gateway.url}/.well-known/oauth-authorization-server").json()
    AuthorizationServerMetadata(document).validate()
    assert document["issuer"] == "https://videos.example"
    assert document["grant_types_supported"] == ["client_credentials"]
    assert document["token_endpoint"] == "https://videos.example/oauth/token"


def test_jwks_publishes_public_keys_only(gateway: Gateway) -> None:
    """The JWK set holds the gateway's signing key, named by its kid, marked for ES256
    signatures, with its public members only."""
    jwks = httpx.get(f"{gateway.url}/.well-known/jwks.json").json()
    signing = gateway_signing_key(gateway.state_file, time.time())
    assert jwks == {
        "keys": [{**public_jwk(signing.public), "kid": signing.kid, "use": "sig", "alg": "ES256"}]
    }
    assert not PRIVATE_JWK_MEMBERS & set(jwks["keys"][0])


def test_plain_http_issuer_off_loopback_is_refused_cleanly(
    mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    """OAuth over plain HTTP to a public address is an RFC 6749 error, never a server error."""
    gateway = start_gateway(mock_model.url, issuer="http://videos.example")
    credential = gateway.grant("alice")
    response = _token_response(gateway, credential.client_id, credential.client_secret)
    assert response.status_code == 400
    assert response.json()["error"] == "insecure_transport"


def test_fresh_grant_works_at_once(mock_model: AppServer, start_gateway: GatewayFactory) -> None:
    """A credential granted by the admin a moment ago is accepted without waiting for a poll."""
    gateway = start_gateway(mock_model.url)
    for index in range(5):
        credential = gateway.grant(f"user-{index}")
        token = gateway.token(credential)
        response = httpx.get(
            f"{gateway.url}/v1/videos", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.text

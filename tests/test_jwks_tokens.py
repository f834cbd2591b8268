"""Tokens signed by the application backend's own key (JWKS file or URL), with iss/aud checks, beside HS256."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

from actors.errors import TokenInvalid
from gateway.tokens import TokenVerifier
from hubbub_client import ClientError

from .cli_support import run_hubbub
from .conftest import SECRET, Connect, StartServer, token

ISSUER = "https://backend.example"
AUDIENCE = "hubbub-chat"


def _claims(user_id: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": user_id, "iat": now, "exp": now + 3600, "iss": ISSUER, "aud": AUDIENCE, **extra}


def _jwks(*keys: tuple[str, str, Any]) -> dict[str, Any]:
    """A JWKS document of (kid, alg, public key)."""
    entries = []
    for kid, alg, public in keys:
        to_jwk = OKPAlgorithm.to_jwk if alg == "EdDSA" else RSAAlgorithm.to_jwk
        entry = json.loads(to_jwk(public))
        entries.append({**entry, "kid": kid, "alg": alg, "use": "sig"})
    return {"keys": entries}


@pytest.fixture
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks_url(rsa_key: rsa.RSAPrivateKey) -> Iterator[str]:
    """A real HTTP server on loopback serving the RSA key's JWKS."""
    body = json.dumps(_jwks(("rsa-1", "RS256", rsa_key.public_key()))).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_address[1]}/.well-known/jwks.json"
    finally:
        http.shutdown()
        http.server_close()
        thread.join(timeout=5)


async def _refusal(connect: Connect, server: Any, user_id: str, signed: str) -> str:
    client = await connect(server)
    with pytest.raises(ClientError) as refused:
        await client.login(user_id, signed, platform="Web")
    assert refused.value.code == 2002
    return refused.value.message


async def test_a_jwks_file_signed_eddsa_token_is_accepted_and_a_wrong_aud_or_iss_refused(
    start_server: StartServer, connect: Connect, tmp_path: Path, ed_key: ed25519.Ed25519PrivateKey
) -> None:
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(_jwks(("ed-1", "EdDSA", ed_key.public_key()))))
    server = await start_server("multi", auth_jwks=str(jwks_file), auth_issuer=ISSUER, auth_audience=AUDIENCE)
    with trio.fail_after(30):
        signed = jwt.encode(_claims("alice"), ed_key, algorithm="EdDSA", headers={"kid": "ed-1"})
        alice = await connect(server)
        reply = await alice.login("alice", signed, platform="iOS")
        assert reply["loginID"]

        wrong_aud = jwt.encode(_claims("bob", aud="another-app"), ed_key, algorithm="EdDSA", headers={"kid": "ed-1"})
        assert await _refusal(connect, server, "bob", wrong_aud) == "invalid token: it was issued for another audience (`aud`)"
        wrong_iss = jwt.encode(_claims("bob", iss="https://elsewhere.example"), ed_key, algorithm="EdDSA", headers={"kid": "ed-1"})
        assert await _refusal(connect, server, "bob", wrong_iss) == "invalid token: it was issued by another issuer (`iss`)"
        stranger = ed25519.Ed25519PrivateKey.generate()
        forged = jwt.encode(_claims("bob"), stranger, algorithm="EdDSA", headers={"kid": "ed-1"})
        assert await _refusal(connect, server, "bob", forged) == "invalid token: its signature does not match this server's key"
        unknown_kid = jwt.encode(_claims("bob"), ed_key, algorithm="EdDSA", headers={"kid": "ed-2"})
        assert await _refusal(connect, server, "bob", unknown_kid) == "invalid token: its signing key is not among the trusted keys"
        # the shared HS256 secret still works beside the backend's keys (iss/aud checked there too)
        assert await _refusal(connect, server, "carol", token("carol")) == "invalid token: it has no `iss` claim"
        hs = jwt.encode(_claims("carol"), "test-secret-that-is-long-enough-for-hs256!", algorithm="HS256")
        carol = await connect(server)
        assert (await carol.login("carol", hs, platform="Mac"))["loginID"]
        assert (await alice.request("queryDevices"))["ok"]


async def test_a_jwks_url_signed_rs256_token_is_accepted(
    start_server: StartServer, connect: Connect, jwks_url: str, rsa_key: rsa.RSAPrivateKey
) -> None:
    server = await start_server("multi", auth_jwks=jwks_url, auth_audience=AUDIENCE)
    with trio.fail_after(30):
        signed = jwt.encode(_claims("dave"), rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})
        dave = await connect(server)
        assert (await dave.login("dave", signed, platform="Android"))["loginID"]
        # an unsigned token ("alg": "none") is never accepted
        unsigned = jwt.encode(_claims("dave"), "", algorithm="none")
        assert await _refusal(connect, server, "dave", unsigned) == "invalid token: it is signed with an algorithm this server does not accept"
        assert (await dave.request("queryDevices"))["ok"]


async def test_an_unreadable_jwks_file_is_refused_at_start(tmp_path: Path) -> None:
    with trio.fail_after(30):
        missing = await run_hubbub("config", "check", "--auth-jwks", str(tmp_path / "nope.json"))
        assert missing.returncode == 2
        assert missing.stderr.decode().splitlines() == [f"hubbub: auth_jwks {tmp_path / 'nope.json'}: No such file or directory"]


async def test_with_the_secret_alone_only_hs256_is_accepted_and_each_refusal_says_why(rsa_key: rsa.RSAPrivateKey) -> None:
    verifier = TokenVerifier(SECRET)
    now = int(time.time())
    assert (await verifier.verify(token("alice"), "alice")).user_id == "alice"
    not_accepted = {
        "RS256": jwt.encode({"sub": "alice", "exp": now + 3600}, rsa_key, algorithm="RS256"),
        "none": jwt.encode({"sub": "alice", "exp": now + 3600}, "", algorithm="none"),
        "no alg": _without_alg(token("alice")),
    }
    for name, refused in not_accepted.items():
        with pytest.raises(TokenInvalid) as invalid:
            await verifier.verify(refused, "alice")
        assert invalid.value.message == "invalid token: it is signed with an algorithm this server does not accept", name
    for garbage in ("garbage", "", "a.b.c"):
        with pytest.raises(TokenInvalid) as invalid:
            await verifier.verify(garbage, "alice")
        assert invalid.value.message == "invalid token: it is not a well-formed JWT", garbage


def _without_alg(signed: str) -> str:
    """`signed` with a header that names no algorithm (its signature left as it was)."""
    _, payload, signature = signed.split(".")
    header = jwt.utils.base64url_encode(json.dumps({"typ": "JWT"}).encode()).decode()
    return f"{header}.{payload}.{signature}"

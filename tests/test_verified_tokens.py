"""Verified tokens are remembered by their text: taken again without a signature check, never past `exp`, bounded."""

from __future__ import annotations

import time

import jwt
import pytest
import trio

from actors.errors import TokenExpired, TokenInvalid
from gateway.auth import TokenClaims
from gateway.tokens import TokenVerifier, VerifiedTokens

from .conftest import SECRET, token


async def test_a_verified_token_is_taken_again_without_checking_its_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = TokenVerifier(SECRET)
    alice = token("alice")
    first = await verifier.verify(alice, "alice")
    decodes = 0
    real_decode = jwt.decode

    def counting_decode(*args: object, **kwargs: object) -> object:
        nonlocal decodes
        decodes += 1
        return real_decode(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counting_decode)
    assert await verifier.verify(alice, "alice") == first
    assert decodes == 0
    await verifier.verify(token("bob"), "bob")  # another token is checked
    assert decodes == 1
    assert len(verifier.verified) == 2


async def test_a_remembered_token_is_still_refused_for_another_user() -> None:
    verifier = TokenVerifier(SECRET)
    alice = token("alice")
    await verifier.verify(alice, "alice")
    with pytest.raises(TokenInvalid) as invalid:
        await verifier.verify(alice, "mallory")
    assert invalid.value.message == "the token was issued for another user"


async def test_a_refused_token_is_not_remembered() -> None:
    verifier = TokenVerifier(SECRET)
    forged = token("alice", secret="another-secret-that-is-long-enough-for-hs256")
    for _ in range(2):
        with pytest.raises(TokenInvalid):
            await verifier.verify(forged, "alice")
    assert len(verifier.verified) == 0


async def test_a_remembered_token_expires_when_its_exp_passes() -> None:
    verifier = TokenVerifier(SECRET)
    expires = int(time.time()) + 3
    short = jwt.encode({"sub": "alice", "exp": expires}, SECRET, algorithm="HS256")
    assert (await verifier.verify(short, "alice")).expires_at == expires
    await trio.to_thread.run_sync(time.sleep, expires - time.time() + 0.05)  # past `exp` on PyJWT's (wall) clock
    with pytest.raises(TokenExpired):
        await verifier.verify(short, "alice")
    assert len(verifier.verified) == 0


def test_an_entry_lasts_until_exp_or_keep_s_whichever_is_sooner() -> None:
    tokens = VerifiedTokens(max_entries=8, keep_s=300)
    tokens.put("soon", TokenClaims("alice", expires_at=1_100.0), now=1_000.0)
    tokens.put("later", TokenClaims("bob", expires_at=10_000.0), now=1_000.0)
    assert tokens.get("soon", 1_099.9) == TokenClaims("alice", 1_100.0)
    assert tokens.get("soon", 1_100.0) is None  # exp reached: refused from here, as PyJWT refuses it
    assert tokens.get("later", 1_299.9) == TokenClaims("bob", 10_000.0)
    assert tokens.get("later", 1_300.0) is None  # checked again after keep_s (a JWKS key may be gone)
    assert len(tokens) == 0


def test_the_least_recently_used_token_is_forgotten_first() -> None:
    tokens = VerifiedTokens(max_entries=2, keep_s=300)
    claims = TokenClaims("alice", expires_at=5_000.0)
    tokens.put("a", claims, now=0.0)
    tokens.put("b", claims, now=0.0)
    assert tokens.get("a", 1.0) == claims  # a is now the more recent
    tokens.put("c", claims, now=2.0)
    assert len(tokens) == 2
    assert tokens.get("b", 3.0) is None
    assert tokens.get("a", 3.0) == claims
    assert tokens.get("c", 3.0) == claims

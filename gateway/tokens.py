"""Verifying login tokens: the shared HS256 secret, and the application backend's own keys (JWKS).

A deployment whose backend signs tokens with its own private key (RS256,
ES256 or EdDSA) gives hubbub the public keys as a JWKS: a file, read at
start, or an https:// URL, fetched by PyJWT's PyJWKClient (in a worker
thread, with a timeout; keys cached and refetched for an unknown `kid`).
`iss` and `aud` are checked when configured. HS256 with the server secret
keeps working beside it.

A token that verified is remembered by its text (`VerifiedTokens`): the
devices of one account, a reconnect, a renewal with the same token present
the same bytes, and checking a signature again costs more than the rest of
admission. A remembered token is taken until its `exp` (checked against
the same clock PyJWT checks it with) and never longer than the JWKS keys'
lifespan, so a key withdrawn from the set stops being honoured as soon as
PyJWT would refetch it; the `sub` is compared on every use. Only tokens that
verified are kept, at most `_REMEMBERED_MAX` (the least recently used go first).
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import jwt
import trio

from actors.errors import TokenExpired, TokenInvalid

from .auth import ALGORITHM, TokenClaims, token_problem

log = logging.getLogger("hubbub.tokens")

# Asymmetric algorithms a JWKS key may sign with (never "none", never HS* with a public key).
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")
_FETCH_TIMEOUT_S = 5.0
_KEYS_LIFESPAN_S = 300
_REMEMBERED_MAX = 4096  # verified tokens kept (a token is a few hundred bytes)


class VerifiedTokens:
    """Tokens that verified, by their text: their claims until `exp`, and for at most `keep_s` after the check."""

    __slots__ = ("_entries", "_max", "_keep_s")

    def __init__(self, max_entries: int = _REMEMBERED_MAX, keep_s: float = _KEYS_LIFESPAN_S) -> None:
        self._entries: OrderedDict[str, tuple[TokenClaims, float]] = OrderedDict()  # token -> (claims, kept until)
        self._max = max_entries
        self._keep_s = keep_s

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, now: float) -> TokenClaims | None:
        """The claims `token` verified with, unless it was never seen, is forgotten, or its time here is over."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        claims, until = entry
        if now >= until:
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return claims

    def put(self, token: str, claims: TokenClaims, now: float) -> None:
        """Remember `token` (just verified at `now`): until its expiry or `keep_s`, whichever is sooner."""
        self._entries[token] = (claims, min(claims.expires_at, now + self._keep_s))
        self._entries.move_to_end(token)
        if len(self._entries) > self._max:
            self._entries.popitem(last=False)


class TokenVerifier:
    """Checks a login token's signature, `sub`, `exp` and, if configured, `iss` and `aud`."""

    def __init__(self, secret: str, *, jwks: str | None = None, issuer: str | None = None, audience: str | None = None) -> None:
        """Raises ValueError (in words for the operator) if a JWKS file cannot be read."""
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._client: jwt.PyJWKClient | None = None
        self._keys: jwt.PyJWKSet | None = None
        self.verified = VerifiedTokens()
        if jwks is None:
            return
        if jwks.startswith(("https://", "http://")):
            self._client = jwt.PyJWKClient(jwks, cache_keys=True, lifespan=_KEYS_LIFESPAN_S, timeout=int(_FETCH_TIMEOUT_S))
        else:
            self._keys = _read_jwks(Path(jwks))

    async def verify(self, token: str, user_id: str) -> TokenClaims:
        """The claims of `token` for `user_id`. Raises TokenExpired (2003) or TokenInvalid (2002).

        With a JWKS URL this may fetch the keys (a worker thread, at most a few seconds).
        """
        now = time.time()  # PyJWT's clock for `exp`
        claims = self.verified.get(token, now)
        if claims is None:
            claims = await self._verify_signed(token)
            self.verified.put(token, claims, now)
        if claims.user_id != user_id:
            raise TokenInvalid("the token was issued for another user")
        return claims

    async def _verify_signed(self, token: str) -> TokenClaims:
        """Check the token's signature and claims (not whose it is). Raises TokenExpired or TokenInvalid."""
        algorithm, key = await self._algorithm_and_key(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired("the token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise TokenInvalid(f"invalid token: {token_problem(exc)}") from None
        subject = claims.get("sub")
        if not isinstance(subject, str):
            raise TokenInvalid("the token was issued for another user")
        return TokenClaims(subject, float(claims["exp"]))

    async def _algorithm_and_key(self, token: str) -> tuple[str, Any]:
        """The algorithm `token` must be signed with and the key that checks it. Raises TokenInvalid.

        With the server secret alone, every token must be HS256: `jwt.decode`
        refuses any other algorithm itself, so the header is parsed once, there.
        """
        if self._client is None and self._keys is None:
            return ALGORITHM, self._secret
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise TokenInvalid(f"invalid token: {token_problem(exc)}") from None
        algorithm = header.get("alg")
        if algorithm == ALGORITHM:
            return ALGORITHM, self._secret
        if algorithm in ASYMMETRIC:
            return algorithm, await self._public_key(token, header)
        raise TokenInvalid("invalid token: it is signed with an algorithm this server does not accept")

    async def _public_key(self, token: str, header: dict[str, Any]) -> Any:
        kid = header.get("kid")
        if self._keys is not None:
            for jwk in self._keys.keys:
                if kid is None or jwk.key_id == kid:
                    return jwk.key
            raise TokenInvalid("invalid token: its signing key is not among the trusted keys")
        assert self._client is not None
        client = self._client
        try:
            with trio.fail_after(_FETCH_TIMEOUT_S + 1):
                jwk = await trio.to_thread.run_sync(client.get_signing_key_from_jwt, token, abandon_on_cancel=True)
        except jwt.PyJWKClientConnectionError as exc:
            log.warning("JWKS fetch failed: %s", exc)
            raise TokenInvalid("invalid token: the server could not fetch the signing keys; retry later") from None
        except trio.TooSlowError:
            log.warning("JWKS fetch took longer than %ss", _FETCH_TIMEOUT_S)
            raise TokenInvalid("invalid token: the server could not fetch the signing keys; retry later") from None
        except (jwt.PyJWKClientError, jwt.InvalidTokenError):
            raise TokenInvalid("invalid token: its signing key is not among the trusted keys") from None
        return jwk.key


def _read_jwks(path: Path) -> jwt.PyJWKSet:
    """The key set in a JWKS file. Raises ValueError naming the file."""
    try:
        document = json.loads(path.read_text())
        keys = jwt.PyJWKSet.from_dict(document)
    except OSError as exc:
        raise ValueError(f"auth_jwks {path}: {exc.strerror or exc}") from None
    except (ValueError, jwt.PyJWKError, jwt.PyJWKSetError) as exc:
        raise ValueError(f"auth_jwks {path}: not a usable JWKS ({exc})") from None
    return keys

"""Verifying login tokens: the shared HS256 secret, and the application backend's own keys (JWKS).

A deployment whose backend signs tokens with its own private key (RS256,
ES256 or EdDSA) gives hubbub the public keys as a JWKS: a file, read at
start, or an https:// URL, fetched by PyJWT's PyJWKClient (in a worker
thread, with a timeout; keys cached and refetched for an unknown `kid`).
`iss` and `aud` are checked when configured. HS256 with the server secret
keeps working beside it.
"""

from __future__ import annotations

import json
import logging
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


class TokenVerifier:
    """Checks a login token's signature, `sub`, `exp` and, if configured, `iss` and `aud`."""

    def __init__(self, secret: str, *, jwks: str | None = None, issuer: str | None = None, audience: str | None = None) -> None:
        """Raises ValueError (in words for the operator) if a JWKS file cannot be read."""
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._client: jwt.PyJWKClient | None = None
        self._keys: jwt.PyJWKSet | None = None
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
        if claims.get("sub") != user_id:
            raise TokenInvalid("the token was issued for another user")
        return TokenClaims(user_id, float(claims["exp"]))

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

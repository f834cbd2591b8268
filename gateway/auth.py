"""Login tokens: JWT HS256 signed with the server secret (PROTOCOL.md §2)."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

import jwt

from actors.errors import TokenExpired, TokenInvalid

ALGORITHM = "HS256"
# A userID as PROTOCOL.md §1 defines IDs: a token for anything else would be refused at login.
_USER_ID = re.compile(r"[A-Za-z0-9_.@:-]{1,128}")


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: str
    expires_at: float  # seconds since the epoch


def mint_token(secret: str, user_id: str, ttl_s: float, *, now: float | None = None) -> str:
    """A token for `user_id` that expires `ttl_s` seconds from now.

    Raises ValueError (in words for the user) for a user ID the server would refuse.
    """
    if not _USER_ID.fullmatch(user_id):
        raise ValueError(f"user ID {user_id!r} is not valid: use 1-128 of A-Z a-z 0-9 _ . @ : -")
    issued = time.time() if now is None else now
    claims = {"sub": user_id, "iat": int(issued), "exp": int(issued + ttl_s)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(secret: str, token: str, user_id: str) -> TokenClaims:
    """Check signature, `sub` and `exp`. Raises TokenExpired (2003) or TokenInvalid (2002)."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpired("the token has expired") from None
    except jwt.InvalidTokenError as exc:
        raise TokenInvalid(f"invalid token: {token_problem(exc)}") from None
    if claims.get("sub") != user_id:
        raise TokenInvalid("the token was issued for another user")
    return TokenClaims(user_id, float(claims["exp"]))


def token_problem(exc: jwt.InvalidTokenError) -> str:
    """What is wrong with a refused token, in hubbub's words rather than PyJWT's."""
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"it has no `{exc.claim}` claim"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "its signature does not match this server's key"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "it is signed with an algorithm this server does not accept"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "it is not valid yet (`nbf` or `iat` in the future)"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "it was issued for another audience (`aud`)"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "it was issued by another issuer (`iss`)"
    if isinstance(exc, jwt.PyJWKClientError):
        return "its signing key is not among the trusted keys"
    if isinstance(exc, jwt.DecodeError):
        return "it is not a well-formed JWT"
    return "it does not verify"


def parse_ttl(text: str) -> float:
    """'90', '90s', '15m', '1h', '7d' -> seconds. Raises ValueError."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    scale = units.get(text[-1:], None)
    number = text[:-1] if scale else text
    value = float(number) * (scale or 1)
    if not math.isfinite(value) or value <= 0:
        raise ValueError("ttl must be a positive, finite duration")
    return value

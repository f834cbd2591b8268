"""Login tokens: JWT HS256 signed with the server secret (PROTOCOL.md §2)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from actors.errors import TokenExpired, TokenInvalid

ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: str
    expires_at: float  # seconds since the epoch


def mint_token(secret: str, user_id: str, ttl_s: float, *, now: float | None = None) -> str:
    """A token for `user_id` that expires `ttl_s` seconds from now."""
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
        raise TokenInvalid(f"invalid token: {exc}") from None
    if claims.get("sub") != user_id:
        raise TokenInvalid("the token was issued for another user")
    return TokenClaims(user_id, float(claims["exp"]))


def parse_ttl(text: str) -> float:
    """'90', '90s', '15m', '1h', '7d' -> seconds. Raises ValueError."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    scale = units.get(text[-1:], None)
    number = text[:-1] if scale else text
    value = float(number) * (scale or 1)
    if value <= 0:
        raise ValueError("ttl must be positive")
    return value

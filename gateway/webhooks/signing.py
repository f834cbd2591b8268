"""X-Hubbub-Signature: `sha256=` and the hex HMAC-SHA256 of the body with the shared secret (PROTOCOL.md §17)."""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """Whether `signature` is that of `body` (constant time)."""
    return hmac.compare_digest(sign(secret, body), signature)

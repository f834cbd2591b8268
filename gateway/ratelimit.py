"""Token bucket for the per-connection request budget (PROTOCOL.md §12, code 1005)."""

from __future__ import annotations


class TokenBucket:
    """`rate` tokens per second up to `burst`; pure, the caller passes the clock."""

    __slots__ = ("rate", "burst", "_tokens", "_at")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._at = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one."""
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def full(self, now: float) -> bool:
        """Whether the bucket has refilled to its burst (as good as a new one)."""
        return self._tokens + (now - self._at) * self.rate >= self.burst

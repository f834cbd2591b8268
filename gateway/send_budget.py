"""Messages per second per account, across all its devices (error 1005).

The per-connection request budget bounds one device; an account with many
devices would get that budget once per device. This one is the account's:
every sendMessage of the user, from any device, to any conversation, takes
a token from the same bucket.

In a cluster an account's devices may send through every node: the bucket
is kept on the node where the account's actor lives, and the others ask
that node for a token (`TakeSendToken`, gateway/node_asks.py), so the
account has one budget. When the account moves to another node (the
membership changed) it starts there with a full bucket.
"""

from __future__ import annotations

from .ratelimit import TokenBucket

_FIRST_SWEEP = 1024  # accounts tracked before the first sweep of refilled buckets


class SendBudgets:
    """A token bucket per account that sent recently.

    A bucket refilled to its burst is the same as a new one, so a sweep drops
    those once the table has doubled since the last sweep: the table stays
    bounded by the accounts that sent within one refill time, at O(1)
    amortized per send.
    """

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}
        self._sweep_at = _FIRST_SWEEP

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, user_id: str, now: float) -> bool:
        """Spend one of `user_id`'s message tokens if there is one."""
        bucket = self._buckets.get(user_id)
        if bucket is None:
            if len(self._buckets) >= self._sweep_at:
                self._buckets = {u: b for u, b in self._buckets.items() if not b.full(now)}
                self._sweep_at = max(_FIRST_SWEEP, 2 * len(self._buckets))
            bucket = self._buckets[user_id] = TokenBucket(self.rate_per_s, self.burst, now)
        return bucket.take(now)

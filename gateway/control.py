"""The control path of a session: kicks and closes that never wait behind data.

A session's outbound queue is bounded and carries data (replies, events,
replays). What ends a session (a kick or admin force-offline from the
account, token expiry, a slow-consumer close, the keepalive's verdict,
shutdown) travels instead through a one-slot `ControlSlot`, as tinode's
`stop` channel and ejabberd's `replaced` message do. The session's
controller waits on the slot, stops the data path, sends the stop's event
ahead of anything still queued, then closes with the stop's code.

The slot keeps one stop. The first one wins, except that a stop the account
already counts (a kick, a force-offline, a logout) replaces one the session
made itself until the controller takes it: a device that was kicked hears
the kick, never the slow-consumer close that was about to happen.
"""

from __future__ import annotations

from dataclasses import dataclass

import trio

from actors.outbound import DeviceEvent, Disconnect


@dataclass(frozen=True, slots=True)
class Stop:
    """End the session: send `event` (if any) ahead of queued data, then close with `code`.

    `account_knows` says the account already dropped the device; otherwise
    the session tells it the device is gone, for `gone_reason`.
    """

    code: int
    reason: str
    event: DeviceEvent | None = None
    account_knows: bool = False
    gone_reason: str = "dropped"

    @classmethod
    def of(cls, item: Disconnect) -> Stop:
        """The stop for a Disconnect an actor or the router queued."""
        return cls(item.code, item.reason, item.event, account_knows=item.by_account)


class ControlSlot:
    """One pending stop for one session; never blocks the sender."""

    def __init__(self) -> None:
        self._stop: Stop | None = None
        self._arrived = trio.Event()
        self._taken = False

    @property
    def pending(self) -> bool:
        """Whether a stop has arrived (taken or not): the session is ending."""
        return self._stop is not None

    def put(self, stop: Stop) -> None:
        """Offer `stop`; kept if it is the first, or the account's and the pending one is not."""
        if self._taken:
            return
        current = self._stop
        if current is None or (stop.account_knows and not current.account_knows):
            self._stop = stop
            self._arrived.set()

    async def wait(self) -> None:
        """Wait until a stop has arrived (no timeout: the session's life)."""
        await self._arrived.wait()

    def take(self) -> Stop:
        """The stop to carry out; later offers are ignored. Call after `wait`."""
        assert self._stop is not None, "take() before a stop arrived"
        self._taken = True
        return self._stop

"""Stream: the bounds of one account's durable stream, stamping events with their seq."""

from __future__ import annotations

from collections.abc import Sequence

from ..ids import now_ms
from ..outbound import DeviceEvent, Replay
from ..store.base import Fence, Store
from ..wire import DurableEvent


class Stream:
    """Head and oldest retained seq of the account's stream; the store keeps the events."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.head_seq = 0
        self.oldest_seq = 1

    def restore(self, oldest_seq: int, head_seq: int) -> None:
        """The bounds the store holds (from Store.account_state)."""
        self.oldest_seq, self.head_seq = oldest_seq, head_seq

    def stamp(self, events: Sequence[DurableEvent], from_user_id: str | None) -> list[DeviceEvent]:
        """The events as frames with the next seqs; `unstamp` takes them back if they are not stored."""
        stamped = []
        for event in events:
            self.head_seq += 1
            stamped.append(DeviceEvent(event, self.head_seq, from_user_id))
        return stamped

    def unstamp(self, count: int) -> None:
        self.head_seq -= count

    def resume_plan(self, resume_from: int | None, device_id: str) -> tuple[bool, Replay | None]:
        """Whether the device missed events we no longer keep, and what to replay."""
        if resume_from is None or resume_from == self.head_seq:
            return False, None
        if resume_from > self.head_seq or resume_from + 1 < self.oldest_seq:
            return True, None
        return False, Replay(self.user_id, resume_from, self.head_seq, device_id)

    async def trim(self, store: Store, keep_count: int, keep_s: float, fence: Fence | None) -> None:
        """Drop events past the retention limits, in steps rather than per event (a write fenced with `fence`)."""
        if self.head_seq - self.oldest_seq < keep_count + max(64, keep_count // 10):
            return
        await store.trim_stream(self.user_id, keep_count, now_ms() - int(keep_s * 1000), fence=fence)
        self.oldest_seq, _ = await store.stream_bounds(self.user_id)

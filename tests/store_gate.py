"""StoreGate: hold the next call of one store method, so a test can line work up behind it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio


class StoreGate:
    """Holds the next call of one store method (the next for which `when` is true) until `release` is set.

    `entered` is set when that call arrives; every later call passes through.
    """

    def __init__(self, store: Any, name: str, when: Callable[..., bool] = lambda *args, **kwargs: True) -> None:
        self.entered = trio.Event()
        self.release = trio.Event()
        original: Callable[..., Awaitable[Any]] = getattr(store, name)
        armed = True

        async def gated(*args: Any, **kwargs: Any) -> Any:
            nonlocal armed
            if armed and when(*args, **kwargs):
                armed = False
                self.entered.set()
                await self.release.wait()
            return await original(*args, **kwargs)

        setattr(store, name, gated)

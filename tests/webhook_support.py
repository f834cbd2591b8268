"""A real HTTP receiver on loopback for the webhook tests: records every call, answers as the test says.

Served by hypercorn (trio) with starlette, the same stack as the admin API.
Notifications get `status` (200 unless the test changes it), after
`delay_s` (a slow backend); while `hang` is set, every call waits until the
test ends. beforeSendMessage gets what
`verdict` returns for the call's JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hypercorn.config
import hypercorn.trio
import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.webhooks.signing import verify

HOOK_SECRET = "webhook-test-secret"
PATH = "/hubbub"


@dataclass(frozen=True)
class Call:
    """One request as the receiver got it."""

    event: str
    delivery_id: str
    signature: str
    body: bytes
    status: int  # what the receiver answered
    arrived_ms: int = 0  # wall-clock ms when it arrived

    @property
    def json(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found


@dataclass
class Receiver:
    url: str = ""
    status: int = 200
    hang: bool = False
    delay_s: float = 0.0  # each notification is answered this long after it arrived
    verdict: Callable[[dict[str, Any]], dict[str, Any]] = field(default=lambda _: {"action": "allow"})
    calls: list[Call] = field(default_factory=list)
    _arrived: trio.Event = field(default_factory=trio.Event)

    @property
    def accepted(self) -> list[Call]:
        """Notifications answered 2xx, in arrival order."""
        return [c for c in self.calls if c.event != "beforeSendMessage" and 200 <= c.status < 300]

    def accepted_of(self, event: str) -> list[dict[str, Any]]:
        return [c.json for c in self.accepted if c.event == event]

    async def until(self, predicate: Callable[[Receiver], bool]) -> None:
        """Wait (within the test's own fail_after) until `predicate(self)` holds."""
        while not predicate(self):
            await self._arrived.wait()
            self._arrived = trio.Event()

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        event = request.headers.get("x-hubbub-event", "")
        signature = request.headers.get("x-hubbub-signature", "")
        status = self.status if event != "beforeSendMessage" else 200
        if not verify(HOOK_SECRET, body, signature):
            status = 401
        call = Call(event, request.headers.get("x-hubbub-delivery", ""), signature, body, status, int(time.time() * 1000))
        if self.hang:
            self.calls.append(call)
            self._arrived.set()
            await trio.sleep_forever()
        self.calls.append(call)
        self._arrived.set()
        if self.delay_s and event != "beforeSendMessage":
            await trio.sleep(self.delay_s)
        if event == "beforeSendMessage" and status == 200:
            return JSONResponse(self.verdict(json.loads(body)))
        return Response(status_code=status)


async def serve_receiver(receiver: Receiver, port: int = 0, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve `receiver` on 127.0.0.1 until cancelled; `task_status` gets its URL."""
    config = hypercorn.config.Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 0.1
    app = Starlette(routes=[Route(PATH, receiver.handle, methods=["POST"])])
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(hypercorn.trio.serve, app, config)
        receiver.url = binds[0].replace("http://", "http://", 1) + PATH
        task_status.started(receiver.url)


def hooked(receiver: Receiver, **overrides: Any) -> dict[str, Any]:
    """Config overrides of a server that calls `receiver`."""
    return {"webhook_url": receiver.url, "webhook_secret": HOOK_SECRET, **overrides}

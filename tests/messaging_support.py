"""Helpers shared by the messaging, conversation, receipt and resume tests.

Every helper talks to the server only through the project's client, so a
test reads as a sequence of protocol requests and the events they cause.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import trio
import trio.testing

from hubbub_client import Client, ClientError
from gateway.server import Gateway

from .cluster_servers import session_of
from .conftest import Login

# Platforms for a user's first, second and third device: one per kick group of
# the `multi` policy, so all of them stay online.
PLATFORMS = ("iOS", "Windows", "Web")


class RecordingClient(Client):
    """A client that logs every frame (events and replies) in arrival order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log: list[dict[str, Any]] = []

    def _dispatch(self, frame: dict[str, Any]) -> None:
        self.log.append(frame)
        super()._dispatch(frame)


async def devices(login: Login, server: Gateway, user_id: str, count: int = 2, client_type: type[Client] = Client) -> list[Client]:
    """`count` logged-in devices of `user_id` (iOS, Windows, Web), each knowing about the others.

    Waits until each earlier device heard about every later login, so no
    `selfDevicesChanged` of the setup arrives in the middle of a test.
    """
    clients: list[Client] = []
    for index in range(count):
        client = await login(server, user_id, device=f"{user_id}-{PLATFORMS[index]}", platform=PLATFORMS[index], client_type=client_type)
        for earlier in clients:
            await earlier.next_event("selfDevicesChanged")
        clients.append(client)
    return clients


async def send(
    client: Client, to: str, text: str | bytes = "hi", *, type: int = 1, conversation_type: int = 0, **fields: Any
) -> dict[str, Any]:
    """sendMessage (peer unless `conversation_type` says otherwise) and return the reply's Message."""
    body: dict[str, Any] = {"type": type, "message": text}
    if "extendedData" in fields:
        body["extendedData"] = fields.pop("extendedData")
    reply = await client.request("sendMessage", toConversationID=to, conversationType=conversation_type, message=body, **fields)
    message: dict[str, Any] = reply["message"]
    return message


async def fails(code: int, request: Awaitable[Any]) -> ClientError:
    """Await `request` and check it failed with protocol error `code`."""
    try:
        result = await request
    except ClientError as exc:
        assert exc.code == code, f"expected error {code}, got {exc.code}: {exc.message}"
        return exc
    raise AssertionError(f"expected error {code}, got ok: {result}")


async def history(client: Client, conversation_id: str, conversation_type: int = 0, **config: Any) -> list[dict[str, Any]]:
    config.setdefault("count", 100)
    reply = await client.request("queryHistoryMessage", conversationID=conversation_id, conversationType=conversation_type, config=config)
    found: list[dict[str, Any]] = reply["messageList"]
    return found


async def conversation(client: Client, conversation_id: str) -> dict[str, Any]:
    reply = await client.request("queryConversation", conversationID=conversation_id, conversationType=0)
    found: dict[str, Any] = reply["conversation"]
    return found


async def conversation_list(client: Client, count: int = 100, **config: Any) -> list[dict[str, Any]]:
    reply = await client.request("queryConversationList", config={"count": count, **config})
    found: list[dict[str, Any]] = reply["conversationList"]
    return found


async def set_draft(client: Client, conversation_id: str, draft: str) -> None:
    await client.request("setConversationDraft", conversationID=conversation_id, conversationType=0, draft=draft)


async def marker(actor: Client, watchers: Iterable[Client], conversation_id: str, draft: str) -> list[list[dict[str, Any]]]:
    """Set a draft on `actor`; take each watcher's events up to its conversationChanged for it.

    Durable events of one account reach each device in seq order, so once a
    watcher has the marker, it has every event the account had before it.
    Returns, per watcher, the events taken before the marker's.
    """
    await set_draft(actor, conversation_id, draft)
    taken = []
    for watcher in watchers:
        events = await until(watcher, lambda e: e.get("ev") == "conversationChanged" and _draft_of(e) == draft)
        taken.append(events[:-1])
    return taken


def _draft_of(event: dict[str, Any]) -> str | None:
    infos = event.get("infoList") or [{}]
    conversation = infos[-1].get("conversation") or {}
    draft: str | None = conversation.get("draft")
    return draft


async def until(client: Client, matches: Callable[[dict[str, Any]], bool], timeout: float = 10) -> list[dict[str, Any]]:
    """Take events in arrival order up to and including the first one that `matches`."""
    taken: list[dict[str, Any]] = []
    with trio.fail_after(timeout):
        while True:
            taken.append(await client.next_event(timeout=timeout))
            if matches(taken[-1]):
                return taken


async def take_all(client: Client, name: str | None = None) -> list[dict[str, Any]]:
    """Take every event already queued (of one name, or all) without waiting for more."""
    taken = []
    while client.pending_events(name):
        taken.append(await client.next_event(name))
    return taken


def durable(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if "seq" in e]


def message_ids(events: Iterable[dict[str, Any]], name: str = "peerMessageReceived") -> list[str]:
    return [m["messageID"] for e in events if e.get("ev") == name for m in e["messageList"]]


def assert_consecutive(events: list[dict[str, Any]], first: int | None = None) -> None:
    """The events' seqs are first, first+1, ... with no gap or repeat."""
    seqs = [e["seq"] for e in events]
    start = seqs[0] if first is None and seqs else first
    assert seqs == list(range(start or 0, (start or 0) + len(seqs))), seqs


def stall_writes(server: Gateway, client: Client) -> trio.Event:
    """Make the writer of `client`'s session hang before its next socket write, until the returned event is set.

    The session's outbound queue then fills as if the device had stopped reading.
    """
    session = session_of(server, client.login_id)
    release = trio.Event()

    class Stalled(type(session)):  # type: ignore[misc]  # the stall stands in for a device that stopped reading
        __slots__ = ()

        async def _flush(self, frames: list[bytes]) -> None:
            await release.wait()
            await super()._flush(frames)

    session.__class__ = Stalled  # a session has slots, so the one method is swapped with its class
    return release


class _StalledStream(trio.abc.Stream):
    """A socket stream whose peer stopped reading: writes never complete (until cancelled)."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.sleep_forever()

    async def wait_send_all_might_not_block(self) -> None:
        await trio.sleep_forever()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


def stall_socket(server: Gateway, client: Client) -> None:
    """Make every socket write to `client`'s session hang, as when its TCP window stays closed.

    Unlike `stall_writes`, the stall is inside the write itself, so not even
    a close frame can get through; reading from the device goes on.
    """
    session = session_of(server, client.login_id)
    session.ws._stream = _StalledStream(session.ws._stream)


PATIENT_S = 1.0  # idleness before the clock jumps while a test sets up (SQLite threads, loopback sockets)


@contextmanager
def jumping(clock: trio.testing.MockClock, threshold_s: float = 0.02) -> Iterator[None]:
    """Let a patient autojump clock (threshold PATIENT_S) jump promptly inside this block only.

    For tests that log several devices in under the autojump clock: on a busy
    machine one SQLite write can outlast a small threshold and the clock would
    jump past a request's timeout; so the set-up waits patiently and only
    the waits meant to take (virtual) time jump quickly.
    """
    clock.autojump_threshold = threshold_s
    try:
        yield
    finally:
        clock.autojump_threshold = PATIENT_S

"""An async Trio client for hubbub: requests with replies, events, resume.

    async with open_client(url) as client:
        await client.login("alice", token, platform="iOS")
        devices = await client.request("queryDevices")
        event = await client.next_event("selfDevicesChanged")

Events arrive as plain dicts, in order; `next_event(name)` takes the first
waiting event of that name, `events()` iterates over all of them.
`reconnect()` logs in again with `resumeFrom` = the newest durable seq seen.

Errors, all catchable as `Exception`:

    ClientError           the server answered a request with an error (`code`)
    Disconnected          the connection closed (`code`: the close code, None if dropped)
    └── SessionEnded      the server ended this login for good: no automatic resume
        ├── Kicked        4000: another login took its place (`reason`, `by_login_id`, `by_platform`)
        ├── ForcedOffline 4001: an administrator forced the device offline
        └── TokenExpired  4002: the login token expired without renewToken

With `auto_resume=True` the client logs in again with `resumeFrom` after a
close the server means to be resumed (a drop, 1011, 1013, 4004, ...), but
never after 4000, 4001 or 4002: `client.ended` then holds the SessionEnded
that says why, and waiting calls (`request`, `next_event`) raise it.

Given several URLs (`open_client([url1, url2, url3])`, the nodes of a
cluster), the client connects to the first and each resume attempt moves on
to the next one, so a device whose node died comes back through another.
Every connection after a login names its account in the URL
(`with_account_hint`), so behind `hubbub serve --workers N` the worker that
owns the account serves it.
"""

from __future__ import annotations

import itertools
import ssl
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, NoReturn
from urllib.parse import parse_qs, urlsplit

import cbor2
import trio
from . import wsfix
from trio_websocket import ConnectionClosed, ConnectionTimeout, HandshakeError, WebSocketConnection

from .connecting import open_websocket, rejection, with_account_hint


class ClientError(Exception):
    """The server answered a request with an error."""

    def __init__(self, code: int, message: str, op: str = "") -> None:
        super().__init__(f"{op or 'request'} failed with {code}: {message}")
        self.code = code
        self.message = message


class Disconnected(Exception):
    """The connection closed before the answer came."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"connection closed (code {code})")
        self.code = code


class SessionEnded(Disconnected):
    """The server ended this login (kicked, forced offline, token expired); the client will not resume it.

    `reason` is the server's (`policy`, `admin`, ... from the
    connectionStateChanged event, or the close reason when no event came).
    """

    close_code: ClassVar[int]

    def __init__(self, reason: str = "", by_login_id: str | None = None, by_platform: str | None = None) -> None:
        Exception.__init__(self, f"{self.__class__.__name__.lower()} (code {self.close_code}, reason {reason or 'none'})")
        self.code = self.close_code
        self.reason = reason
        self.by_login_id = by_login_id
        self.by_platform = by_platform


class Kicked(SessionEnded):
    """Close 4000: the login policy let a newer login of the account take this device's place."""

    close_code = 4000


class ForcedOffline(SessionEnded):
    """Close 4001: an administrator forced the device offline."""

    close_code = 4001


class TokenExpired(SessionEnded):
    """Close 4002: the login token expired without renewToken."""

    close_code = 4002


FINAL_CLOSES: dict[int, type[SessionEnded]] = {cls.close_code: cls for cls in (Kicked, ForcedOffline, TokenExpired)}

# Close codes after which the server expects the device back with resumeFrom:
# dropped (no close frame), going away, server error, restart, slow, shutdown.
RESUMABLE_CLOSES = frozenset({None, 1001, 1006, 1011, 1012, 1013, 4004})
RESUME_WITHIN_S = 30.0


@dataclass(slots=True)
class _Pending:
    done: trio.Event
    frame: dict[str, Any] | None = None


class Client:
    """One device's connection. Create it with `open_client`."""

    def __init__(
        self,
        url: str | Sequence[str],
        nursery: trio.Nursery,
        *,
        max_frame_bytes: int = 1 << 20,
        auto_resume: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout_s: float = 10.0,
    ) -> None:
        # Several URLs (the nodes of a cluster): connect to the first; after a lost
        # connection each resume attempt moves on to the next one, round the list.
        self.urls = [url] if isinstance(url, str) else list(url)
        if not self.urls:
            raise ValueError("a client needs at least one server URL")
        self.url = self.urls[0]
        self.auto_resume = auto_resume
        self.ssl_context = ssl_context  # for wss:// URLs; None: the system's trusted CAs
        self.connect_timeout_s = connect_timeout_s
        self.resumes = 0
        self._nursery = nursery
        self._max_frame_bytes = max_frame_bytes
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._events: deque[dict[str, Any]] = deque()
        self._arrived = trio.Event()
        self.orphan_replies: deque[dict[str, Any]] = deque()  # replies with re=None
        self.ws: WebSocketConnection | None = None
        self.closed_event = trio.Event()
        self.close_code: int | None = None
        self.ended: SessionEnded | None = None  # why the server ended the login, if it did
        self.last_seq = 0
        self.login_reply: dict[str, Any] | None = None
        self._login_args: dict[str, Any] | None = None

    # ---- connection -------------------------------------------------------------

    async def connect(self) -> None:
        """Open the WebSocket and start reading.

        Raises ConnectFailed (a HandshakeError) if the connection fails or is
        refused before it is open, ConnectionTimeout after connect_timeout_s.
        """
        wsfix.apply()
        if self.closed_event.is_set():
            self.closed_event = trio.Event()
        self.close_code = None
        self.ended = None
        try:
            with trio.fail_after(self.connect_timeout_s):
                self.ws = await self._nursery.start(self._run_connection)
        except trio.TooSlowError:
            raise ConnectionTimeout(f"{self.url}: no opening handshake within {self.connect_timeout_s} s") from None

    async def _run_connection(self, *, task_status: trio.TaskStatus[WebSocketConnection] = trio.TASK_STATUS_IGNORED) -> None:
        """Open the connection, hand it over, read it until it closes.

        The library's reader task runs in a nursery of this task's own, so a
        rejected upgrade (which the library raises in that task) becomes one
        ConnectFailed from `connect` instead of a group in the caller's nursery.
        """
        try:
            async with trio.open_nursery() as own:
                ws = await open_websocket(
                    own, self._url_to_open(), self.ssl_context, message_queue_size=16, max_message_size=self._max_frame_bytes
                )
                task_status.started(ws)
                # The library's reader task ends by itself once the connection
                # is closed; cancelling it here would cut a close handshake
                # this side started (close() would then wait its timeout).
                await self._read(ws)
        except BaseExceptionGroup as group:
            refused = rejection(self.url, group)
            if refused is not None:
                raise refused from None
            raise_alone(group)

    def _url_to_open(self) -> str:
        """`url`, naming the account once one logged in (a reconnect: `with_account_hint`), unless it names one already."""
        if self._login_args is None or "user" in parse_qs(urlsplit(self.url).query):
            return self.url
        return with_account_hint(self.url, self._login_args["userID"])

    async def _read(self, ws: WebSocketConnection) -> None:
        try:
            while True:
                message = await ws.get_message()
                frame = cbor2.loads(message) if isinstance(message, bytes) else {"text": message}
                self._dispatch(frame)
        except ConnectionClosed as closed:
            self.close_code = None if closed.reason is None else closed.reason.code
        finally:
            if ws is self.ws:
                if self.close_code is None and ws.closed is not None:
                    self.close_code = ws.closed.code
                self.ended = self._ended_by(ws)
                for pending in self._pending.values():
                    pending.done.set()
                if self.auto_resume and self._login_args is not None and self.ended is None and self.close_code in RESUMABLE_CLOSES:
                    self._nursery.start_soon(self._resume)
                else:
                    self.closed_event.set()
                self._arrived.set()

    def _ended_by(self, ws: WebSocketConnection) -> SessionEnded | None:
        """The SessionEnded that the close code means, with the reason the server gave."""
        kind = FINAL_CLOSES.get(self.close_code or 0)
        if kind is None:
            return None
        said = [e for e in self._events if e.get("ev") == "connectionStateChanged" and e.get("state") == 0]
        extended = said[-1].get("extendedData") if said else None
        if isinstance(extended, dict) and extended.get("reason"):
            return kind(str(extended["reason"]), extended.get("byLoginID"), extended.get("byPlatform"))
        return kind((ws.closed.reason if ws.closed is not None else None) or "")

    def _disconnected(self) -> Disconnected:
        """What a waiting call raises once the connection closed."""
        return self.ended if self.ended is not None else Disconnected(self.close_code)

    async def _resume(self) -> None:
        """Reconnect with resumeFrom after a dropped connection, with backoff."""
        delay = 0.05
        with trio.move_on_after(RESUME_WITHIN_S):
            while True:
                await trio.sleep(delay)
                self.url = self.urls[(self.urls.index(self.url) + 1) % len(self.urls)]
                try:
                    await self.reconnect(close_first=False)
                    self.resumes += 1
                    return
                except (OSError, ConnectionClosed, Disconnected, ClientError, trio.TooSlowError, HandshakeError):
                    delay = min(delay * 2, 2.0)
        self.closed_event.set()

    def _dispatch(self, frame: dict[str, Any]) -> None:
        if "re" in frame:
            pending = self._pending.get(frame["re"]) if isinstance(frame["re"], int) else None
            if pending is None:
                self.orphan_replies.append(frame)
            else:
                pending.frame = frame
                pending.done.set()
        else:
            seq = frame.get("seq")
            if isinstance(seq, int) and seq > self.last_seq:
                self.last_seq = seq
            self._events.append(frame)
        self._arrived.set()
        self._arrived = trio.Event()

    async def close(self) -> None:
        if self.ws is not None:
            with trio.move_on_after(5):
                await self.ws.aclose()

    async def closed(self, timeout: float = 10) -> int | None:
        """Wait until the server closes the connection; return the close code."""
        with trio.fail_after(timeout):
            await self.closed_event.wait()
        return self.close_code

    # ---- requests -----------------------------------------------------------------

    async def send_raw(self, data: bytes | str) -> None:
        """Send bytes (or a text frame) as they are: for testing the server's limits."""
        assert self.ws is not None, "connect() first"
        await self.ws.send_message(data)

    async def request(self, op: str, timeout: float = 10, **fields: Any) -> dict[str, Any]:
        """Send a request and return its ok reply; raises ClientError or Disconnected."""
        frame = await self.request_frame(op, timeout=timeout, **fields)
        if not frame.get("ok"):
            error = frame.get("error", {})
            raise ClientError(error.get("code", -1), error.get("message", ""), op)
        return frame

    async def request_frame(self, op: str, timeout: float = 10, **fields: Any) -> dict[str, Any]:
        """Send a request and return the raw reply frame, ok or not."""
        assert self.ws is not None, "connect() first"
        request_id = next(self._ids)
        pending = _Pending(trio.Event())
        self._pending[request_id] = pending
        try:
            try:
                await self.ws.send_message(cbor2.dumps({"op": op, "id": request_id, **fields}))
            except ConnectionClosed:
                raise self._disconnected() from None
            with trio.fail_after(timeout):
                await pending.done.wait()
        finally:
            del self._pending[request_id]
        if pending.frame is None:
            raise self._disconnected()
        return pending.frame

    async def next_orphan_reply(self, timeout: float = 10) -> dict[str, Any]:
        """The next reply that names no request (answers to undecodable frames)."""
        with trio.fail_after(timeout):
            while not self.orphan_replies:
                if self.closed_event.is_set():
                    raise self._disconnected()
                await self._arrived.wait()
        return self.orphan_replies.popleft()

    # ---- login ----------------------------------------------------------------------

    async def login(
        self,
        user_id: str,
        token: str,
        *,
        platform: str = "iOS",
        device_id: str | None = None,
        device_name: str = "",
        resume_from: int | None = None,
        timeout: float = 10,
    ) -> dict[str, Any]:
        """Log in; returns the login reply (loginID, seq, devices, resumeGap)."""
        fields: dict[str, Any] = {"userID": user_id, "token": token, "platform": platform, "deviceName": device_name}
        if device_id is not None:
            fields["deviceID"] = device_id
        if resume_from is not None:
            fields["resumeFrom"] = resume_from
        reply = await self.request("login", timeout=timeout, **fields)
        if device_id is None:
            # keep the deviceID the server made: a reconnect is the same installation
            mine = [d for d in reply.get("devices", []) if d.get("loginID") == reply.get("loginID")]
            if mine and mine[0].get("deviceID"):
                fields["deviceID"] = mine[0]["deviceID"]
        self._login_args = fields
        self.login_reply = reply
        if resume_from is None:
            self.last_seq = max(self.last_seq, reply.get("seq", 0))
        return reply

    @property
    def login_id(self) -> str | None:
        return None if self.login_reply is None else self.login_reply.get("loginID")

    async def reconnect(self, token: str | None = None, *, close_first: bool = True) -> dict[str, Any]:
        """Open a new connection and log in again with resumeFrom = last seen seq."""
        assert self._login_args is not None, "log in first"
        if close_first:
            await self.close()
        await self.connect()
        fields = dict(self._login_args)
        if token is not None:
            fields["token"] = token
        fields["resumeFrom"] = self.last_seq
        reply = await self.request("login", **fields)
        self.login_reply = reply
        if reply.get("resumeGap"):
            self.last_seq = reply.get("seq", self.last_seq)
        return reply

    async def ack(self) -> None:
        """Acknowledge every durable event seen so far."""
        await self.request("ack", seq=self.last_seq)

    # ---- events -----------------------------------------------------------------------

    def pending_events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Events received and not yet taken (of one name, or all), without waiting."""
        return [e for e in self._events if name is None or e.get("ev") == name]

    async def next_event(self, name: str | None = None, timeout: float = 10) -> dict[str, Any]:
        """Take the first waiting event named `name` (any event if None).

        Raises TooSlowError after `timeout` s, Disconnected (a SessionEnded
        if the server ended the login) if the connection closed with no such
        event left.
        """
        with trio.fail_after(timeout):
            while True:
                for index, event in enumerate(self._events):
                    if name is None or event.get("ev") == name:
                        del self._events[index]
                        return event
                if self.closed_event.is_set():
                    raise self._disconnected()
                await self._arrived.wait()

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Every event, in arrival order, until the connection closes."""
        while True:
            if self._events:
                yield self._events.popleft()
            elif self.closed_event.is_set():
                return
            else:
                await self._arrived.wait()


@asynccontextmanager
async def open_client(
    url: str | Sequence[str], *, connect: bool = True, auto_resume: bool = False, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[Client]:
    """A client with its own nursery; connected unless `connect` is False.

    A failure (of `connect`, or raised in the block) comes out as itself, not
    inside an exception group: `except HandshakeError` and `except ClientError` work.
    """
    try:
        async with trio.open_nursery() as nursery:
            client = Client(url, nursery, auto_resume=auto_resume, ssl_context=ssl_context)
            if connect:
                await client.connect()
            try:
                yield client
            finally:
                await client.close()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise_alone(group)


def raise_alone(group: BaseExceptionGroup[BaseException]) -> NoReturn:
    """Raise the one exception of a nursery's group as itself (keeping its own chain); a larger group as it is."""
    if len(group.exceptions) != 1:
        raise group
    only = group.exceptions[0]
    if isinstance(only, BaseExceptionGroup):
        raise_alone(only)
    context = only.__context__
    try:
        raise only
    finally:
        only.__context__ = context  # hide the group, keep the original chain

"""DeviceSession: one WebSocket connection, with its reader, writer, controller and timers.

Two tasks: the connection's own (the reader, then the controller) and the
writer; the deadlines are entries with the gateway's one timer task.

    reader      frame -> codec -> rate limit -> router -> actor -> reply;
                reads the socket itself (gateway/websocket_io.py), until
                the first stop cancels it or the peer closes
    writer      drains the bounded outbound queue (gateway/send_queue.py;
                replies and events share it, so ordering is decided in one
                place) into the socket; the frames waiting together go out
                in one write
    controller  takes the stop from the one-slot control path (gateway/control.py): stops
                the writer, sends the stop's event ahead of any queued data,
                closes with its code; a socket that cannot take that within
                `close_timeout_s` is aborted
    timers      the gateway's one task for every session's deadlines
                (gateway/timers.py): a ping every `ping_interval_s`, sent by
                a task that lives until its pong (none in time stops the
                session with 1011), and, once logged in, tokenWillExpire,
                then a stop with 4002 unless renewed

Actors reach the session through the DeviceDirectory: data with non-blocking
pushes (a full outbound queue stops the session as a slow consumer), kicks
on the control path. The session owns its `Identity`, set once by the
admission step (gateway/admission.py).
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import time
from typing import Protocol

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from actors.account import messages as account
from actors import wire as p
from actors.errors import AlreadyLoggedIn, FrameTooLarge, HubbubError, InvalidFrame, NotLoggedIn
from actors.outbound import Answer, DeviceEvent, Disconnect, Outbound, Replay, ReplyMark
from actors.runtime import ActorError, Address
from actors.wire import CloseCode, ConnectionEvent, request_id_of
from actors.wire.session import ConnectionStateChanged, KickDetail, TokenWillExpire

from .codec import decode_frame, reply_error, reply_ok
from .control import ControlSlot, Stop
from .identity import Identity
from .logs import bind_connection, remote_of
from .ratelimit import TokenBucket
from .admission import admit
from .config import Config
from .metrics import Metrics
from .router import Router
from .send_queue import SendQueue
from .services import NO_REPLY, EndHook, NoReply, Result, Services
from .timers import SessionTimers
from .websocket_io import abort, close, receive_message, send_messages, send_ping

log = logging.getLogger("hubbub.session")

_REPLAY_PAGE = 256  # events read from storage per replay query
_WRITE_BATCH = 64  # frames at most in one socket write
_WRITER_TURNS = 16  # scheduler turns a stop gives the writer to send what it already took
_session_ids = itertools.count(1)


_DROPPED = Stop(CloseCode.LOGOUT, "", gone_reason="dropped")  # the peer went away: nothing left to send


class SessionHost(Protocol):
    """What a session needs of the server that runs it."""

    @property
    def config(self) -> Config: ...
    @property
    def services(self) -> Services: ...
    @property
    def metrics(self) -> Metrics: ...
    @property
    def router(self) -> Router: ...
    @property
    def session_end_hooks(self) -> list[EndHook]: ...
    @property
    def timers(self) -> SessionTimers: ...


class _DataStopped(Exception):
    """The controller took a stop: the writer starts no further socket write."""


class DeviceSession:
    """One connected device, logged in or not yet."""

    # Slots: one is held per connected device, and its fields are too many for a shared-key dict.
    __slots__ = (
        "ws", "gateway", "services", "config", "ended", "conn_id",
        "outbound", "_slow",
        "identity", "_admitting", "_control", "_stopping", "_account_knows_gone", "_gone_reason", "_closing",
        "_data_scope", "_reader_scope", "_writing", "_writer_done", "_write_done",
        "_token_due", "_token_warned_due", "_ping_at", "_pinging", "_timer_at", "_timers_off", "_nursery",
        "_bucket", "_serving", "_held",
    )  # fmt: skip

    def __init__(self, ws: WebSocketConnection, gateway: SessionHost) -> None:
        self.ws = ws
        self.gateway = gateway
        self.services = gateway.services
        self.config = gateway.config
        self.ended = trio.Event()  # set once the session is over and the account told
        self.conn_id = next(_session_ids)
        # Bounded: a device that stops reading must not grow server memory.
        self.outbound = SendQueue(self.config.outbound_queue, self.config.outbound_queue_bytes)
        self._slow = False  # closing as a slow consumer: warned once for the episode
        self.identity: Identity | None = None
        self._admitting: Identity | None = None
        self._control = ControlSlot()
        self._stopping = False  # the controller took a stop: no new socket write
        self._account_knows_gone = False
        self._gone_reason = "dropped"
        self._closing = False  # a Disconnect is queued behind the frames already sent: stop reading
        self._data_scope = trio.CancelScope()  # the writer's; cancelled only between socket writes
        self._reader_scope = trio.CancelScope()  # the reading of requests; cancelled by the first stop
        self._writing = False  # a socket write of the writer is in progress
        self._writer_done = False  # the writer returned: it holds nothing
        self._write_done: trio.Event | None = None  # made by `_stop_data` only, while a write waits for the socket
        self._token_due = math.inf  # Trio time the token expires at; none before login
        self._token_warned_due = math.inf  # the `_token_due` a tokenWillExpire went out for
        self._ping_at = math.inf  # Trio time of the next keepalive ping (set when the session runs)
        self._pinging = False  # a ping waits for its pong
        self._timer_at = math.inf  # the earliest entry this session has with the gateway's timers
        self._timers_off = False  # the session's nursery is gone: no more pings
        self._nursery: trio.Nursery | None = None  # the session's: its ping tasks run there
        self._bucket = TokenBucket(self.config.rate_per_s, self.config.rate_burst, trio.current_time())
        self._serving = False  # a request read from the device is being answered
        self._held: list[Outbound] | None = None  # pushed after its step's ReplyMark, waiting for the reply

    @property
    def logged_in(self) -> bool:
        return self.identity is not None

    @property
    def user_id(self) -> str | None:
        return None if self.identity is None else self.identity.user_id

    @property
    def login_id(self) -> str | None:
        return None if self.identity is None else self.identity.login_id

    @property
    def address(self) -> Address | None:
        """Where actors reach this session: set from the start of admission."""
        known = self.identity or self._admitting
        return None if known is None else known.address

    # ---- lifecycle ------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until it closes; never raises an Exception.

        The connection's task reads requests itself until the first stop
        (which cancels the reading) or the peer's close, then carries the
        stop out: one task for the reader and the controller.
        """
        bind_connection(self.conn_id, remote_of(self.ws))  # every record of this connection names it
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._writer)
                self._start_timers(nursery)
                with self._reader_scope:
                    await self._reader()
                if not self._closing:
                    # The peer closed or went away (or a stop is already pending, which wins).
                    self.stop(_DROPPED)
                await self._controller()
                nursery.cancel_scope.cancel()
        except Exception:
            log.exception("session=%s user=%s crashed; closing it", self.conn_id, self.user_id)
        finally:
            self._timers_off = True
            with trio.move_on_after(self.config.close_timeout_s, shield=True):
                await self._leave()
            self.ended.set()

    async def _leave(self) -> None:
        identity = self.identity
        if identity is not None:
            self.services.directory.unregister(identity.address, self)
            for hook in self.gateway.session_end_hooks:
                try:
                    await hook(identity)
                except Exception:
                    log.exception("session=%s user=%s end hook %s failed", self.conn_id, self.user_id, hook)
        if identity is not None and not self._account_knows_gone:
            try:
                await self.services.account(identity.user_id).tell(account.DeviceGone(identity.login_id, self._gone_reason))
            except ActorError as exc:
                log.warning("session=%s user=%s could not report the device gone: %s", self.conn_id, identity.user_id, exc)
        if not self.ws.closed:
            await abort(self.ws)

    # ---- control path ---------------------------------------------------------

    def stop(self, stop: Stop) -> None:
        """End the session on the control path, ahead of queued data; never blocks.

        A stop the account already counts (a kick) replaces a pending one the
        session made until the controller takes it (see gateway/control.py).
        """
        if stop.account_knows:
            self._account_knows_gone = True
        self._control.put(stop)
        self._reader_scope.cancel()  # a request in progress is cancelled with it (an admission tells the account)

    def request_close(self, code: int, reason: str) -> None:
        """Close the connection soon with `code` (shutdown, timeouts)."""
        self.stop(Stop(code, reason))

    def close_as_slow(self, bound: str = "frames") -> None:
        """The outbound queue is full (`bound`: frames or bytes): drop the device; it resumes with resumeFrom.

        Warned and counted once per episode, however many pushes find the queue full.
        """
        if self._slow:
            return
        self._slow = True
        self.services.directory.slow_disconnects += 1
        self.gateway.metrics.slow_closes.labels(bound).inc()
        log.warning(
            "session=%s user=%s login=%s slow consumer (%d frames, %d bytes queued): closing",
            self.conn_id, self.user_id, self.login_id, len(self.outbound), self.outbound.bytes,
        )
        self.stop(Stop(CloseCode.SLOW_CONSUMER, "slow consumer: reconnect with resumeFrom", gone_reason="slow"))

    def offer(self, item: Outbound) -> bool:
        """Queue `item` for the writer without blocking (actors' pushes).

        Returns False when the session is ending or its queue is full; a full
        queue stops the session as a slow consumer. A Disconnect goes on the
        control path instead and is always taken. A ReplyMark that arrives
        while a request is served holds what follows it until that
        request's reply is queued.
        """
        if isinstance(item, Disconnect):
            self.stop(Stop.of(item))
            return True
        if self._control.pending:
            return False
        if isinstance(item, ReplyMark):
            if self._serving and self._held is None:
                self._held = []
            return True
        if self._held is not None:
            if len(self._held) >= self.outbound.max_items:
                self.close_as_slow("frames")
                return False
            self._held.append(item)
            return True
        refused = self.outbound.offer(item)  # a frame alone in the queue always fits its bytes
        if refused is not None:
            self.close_as_slow(refused)
            return False
        return True

    async def _controller(self) -> None:
        """Carry out the first stop: event, then close; abort a socket that cannot take them in time."""
        await self._control.wait()
        await self._writer_turn()
        self._stopping = True
        usable = await self._stop_data()
        stop = self._control.take()
        self._gone_reason = stop.gone_reason
        if self.ws.closed:
            return
        if usable:
            with trio.move_on_after(self.config.close_timeout_s) as sending:
                try:
                    if stop.event is not None:
                        await send_messages(self.ws, [stop.event.frame()])
                    await close(self.ws, stop.code, stop.reason)
                except ConnectionClosed:
                    return
            if not sending.cancelled_caught:
                return
        log.info(
            "session=%s user=%s login=%s could not take close %d within %ss: aborting",
            self.conn_id, self.user_id, self.login_id, stop.code, self.config.close_timeout_s,
        )
        await abort(self.ws)

    async def _writer_turn(self) -> None:
        """Let a writer that was woken for queued items take them and start their write.

        An item queued for a waiting writer wakes it, but the writer runs
        later: without its turn, a login reply queued just before the kick
        that followed it would be dropped with the queued data. The writer
        has work it has not started when it is neither waiting for an item
        nor in a socket write; a few scheduler turns let it start that write
        (which `_stop_data` then waits for). Bounded in turns, not time.
        """
        for _ in range(_WRITER_TURNS):
            if self._writing or self._writer_done or self.outbound.writer_waiting:
                return
            await trio.lowlevel.checkpoint()

    async def _stop_data(self) -> bool:
        """Stop the writer; False when its socket write in progress did not end within close_timeout_s.

        The writer is cancelled only between socket writes: a write cut half
        way would leave a partial frame on the connection.
        """
        if self._writing:
            done = self._write_done = trio.Event()
            with trio.move_on_after(self.config.close_timeout_s):
                await done.wait()
        if self._writing:
            return False
        self._data_scope.cancel()
        return True

    # ---- reader ---------------------------------------------------------------

    async def _reader(self) -> None:
        login_deadline = trio.current_time() + self.config.login_timeout_s
        max_bytes = self.config.max_frame_bytes
        try:
            while not self._control.pending and not self._closing:
                if self.logged_in:
                    message = await receive_message(self.ws, max_bytes)
                else:
                    with trio.move_on_at(login_deadline):
                        message = await receive_message(self.ws, max_bytes)
                    if not self.logged_in and trio.current_time() >= login_deadline:
                        log.info("session=%s no login within %ss: closing", self.conn_id, self.config.login_timeout_s)
                        self.request_close(CloseCode.LOGIN_TIMEOUT, "login timeout")
                        return
                if self._control.pending or self._closing:
                    return
                await self._on_message(message)
        except FrameTooLarge as exc:  # its rest is not read: the connection closes after the error
            self.gateway.metrics.frames_in.inc()
            await self._refuse_oversized(exc)
        except ConnectionClosed:
            return

    async def _on_message(self, message: bytes | str) -> None:
        metrics = self.gateway.metrics
        metrics.frames_in.inc()
        # Every frame spends budget, undecodable ones too: garbage must not be free.
        within_budget = self._bucket.take(trio.current_time())
        try:
            frame = decode_frame(message, max_bytes=self.config.max_frame_bytes)
        except FrameTooLarge as exc:
            await self._refuse_oversized(exc)
            return
        except InvalidFrame as exc:
            code, text = (exc.code, exc.message) if within_budget else (1005, "rate limited: slow down")
            metrics.errors.labels(str(code)).inc()
            await self.send(reply_error(None, code, text))
            return
        request_id = request_id_of(frame)
        if not within_budget:
            metrics.errors.labels("1005").inc()
            await self.send(reply_error(request_id, 1005, "rate limited: slow down"))
            return
        self._serving = True
        try:
            await self.send(await self._answer(request_id, frame))
        finally:
            self._serving = False
            self._release_held()

    def _release_held(self) -> None:
        """Queue what was pushed after the request's ReplyMark, now that its reply is queued before it."""
        held, self._held = self._held, None
        for item in held or ():
            if not self.offer(item):
                return

    async def _refuse_oversized(self, exc: HubbubError) -> None:
        """Error 1004, then the close 1009 queued behind it (PROTOCOL.md §12); nothing more is read."""
        self.gateway.metrics.errors.labels(str(exc.code)).inc()
        self._closing = True
        await self.send(reply_error(None, exc.code, exc.message))
        await self.send(Disconnect(CloseCode.FRAME_TOO_LARGE, "frame too large", None, by_account=False))

    async def _answer(self, request_id: int | None, frame: dict[str, object]) -> Outbound:
        op = frame.get("op")
        started = trio.current_time()
        try:
            result = await self._serve(frame)
        except HubbubError as exc:
            log.info("session=%s user=%s op=%.40s refused code=%d: %s", self.conn_id, self.user_id, op, exc.code, exc.message)
            self.gateway.metrics.errors.labels(str(exc.code)).inc()
            return reply_error(request_id, exc.code, exc.message)
        except ActorError as exc:
            log.warning("session=%s user=%s op=%.40s failed: %s", self.conn_id, self.user_id, op, exc)
            self.gateway.metrics.errors.labels("9000").inc()
            return reply_error(request_id, 9000, "internal error: the request was not completed, retry")
        except Exception:
            log.exception("session=%s user=%s op=%.40s crashed", self.conn_id, self.user_id, op)
            self.gateway.metrics.errors.labels("9000").inc()
            return reply_error(request_id, 9000, "internal error")
        finally:
            self.gateway.metrics.observe_request(op, trio.current_time() - started)
        if isinstance(result, NoReply):
            return b""
        return reply_ok(request_id, result)

    async def _serve(self, frame: dict[str, object]) -> Result:
        """The session's own steps (login, logout, renewToken), or the router for the identity."""
        request = self.gateway.router.parse(frame)
        if isinstance(request, p.Login):
            await admit(self.services, self, request)
            self.gateway.metrics.logins.inc()
            return NO_REPLY
        identity = self.identity
        if identity is None:
            raise NotLoggedIn("log in first")
        if isinstance(request, p.Logout):
            await self.services.ask_account(identity, account.Logout(identity.login_id))
            self._account_knows_gone = True
            await self.send(reply_ok(request.id))
            await self.send(Disconnect(CloseCode.LOGOUT, "logout"))
            return NO_REPLY
        if isinstance(request, p.RenewToken):
            claims = await self.services.tokens.verify(request.token, identity.user_id)
            self.token_renewed(claims.expires_at)
            return None
        return await self.gateway.router.dispatch(identity, request)

    async def send(self, item: Outbound) -> None:
        """Queue a frame from the reader; blocks while the outbound queue is full."""
        if item == b"":
            return
        await self.outbound.put(item)  # its bytes count, though only pushes are refused for bytes

    # ---- writer ---------------------------------------------------------------

    async def _writer(self) -> None:
        """Send queued items in order; frames waiting together go in one socket write."""
        try:
            await self._write_queued(self.outbound)
        finally:
            self._writer_done = True

    async def _write_queued(self, queue: SendQueue) -> None:
        with self._data_scope:
            try:
                while True:
                    item: Outbound | None = await queue.get()
                    frames: list[bytes] = []
                    while item is not None:
                        if isinstance(item, (Replay, Disconnect)):
                            await self._flush(frames)
                            if isinstance(item, Disconnect):
                                # queued by the reader behind its last frames (logout, frame too large)
                                self.stop(Stop.of(item))
                                return
                            await self._replay(item)
                        elif not isinstance(item, ReplyMark):  # `offer` takes the marks: none is queued
                            frames.append(_frame_of(item))
                            if len(frames) >= _WRITE_BATCH:
                                await self._flush(frames)
                        item = queue.take()
                    await self._flush(frames)
            except (ConnectionClosed, _DataStopped):
                return

    async def _flush(self, frames: list[bytes]) -> None:
        if not frames:
            return
        if self._stopping:
            raise _DataStopped
        self._writing = True
        try:
            await send_messages(self.ws, frames)  # mostly at once, with no wait (gateway/websocket_io.py)
        finally:
            self._writing = False
            if self._write_done is not None:
                self._write_done.set()
        self.gateway.metrics.frames_out.inc(len(frames))
        frames.clear()

    async def _replay(self, replay: Replay) -> None:
        """Send stored events (after, upto] before any live event queued behind."""
        after = replay.after_seq
        while after < replay.upto_seq:
            events = await self.services.store.events_after(replay.user_id, after, _REPLAY_PAGE)
            if not events:
                break
            frames = []
            for event in events:
                if event.seq > replay.upto_seq:
                    break
                if event.only_device is None or event.only_device == replay.device_id:
                    frames.append(event.payload)
                after = event.seq
            await self._flush(frames)
            if events[-1].seq > replay.upto_seq:
                return

    # ---- keepalive and token expiry -------------------------------------------

    def _start_timers(self, nursery: trio.Nursery) -> None:
        """Arm the first keepalive; pings then run in `nursery`, one short task each."""
        self._nursery = nursery
        self._ping_at = trio.current_time() + self._ping_gap()
        self._arm_timer(trio.current_time())

    def on_timer(self, now: float) -> None:
        """The gateway's timers (gateway/timers.py): ping, warn of or end the token, when due; never blocks.

        Keepalive: a ping every ping_interval_s (±25%, so devices that
        connected together do not ping together), skipped while the last
        one waits for its pong; no pong within pong_timeout_s of the ping
        stops the session with 1011 (`_keepalive_ping`). Token:
        tokenWillExpire token_warning_s before expiry (at once for a shorter
        token), then a stop with 4002 unless renewed; admitted() and
        token_renewed() arm the new expiry.
        """
        nursery = self._nursery
        if now < self._timer_at or self._timers_off or self._control.pending or nursery is None:
            return  # stale (an earlier deadline took its place), or the session is ending
        self._timer_at = math.inf
        if now >= self._ping_at:
            self._ping_at = now + self._ping_gap()
            if not self._pinging:
                self._pinging = True
                nursery.start_soon(self._keepalive_ping)
        if self._token_step(now):
            self._arm_timer(now, stepped=True)

    def _arm_timer(self, now: float, stepped: bool = False) -> None:
        """Have the timers call `on_timer` at the next deadline, unless an entry at or before it is pending.

        `stepped`: just after the steps that were due, so a deadline not in
        the future is a warning that did not get into a full queue: it is
        tried again at the next ping (or the expiry).
        """
        at = min(self._ping_at, self._token_step_at())
        if stepped and at <= now:
            at = min(self._ping_at, self._token_due)
        if at < self._timer_at:
            self._timer_at = at
            self.gateway.timers.arm(at, self)

    def _ping_gap(self) -> float:
        return self.config.ping_interval_s * random.uniform(0.75, 1.25)

    async def _keepalive_ping(self) -> None:
        """Send a ping and wait for its pong; none within pong_timeout_s stops the session (1011)."""
        try:
            with trio.move_on_after(self.config.pong_timeout_s):
                pong = await send_ping(self.ws)
                await pong.wait()
                return
            log.info("session=%s user=%s no pong within %ss: closing", self.conn_id, self.user_id, self.config.pong_timeout_s)
            self.stop(Stop(CloseCode.NO_PONG, "no pong", gone_reason="timeout"))
        except ConnectionClosed:
            # Gone while the reader may be busy with a request: end the session,
            # which cancels that request (an admission tells the account).
            self.stop(_DROPPED)
        finally:
            self._pinging = False

    def _token_step_at(self) -> float:
        """When the token needs the timers next: its warning, or (warned) its expiry; never before login."""
        if self._token_warned_due == self._token_due:
            return self._token_due
        return self._token_due - self.config.token_warning_s

    def _token_step(self, now: float) -> bool:
        """Warn or expire the token if its time has come; False once it expired (the session stops)."""
        due = self._token_due
        if now >= due:
            log.info("session=%s user=%s login=%s token expired: closing", self.conn_id, self.user_id, self.login_id)
            event = DeviceEvent(ConnectionStateChanged(0, ConnectionEvent.TOKEN_EXPIRED, KickDetail()))
            self.stop(Stop(CloseCode.TOKEN_EXPIRED, "token expired", event, gone_reason="tokenExpired"))
            return False
        if self._token_warned_due != due and now >= due - self.config.token_warning_s:
            # A full queue (a device that stopped reading) delays the warning, never the
            # expiry nor the keepalive: a warning that did not get in is tried again.
            if self.outbound.offer(DeviceEvent(TokenWillExpire(max(0, round(due - now))))) is None:
                self._token_warned_due = due
        return True

    def _set_token_expiry(self, expires_at: float) -> None:
        """Take the expiry (a Unix time) on Trio's clock, which the timers run on, and arm it."""
        now = trio.current_time()
        self._token_due = now + (expires_at - time.time())
        if self._nursery is not None:
            self._arm_timer(now)

    # ---- admission and token expiry ---------------------------------------------

    def begin_admission(self, identity: Identity) -> None:
        """Reserve the session for `identity` and make it reachable before the account answers.

        Raises AlreadyLoggedIn if this connection is logged in or logging in.
        """
        if self.identity is not None or self._admitting is not None:
            raise AlreadyLoggedIn("this connection is already logged in")
        self._admitting = identity
        # Registered before asking, so the reply and replay the account queues reach us.
        self.services.directory.register(identity.address, self)

    def admission_failed(self) -> None:
        """The account did not admit the device (or may never answer): unreachable again."""
        identity, self._admitting = self._admitting, None
        if identity is not None:
            self.services.directory.unregister(identity.address, self)

    def admitted(self, token_expires_at: float) -> Identity:
        """The account admitted the device: the identity is fixed for the session's life."""
        identity, self._admitting = self._admitting, None
        assert identity is not None, "admitted() without begin_admission()"
        self.identity = identity
        self._set_token_expiry(token_expires_at)
        return identity

    def token_renewed(self, expires_at: float) -> None:
        self._set_token_expiry(expires_at)


def _frame_of(item: bytes | DeviceEvent | Answer) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, DeviceEvent):
        return item.frame()
    return reply_ok(item.request_id, item.result)

"""Connections handed between the workers of one machine, each to the worker that owns its account.

`hubbub serve --workers N` puts N nodes behind one port, and the kernel
spreads new connections over them knowing nothing of whose they are: about
(N-1)/N of an account's devices would land on a node that does not own the
account, so each of their requests would be an ask over the bus and each
event a push over it. A client that names its account in the URL
(`/ws?user=alice`) lets the worker that accepted the connection hand it,
before reading a byte of it (the request line is only peeked at), to the
worker that owns that account in its view: the socket itself moves, over a
Unix socket (SCM_RIGHTS), and the new worker serves it as a connection it
accepted. The name is a hint, nothing more: the login still authenticates
whoever connects, and a connection that names no account, names one owned
here, arrives over TLS, or cannot be handed in time (the worker is busy,
starting, or gone) is served where it arrived.

Each worker listens on an abstract Unix socket named after the shared
address and its node name, so the workers of one supervisor find each
other and no other cluster's; what a local process could hand in through it
is a connection like any other on the public port.
"""

from __future__ import annotations

import array
import logging
import socket
from collections.abc import Callable, Sequence
from urllib.parse import parse_qs, urlsplit

import trio

log = logging.getLogger("hubbub.handoff")

_PEEK_BYTES = 2048  # a request line naming an ID of at most 128 characters (escaped: 384 bytes) is well within it
_HINT_MAX = 128  # the longest ID (PROTOCOL.md §1): a longer "user" names no account, and is ignored
_SEND_TIMEOUT_S = 1.0  # a worker that does not take a connection within this is not handed any (it is served here)
_FDS_PER_MESSAGE = 1


def socket_name(host: str, port: int, node: str) -> bytes:
    """The abstract Unix socket on which `node`, one of the workers sharing host:port, takes connections handed to it."""
    return f"\0hubbub-handoff/{host}:{port}/{node}".encode()


def account_hint(head: bytes) -> str | None:
    """The `user` query parameter of the HTTP request line `head` starts with; None without one (or without a whole line)."""
    line, end, _ = head.partition(b"\r\n")
    parts = line.split(b" ")
    if not end or len(parts) != 3 or parts[0] != b"GET":
        return None
    try:
        query = urlsplit(parts[1].decode("ascii")).query
    except (UnicodeDecodeError, ValueError):
        return None
    users = parse_qs(query).get("user", [])
    return users[0] if len(users) == 1 and 0 < len(users[0]) <= _HINT_MAX else None


class Handoff:
    """One worker's end: hands accepted connections to the worker owning their account, takes those handed to it.

    `owner(user_id)` names the node that owns an account in this worker's
    view; `serve_soon(stream)` starts serving a connection handed here (in
    the sessions' nursery, as an accepted one). Only this object's tasks
    touch its sockets.
    """

    def __init__(
        self, host: str, port: int, node: str, workers: Sequence[str],
        owner: Callable[[str], str], serve_soon: Callable[[trio.SocketStream], None],
    ) -> None:  # fmt: skip
        self.node = node
        self.names = {worker: socket_name(host, port, worker) for worker in workers}
        self.owner = owner
        self.serve_soon = serve_soon
        self._peers: dict[str, trio.socket.SocketType] = {}  # connected once, kept; dropped when a send fails
        self._locks = {worker: trio.Lock() for worker in workers}
        self.stats = {"handed": 0, "taken": 0, "handoff_failed": 0}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Take the connections other workers hand here, until cancelled. Raises OSError when the socket cannot be bound."""
        listener = trio.socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            await listener.bind(self.names[self.node])
            listener.listen(64)
            async with trio.open_nursery() as nursery:
                task_status.started()
                while True:
                    peer, _ = await listener.accept()
                    nursery.start_soon(self._take_from, peer)
        finally:
            listener.close()
            for peer in self._peers.values():
                peer.close()
            self._peers.clear()

    async def _take_from(self, peer: trio.socket.SocketType) -> None:
        """Serve each connection another worker hands over `peer`, until it hangs up."""
        with peer:
            while True:
                try:
                    data, ancillary, _, _ = await peer.recvmsg(1, socket.CMSG_SPACE(_FDS_PER_MESSAGE * 4))
                except OSError as exc:
                    log.warning("node=%s a worker's handoff socket failed: %s", self.node, exc)
                    return
                if not data:
                    return
                for fd in _fds(ancillary):
                    stream = trio.SocketStream(trio.socket.from_stdlib_socket(socket.socket(fileno=fd)))
                    self.stats["taken"] += 1
                    self.serve_soon(stream)

    async def place(self, stream: trio.SocketStream, peek_timeout_s: float) -> bool:
        """Hand `stream` to the worker owning the account its request names; False: serve it here.

        Waits at most `peek_timeout_s` (the handshake's own bound) for the
        request's first bytes, which are left unread; True too for a
        connection that sent nothing by then (the handshake would time out:
        it is closed). Waits at most `_SEND_TIMEOUT_S` for the other worker
        to take it.
        """
        head = None
        with trio.move_on_after(peek_timeout_s):
            try:
                head = await stream.socket.recv(_PEEK_BYTES, socket.MSG_PEEK)
            except OSError:
                return False  # the handshake reader meets the same error and ends the connection
        if head is None:
            return True
        user = account_hint(head)
        if user is None:
            return False
        owner = self.owner(user)
        if owner == self.node or owner not in self.names:
            return False
        try:
            with trio.fail_after(_SEND_TIMEOUT_S):
                await self._hand(owner, stream.socket.fileno())
        except (OSError, trio.TooSlowError) as exc:
            self.stats["handoff_failed"] += 1
            log.info("node=%s could not hand a connection of %r to %s (served here): %r", self.node, user, owner, exc)
            self._drop_peer(owner)
            return False
        self.stats["handed"] += 1
        return True

    async def _hand(self, worker: str, fd: int) -> None:
        async with self._locks[worker]:
            peer = self._peers.get(worker)
            if peer is None:
                peer = trio.socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                try:
                    await peer.connect(self.names[worker])
                except BaseException:
                    peer.close()
                    raise
                self._peers[worker] = peer
            await peer.sendmsg([b"c"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])

    def _drop_peer(self, worker: str) -> None:
        peer = self._peers.pop(worker, None)
        if peer is not None:
            peer.close()


def _fds(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    """The file descriptors an SCM_RIGHTS message carried (every one, so none leaks if more came than one)."""
    fds = array.array("i")
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return list(fds)

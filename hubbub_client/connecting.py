"""Opening a connection: TCP, then TLS, then the WebSocket handshake, each failure told in hubbub's words.

Exceptions (all catchable as trio_websocket.HandshakeError):

    HandshakeError
    ├── ConnectFailed       refused, unreachable, TLS failed, or the server
    │                       rejected the upgrade (status_code, body)
    └── ConnectionTimeout   no opening handshake in time (trio-websocket's)
"""

from __future__ import annotations

import ssl
from urllib.parse import quote, urlsplit

import trio
from trio_websocket import ConnectionRejected, HandshakeError, WebSocketConnection, wrap_client_stream


class ConnectFailed(HandshakeError):
    """The connection could not be opened; the message says why in one line.

    `status_code` and `body` are set when the server answered the upgrade
    with an HTTP error (404 for a wrong path, 503 when full or shutting down).
    """

    def __init__(self, message: str, *, status_code: int | None = None, body: bytes = b"") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body


def with_account_hint(url: str, user_id: str) -> str:
    """`url` naming the account that will log in through it (`?user=ID`): a cluster's workers on one machine
    serve the connection on the one that owns the account. Only a hint: the login still decides."""
    return f"{url}{'&' if '?' in url else '?'}user={quote(user_id, safe='')}"


def _split(url: str) -> tuple[str, int, str, bool]:
    """host, port, resource (path and query), TLS? Raises ConnectFailed for anything but ws:// and wss://."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ConnectFailed(f"{url!r} is not a ws:// or wss:// URL")
    tls = parts.scheme == "wss"
    try:
        port = parts.port or (443 if tls else 80)
    except ValueError:
        raise ConnectFailed(f"{url!r} has an invalid port") from None
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname, port, resource, tls


def _tls_reason(exc: BaseException | None) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the server's certificate is not trusted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    return "the server closed the connection (is it serving wss://?)"


def _os_reason(exc: OSError) -> str:
    # trio's "all attempts to connect failed" keeps each attempt's error in its cause
    attempts = exc.__cause__
    if isinstance(attempts, BaseExceptionGroup) and attempts.exceptions:
        first = attempts.exceptions[0]
        if isinstance(first, OSError):
            exc = first
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    return str(exc) or type(exc).__name__


async def open_websocket(
    nursery: trio.Nursery,
    url: str,
    ssl_context: ssl.SSLContext | None,
    *,
    message_queue_size: int,
    max_message_size: int,
) -> WebSocketConnection:
    """Open the connection to `url`; the library's reader task runs in `nursery`.

    Raises ConnectFailed for a bad URL, a refused or unreachable address or a
    failed TLS handshake. A rejected upgrade surfaces as ConnectionRejected
    from `nursery` (the library raises it in its reader task): see
    `rejection`. Has no timeout of its own.
    """
    host, port, resource, tls = _split(url)
    try:
        tcp = await trio.open_tcp_stream(host, port)
    except OSError as exc:
        raise ConnectFailed(f"cannot connect to {url}: {_os_reason(exc)}") from None
    stream: trio.SocketStream | trio.SSLStream[trio.SocketStream] = tcp
    if tls:
        stream = trio.SSLStream(tcp, ssl_context or ssl.create_default_context(), server_hostname=host, https_compatible=True)
        try:
            await stream.do_handshake()
        except trio.BrokenResourceError as exc:
            await trio.aclose_forcefully(stream)
            raise ConnectFailed(f"cannot connect to {url}: TLS handshake failed: {_tls_reason(exc.__cause__)}") from None
    host_header = host if port in (80, 443) else f"{host}:{port}"
    ws = await wrap_client_stream(
        nursery, stream, host_header, resource, message_queue_size=message_queue_size, max_message_size=max_message_size
    )
    if ws.closed is not None:
        await trio.aclose_forcefully(stream)  # the library leaves the failed stream open
        raise ConnectFailed(f"cannot connect to {url}: the connection closed during the opening handshake ({ws.closed.code})")
    return ws


def rejection(url: str, group: BaseExceptionGroup[BaseException]) -> ConnectFailed | None:
    """The ConnectFailed for a group holding only the library's ConnectionRejected, else None."""
    rejected, rest = group.split(ConnectionRejected)
    if rejected is None or rest is not None:
        return None
    first = rejected.exceptions[0]
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    assert isinstance(first, ConnectionRejected)
    body = first.body or b""
    said = body.decode(errors="replace").strip().splitlines()[:1]
    detail = f": {said[0]}" if said else ""
    return ConnectFailed(
        f"{url}: the server refused the WebSocket upgrade with HTTP {first.status_code}{detail}",
        status_code=first.status_code,
        body=body,
    )

"""One TCP port shared by several processes (SO_REUSEPORT): the kernel spreads new connections over them.

`hubbub serve --workers N` reserves the port (`reserve_port`: bound, never
listening, so it takes no connections) and each worker listens on it with
`open_shared_listeners`. Linux lets processes of one user share a port
this way only when every socket on it sets SO_REUSEPORT, so an unrelated
server cannot slip in, and a plain server (without --reuse-port) keeps
its port to itself.
"""

from __future__ import annotations

import socket

import trio
from trio import socket as tsocket

# As trio's own listeners: the system's maximum (net.core.somaxconn caps it).
_BACKLOG = 0xFFFF


async def open_shared_listeners(port: int, host: str) -> list[trio.SocketListener]:
    """Listen on `port` at each address of `host`, sharing it with other processes that do the same.

    Raises OSError when an address cannot be bound (one taken without
    SO_REUSEPORT, a bad host).
    """
    listeners: list[trio.SocketListener] = []
    try:
        for family, type_, proto, _, address in await tsocket.getaddrinfo(host, port, type=tsocket.SOCK_STREAM, flags=tsocket.AI_PASSIVE):
            sock = tsocket.socket(family, type_, proto)
            try:
                _share(sock, family)
                await sock.bind(address)
                sock.listen(_BACKLOG)
            except BaseException:
                sock.close()
                raise
            listeners.append(trio.SocketListener(sock))
    except BaseException:
        for listener in listeners:
            listener.socket.close()
        raise
    return listeners


def reserve_port(port: int, host: str) -> tuple[socket.socket, int]:
    """Bind (without listening) a socket with SO_REUSEPORT on `host`:`port`; it and the port it got.

    Holding it keeps the port for the workers that will listen on it (with
    port 0 the kernel picks one, the same for all of them); a socket that
    does not listen takes no connections. Raises OSError (port taken, bad host).
    """
    family, type_, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, type_, proto)
    try:
        _share(sock, family)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock, int(sock.getsockname()[1])


def _share(sock: tsocket.SocketType | socket.socket, family: int) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)

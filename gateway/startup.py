"""Start-up failures in the operator's words: which listener could not bind, and why."""

from __future__ import annotations

import errno
import os


class ListenFailed(OSError):
    """A listener could not bind its address; the message names which one and the address."""


def listen_failed(what: str, host: str, port: int, raised: OSError | BaseExceptionGroup[BaseException]) -> BaseException:
    """A ListenFailed for listener `what` on host:port, from the OSError the bind raised.

    A group that holds anything but OSErrors is returned as it is, to be re-raised.
    """
    exc = _only_os_error(raised)
    if exc is None:
        return raised
    if exc.errno == errno.EADDRINUSE:
        why = f"port {port} is already in use (another server, or a second hubbub?)"
    elif exc.errno == errno.EACCES:
        why = f"no permission to bind port {port}"
    elif exc.errno is not None:
        why = os.strerror(exc.errno).lower()
    else:
        why = str(exc)
    return ListenFailed(exc.errno or 0, f"{what} cannot listen on {host}:{port}: {why}")


def _only_os_error(raised: BaseException) -> OSError | None:
    """The first OSError of `raised` (through groups), or None if it holds anything else."""
    if isinstance(raised, OSError):
        return raised
    if isinstance(raised, BaseExceptionGroup):
        found = [_only_os_error(inner) for inner in raised.exceptions]
        if found and all(inner is not None for inner in found):
            return found[0]
    return None

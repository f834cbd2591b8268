"""Logs as data: every record (hubbub's and its libraries') rendered by structlog, one line each.

Fields, in JSON output real keys rather than text inside `message`:

    time, level, logger, message, exception   every line
    remote, session                           bound by the connection (contextvars)
    account, loginID, deviceID, platform      bound by a login attempt, kept once admitted
    reason, code, op, ...                     lifted from the message's `key=value` words

The project's log calls name what they are about in the message
(`account=alice login=L7 kicked reason=policy`); `_lift_fields` turns those
words into fields, so the text stays readable and the JSON is data without
editing every call. Bound context wins over words only where words are absent.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
import trio

# message word -> field name (the protocol's spelling)
_WORDS = {
    "account": "account",
    "user": "account",
    "login": "loginID",
    "device": "deviceID",
    "platform": "platform",
    "reason": "reason",
    "session": "session",
    "op": "op",
    "code": "code",
    "kind": "kind",
    "key": "key",
    "store": "store",
}
_PAIR = re.compile(r"\b([a-z]+)=(\S+)")
_REFUSED = re.compile(r"refused code=(\d+): (.+)$")
_BINDABLE = frozenset({"remote", "session", "account", "loginID", "deviceID", "platform"})


def _lift_fields(_logger: object, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """`key=value` words of the message become fields; `refused code=N: why` gives the reason too."""
    message = event.get("event")
    if not isinstance(message, str):
        return event
    for word, value in _PAIR.findall(message):
        field = _WORDS.get(word)
        if field is not None and value not in ("None", "-"):
            event[field] = value.rstrip(",;:")
    refused = _REFUSED.search(message)
    if refused:
        event["code"] = refused.group(1)
        event["reason"] = refused.group(2)
    return event


def _text_line(_logger: object, _method: str, event: MutableMapping[str, Any]) -> str:
    """time LEVEL logger message, then the bound fields the message does not already say."""
    message = str(event.pop("message", ""))
    head = f"{event.pop('time', '')} {str(event.pop('level', '')).upper()} {event.pop('logger', '')} {message}"
    said = set(_PAIR.findall(message))
    extra = [f"{k}={v}" for k, v in event.items() if k in _BINDABLE and (k, str(v)) not in said and not any(w == k for w, _ in said)]
    exception = event.get("exception")
    line = " ".join([head, *extra])
    return f"{line}\n{exception}" if exception else line


def _cancelled(error: BaseException | None, depth: int = 0) -> bool:
    """Whether `error` is, holds, or came from a trio cancellation."""
    if error is None or depth > 8:
        return False
    if isinstance(error, trio.Cancelled):
        return True
    if isinstance(error, BaseExceptionGroup) and any(_cancelled(e, depth + 1) for e in error.exceptions):
        return True
    return _cancelled(error.__cause__ or error.__context__, depth + 1)


class CancelledRedisConnect(logging.Filter):
    """coredis logs a connection attempt that a cancellation ended (the node shutting down, a bus command
    past its timeout) as an ERROR with a traceback: it is no error of its own, and the bus says in one
    line what it means to the node ("Redis unreachable"), so it is one INFO line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and record.exc_info and _cancelled(record.exc_info[1]):
            record.msg, record.args = f"{record.getMessage()} (cancelled)", None
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
        return True


def configure(level: str, fmt: str) -> None:
    """Send every log record to stderr as text lines or JSON objects (`fmt` "text" or "json"), at `level` and above."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
        _lift_fields,
        structlog.processors.format_exc_info,
        structlog.processors.EventRenamer("message"),
    ]
    renderer: Any = structlog.processors.JSONRenderer(ensure_ascii=False) if fmt == "json" else _text_line
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)  # library warnings go out in the same format
    redis_client = logging.getLogger("coredis")
    if not any(isinstance(f, CancelledRedisConnect) for f in redis_client.filters):
        redis_client.addFilter(CancelledRedisConnect())


def bind_connection(session: int, remote: str) -> None:
    """Name the connection in every record of this task (and the tasks it starts from now on)."""
    structlog.contextvars.bind_contextvars(session=session, remote=remote)


def bind_login(account: str, device_id: str | None, platform: str, login_id: str | None = None) -> None:
    """Name the account and device a login is for (and, once admitted, its loginID) in this task's records."""
    fields: dict[str, Any] = {"account": account, "platform": platform}
    if device_id:
        fields["deviceID"] = device_id
    if login_id:
        fields["loginID"] = login_id
    structlog.contextvars.bind_contextvars(**fields)


def remote_of(ws: object) -> str:
    """The peer's address as host:port (what trio-websocket knows of it)."""
    remote = getattr(ws, "remote", None)
    address, port = getattr(remote, "address", None), getattr(remote, "port", None)
    if address is None:
        return str(remote)
    return f"[{address}]:{port}" if ":" in str(address) else f"{address}:{port}"

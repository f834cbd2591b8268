"""A tiny terminal client for the README demo: log in, print every event, print the close code.

    python scripts/chat.py alice --platform iOS                  # secret from ./data/auth-secret
    python scripts/chat.py alice --platform Android --secret S --url ws://127.0.0.1:8765/ws

Each event is printed as one line, `event NAME {json}`; when the server
closes the connection it prints `closed CODE` and exits. A line typed on
stdin is sent as a request, `OP {json fields}` (e.g. `queryDevices` or
`sendMessage {"toConversationID": "bob", "conversationType": 0,
"message": {"type": 1, "message": "hi"}}`), and its reply is printed as
`reply {json}`. Ctrl-C (or typing `logout`) logs out and leaves. A mistake
(no secret, a bad --ttl or user ID, an unreachable or wrong URL, a
certificate not trusted: pass --ca) is told in one line.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import trio
from trio_websocket import HandshakeError

from hubbub_client import Client, ClientError, Disconnected
from gateway.auth import mint_token, parse_ttl

_SECRET_FILE = "auth-secret"  # what `hubbub serve` writes into its data dir


def _json(value: Any) -> str:
    """One line of JSON; bytes are shown as base64 text."""

    def fallback(item: object) -> object:
        if isinstance(item, bytes):
            return {"base64": base64.b64encode(item).decode()}
        return repr(item)

    return json.dumps(value, default=fallback, ensure_ascii=False, separators=(",", ":"))


def _say(line: str) -> None:
    print(line, flush=True)


def read_secret(args: argparse.Namespace) -> str:
    """The server's auth secret: --secret, HUBBUB_AUTH_SECRET, or DATA_DIR/auth-secret.

    Raises SystemExit with a hint when none is found.
    """
    if args.secret:
        return str(args.secret)
    if os.environ.get("HUBBUB_AUTH_SECRET"):
        return os.environ["HUBBUB_AUTH_SECRET"]
    path: Path = args.data_dir / _SECRET_FILE
    if not path.is_file():
        raise SystemExit(f"chat.py: no secret: pass --secret, set HUBBUB_AUTH_SECRET, or run `hubbub serve --data-dir {args.data_dir}` first")
    return path.read_text().strip()


async def _print_events(client: Client) -> None:
    """Print each event as one line until the connection closes."""
    async for event in client.events():
        _say(f"event {event.get('ev')} {_json(event)}")


async def _send_lines(client: Client) -> None:
    """Send each stdin line `OP {json}` as a request; stops at end of input."""
    while True:
        line = await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
        if not line:
            return
        op, _, rest = line.strip().partition(" ")
        if not op:
            continue
        try:
            fields = json.loads(rest) if rest.strip() else {}
            if not isinstance(fields, dict):
                raise ValueError("fields must be a JSON object")
        except ValueError as exc:
            _say(f"error: {exc}; type `OP {{json fields}}`")
            continue
        try:
            _say(f"reply {_json(await client.request_frame(op, **fields))}")
        except (Disconnected, trio.TooSlowError) as exc:
            _say(f"error: {op}: {exc}")


async def chat(args: argparse.Namespace, token: str, ssl_context: ssl.SSLContext | None) -> int:
    """Log in and print until the server closes or Ctrl-C; returns the exit status.

    Ctrl-C (SIGINT) or SIGTERM logs out first, so the server and the other
    devices see a logout, not a dropped connection.
    """
    leaving = _Leaving()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            client = Client(args.url, nursery, ssl_context=ssl_context)
            nursery.start_soon(_leave_on_signal, signals, client, leaving, nursery.cancel_scope)
            status = await _session(args, client, token)
            if leaving.started.is_set():  # the logout closed the session: let it finish its lines
                await leaving.done.wait()
            nursery.cancel_scope.cancel()
    return 130 if leaving.started.is_set() else status


class _Leaving:
    """Whether a signal started the logout, and when it has finished."""

    def __init__(self) -> None:
        self.started = trio.Event()
        self.done = trio.Event()


async def _session(args: argparse.Namespace, client: Client, token: str) -> int:
    try:
        await client.connect()
        reply = await client.login(args.user_id, token, platform=args.platform, device_id=args.device_id, device_name=args.device_name)
    except HandshakeError as exc:  # ConnectFailed, ConnectionTimeout: the message says why
        hint = " (trust its CA with --ca FILE)" if "not trusted" in str(exc) else ""
        _say(f"error: {exc}{hint}")
        return 1
    except (ClientError, Disconnected, trio.TooSlowError) as exc:
        _say(f"error: login failed: {exc}")
        await client.close()
        return 1
    _say(f"logged in {_json(reply)}")
    async with trio.open_nursery() as nursery:
        if not args.no_input:
            nursery.start_soon(_send_lines, client)
        await _print_events(client)  # returns once closed and every event is printed
        _say(f"closed {client.close_code}")
        nursery.cancel_scope.cancel()
    return 0


async def _leave_on_signal(signals: AsyncIterator[int], client: Client, leaving: _Leaving, scope: trio.CancelScope) -> None:
    """On the first SIGINT/SIGTERM: log out if logged in, close, and end the chat."""
    async for _ in signals:
        leaving.started.set()
        if client.login_id is not None and not client.closed_event.is_set():
            try:
                await client.request("logout", timeout=5)
                _say("logged out")
            except (ClientError, Disconnected, trio.TooSlowError) as exc:
                _say(f"error: logout: {exc}")
        await client.close()
        leaving.done.set()
        scope.cancel()
        return


def _ssl_context(ca: Path | None) -> ssl.SSLContext | None:
    """Trust `ca` (a PEM file) for wss://, or the system's CAs if None."""
    if ca is None:
        return None
    return ssl.create_default_context(cafile=str(ca))


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and chat until the server closes or Ctrl-C."""
    parser = argparse.ArgumentParser(description="hubbub terminal client: log in, print events and the close code")
    parser.add_argument("user_id", metavar="USER_ID")
    parser.add_argument("--platform", default="iOS", help="Android, iOS, HarmonyOS, Windows, Mac, Linux, iPad, Web, MiniProgram (default %(default)s)")
    parser.add_argument("--url", default="ws://127.0.0.1:8765/ws", help="server WebSocket URL (default %(default)s)")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="the server's data dir, to read its auth-secret (default %(default)s)")
    parser.add_argument("--secret", help="the server's auth secret (instead of --data-dir)")
    parser.add_argument("--device-id", help="stable device ID (default: the server makes one)")
    parser.add_argument("--device-name", default="chat.py", help="device name shown to other devices (default %(default)s)")
    parser.add_argument("--ttl", default="1h", help="token lifetime: 90s, 15m, 1h (default %(default)s)")
    parser.add_argument("--no-input", action="store_true", help="do not read requests from stdin")
    parser.add_argument("--ca", type=Path, help="PEM file of the CA that signed the server's certificate (wss://)")
    args = parser.parse_args(argv)
    secret = read_secret(args)
    try:
        ttl = parse_ttl(args.ttl)
    except ValueError:
        raise SystemExit(f"chat.py: --ttl {args.ttl!r}: use a positive number of seconds or 90s, 15m, 1h, 7d") from None
    try:
        token = mint_token(secret, args.user_id, ttl)
    except ValueError as exc:  # a user ID the server would refuse
        raise SystemExit(f"chat.py: {exc}") from None
    try:
        context = _ssl_context(args.ca)
    except ssl.SSLError as exc:  # before OSError: SSLError is one
        raise SystemExit(f"chat.py: --ca {args.ca}: not a PEM certificate ({exc.reason})") from None
    except OSError as exc:
        raise SystemExit(f"chat.py: --ca {args.ca}: {exc.strerror or exc}") from None
    return trio.run(chat, args, token, context)


if __name__ == "__main__":
    sys.exit(main())

"""Logs as data: in JSON output the account, loginID, deviceID, platform, remote address and reason are fields."""

from __future__ import annotations

import json
import logging
import signal
from pathlib import Path
from typing import Any

import pytest
import trio

from gateway.logs import CancelledRedisConnect
from hubbub_client import ClientError, open_client

from .cli_support import SECRET, mint, serve_subprocess


def _entries(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


async def test_json_logs_carry_who_and_from_where_as_fields(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with serve_subprocess(tmp_path, "--policy", "single", "--log-format", "json") as server:
            good = (await mint("alice", "--auth-secret", SECRET)).stdout.decode().strip()
            async with open_client(server.ws_url) as phone, open_client(server.ws_url) as mallory:
                await phone.login("alice", good, platform="iOS", device_id="phone-1")
                phone_port = phone.ws.local.port if phone.ws is not None else None  # type: ignore[union-attr]
                with pytest.raises(ClientError):
                    await mallory.login("alice", "not.a.jwt", platform="Web", device_id="web-9")
                mallory_port = mallory.ws.local.port if mallory.ws is not None else None  # type: ignore[union-attr]
                async with open_client(server.ws_url) as tablet:
                    await tablet.login("alice", good, platform="Android", device_id="tab-2")  # kicks the phone (single)
                    assert await phone.closed(timeout=10) == 4000
            server.process.send_signal(signal.SIGTERM)
            with trio.fail_after(10):
                await server.process.wait()
            entries = _entries(server.stderr())
        assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)

        refused = [e for e in entries if "refused" in e["message"] and e.get("op") == "login"]
        assert len(refused) == 1, entries
        (why,) = refused
        assert why["account"] == "alice" and why["platform"] == "Web" and why["deviceID"] == "web-9"
        assert why["remote"] == f"127.0.0.1:{mallory_port}"
        assert why["code"] == "2002" and why["reason"] == "invalid token: it is not a well-formed JWT"

        logged_in = [e for e in entries if e["message"].endswith("(1 online)") and "logged in" in e["message"]]
        assert logged_in and logged_in[0]["account"] == "alice" and logged_in[0]["platform"] == "iOS"
        assert logged_in[0]["deviceID"] == "phone-1" and logged_in[0]["loginID"].startswith("local-")
        kicked = [e for e in entries if "kicked" in e["message"]]
        assert kicked and kicked[0]["account"] == "alice" and kicked[0]["reason"] == "policy"
        assert kicked[0]["loginID"] == logged_in[0]["loginID"]
        # a session's own lines name the connection it is about
        assert any(e.get("remote") == f"127.0.0.1:{phone_port}" for e in entries)


async def test_a_redis_connection_attempt_ended_by_a_cancellation_is_one_info_line() -> None:
    """coredis logs it as an ERROR with a traceback (a node shutting down cancels its bus); any other failure keeps both."""
    caught: list[BaseException] = []
    with trio.CancelScope() as scope:
        scope.cancel()
        try:
            await trio.sleep(1)
        except trio.Cancelled as exc:
            caught.append(exc)
            raise
    try:
        raise ConnectionError("Unable to establish a connection") from caught[0]
    except ConnectionError as failed:
        cancelled = logging.LogRecord("coredis", logging.ERROR, __file__, 1, "Connection attempt failed unexpectedly!", None, (ConnectionError, failed, failed.__traceback__))
    other = logging.LogRecord("coredis", logging.ERROR, __file__, 1, "Connection attempt failed unexpectedly!", None, (OSError, OSError("refused"), None))
    keep = CancelledRedisConnect()
    assert keep.filter(cancelled) and keep.filter(other)
    assert (cancelled.levelname, cancelled.exc_info, cancelled.getMessage()) == ("INFO", None, "Connection attempt failed unexpectedly! (cancelled)")
    assert other.levelname == "ERROR" and other.exc_info is not None

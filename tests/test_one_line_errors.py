"""Every documented user mistake is told in one line, in hubbub's words, with no traceback.

The command line (`hubbub`, `scripts/chat.py`) runs as a real subprocess in
real time; the client library is checked in process against a real server.
"""

from __future__ import annotations

import logging
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trustme
from trio_websocket import HandshakeError

from gateway.server import Gateway
from hubbub_client import ClientError, ConnectFailed, open_client

from .cli_support import ADMIN_TOKEN, REPO, SECRET, Lines, hubbub_command, hubbub_env, run_hubbub
from .conftest import SECRET as SERVER_SECRET
from .conftest import StartServer, token
from .test_tls import _server_files, _trusting


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port some other program listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


_LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\dT\S+ (DEBUG|INFO) ")  # start-up log lines before the mistake


def _one_line(result: subprocess.CompletedProcess[bytes]) -> str:
    """The one line the command wrote to stderr besides start-up log records (it exited with 2, no traceback)."""
    text = result.stderr.decode()
    lines = [line for line in text.splitlines() if not _LOG_RECORD.match(line)]
    assert result.returncode == 2, text
    assert len(lines) == 1 and result.stdout == b"" and "Traceback" not in text, text
    return lines[0]


def _serve_args(data_dir: Path, *extra: str) -> list[str]:
    return ["serve", "--data-dir", str(data_dir), "--auth-secret", SECRET, "--admin-token", ADMIN_TOKEN, *extra]


async def test_ports_in_use_are_named(tmp_path: Path, taken_port: int) -> None:
    with trio.fail_after(60):
        ws = await run_hubbub(*_serve_args(tmp_path / "a", "--port", str(taken_port), "--admin-port", "0"))
        assert _one_line(ws) == (
            f"hubbub: WebSocket cannot listen on 127.0.0.1:{taken_port}: port {taken_port} is already in use"
            " (another server, or a second hubbub?)"
        )
        admin = await run_hubbub(*_serve_args(tmp_path / "b", "--port", "0", "--admin-port", str(taken_port)))
        assert _one_line(admin) == (
            f"hubbub: admin API cannot listen on 127.0.0.1:{taken_port}: port {taken_port} is already in use"
            " (another server, or a second hubbub?)"
        )


async def test_unusable_data_dirs(tmp_path: Path) -> None:
    with trio.fail_after(60):
        a_file = tmp_path / "not-a-dir"
        a_file.write_text("x")
        wrong = await run_hubbub(*_serve_args(a_file, "--port", "0", "--admin-port", "0"))
        assert _one_line(wrong) == f"hubbub: --data-dir {a_file} is not a directory"

        # a read-only data dir: a read-only bind mount in a mount namespace of its own
        read_only = tmp_path / "read-only"
        read_only.mkdir()
        command = " ".join(hubbub_command(*_serve_args(read_only, "--port", "0", "--admin-port", "0")))
        mounted = await trio.run_process(
            ["unshare", "-rm", "sh", "-c", f"mount --bind {read_only} {read_only} && mount -o remount,bind,ro {read_only} && exec {command}"],
            capture_stdout=True, capture_stderr=True, check=False, cwd=REPO, env=hubbub_env(),
        )
        assert _one_line(mounted) == f"hubbub: {read_only}/hubbub.lock: read-only file system"


async def test_bad_options_and_token_requests() -> None:
    # each run is bounded on its own (cli_support.ONE_RUN_S)
    level = await run_hubbub("serve", "--log-level", "bogus")
    assert _one_line(level) == "hubbub: --log-level: 'BOGUS' is not one of DEBUG, INFO, WARNING, ERROR"
    bad_id = await run_hubbub("token", "bad id", "--auth-secret", SECRET)
    assert _one_line(bad_id) == "hubbub: user ID 'bad id' is not valid: use 1-128 of A-Z a-z 0-9 _ . @ : -"
    for ttl in ("0s", "-5m", "nan", "soon"):
        refused = await run_hubbub("token", "alice", f"--ttl={ttl}", "--auth-secret", SECRET)
        assert _one_line(refused) == f"hubbub: --ttl {ttl!r}: use a positive number of seconds or 90s, 15m, 1h, 7d"


# ---- the client library ------------------------------------------------------


async def test_client_failures_are_caught_by_their_documented_type(start_server: StartServer, tmp_path: Path) -> None:
    server = await start_server("multi")
    assert server.listening is not None
    wrong_path = server.listening.ws_url.replace("/ws", "/chat")
    with trio.fail_after(20):
        with pytest.raises(HandshakeError) as caught:  # the documented catch-all, straight out of open_client
            async with open_client(wrong_path):
                raise AssertionError("connected to a wrong path")
        assert isinstance(caught.value, ConnectFailed) and caught.value.status_code == 404
        assert str(caught.value) == f"{wrong_path}: the server refused the WebSocket upgrade with HTTP 404: hubbub serves WebSocket at /ws"

        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            nobody = f"ws://127.0.0.1:{closed.getsockname()[1]}/ws"
        with pytest.raises(ConnectFailed, match=r": connection refused \(is the server running\?\)$"):
            async with open_client(nobody):
                raise AssertionError("connected to a closed port")

        # errors raised inside the block come out as themselves too
        async with open_client(server.listening.ws_url) as client:
            with pytest.raises(ClientError) as refused:
                await client.login("alice", "not.a.jwt", platform="iOS")
            assert refused.value.message == "invalid token: it is not a well-formed JWT"
            with pytest.raises(ClientError) as refused:
                await client.login("bad id", token("alice"), platform="iOS")
            assert "regex" not in refused.value.message and "(field `userID`)" in refused.value.message
        with pytest.raises(ClientError):
            async with open_client(server.listening.ws_url) as client:
                await client.request("queryDevices")  # not logged in


async def test_untrusted_certificate_is_named(start_server: StartServer, tmp_path: Path) -> None:
    ca = trustme.CA()
    chain, key = _server_files(ca, tmp_path)
    server = await start_server("multi", tls_cert=chain, tls_key=key)
    assert server.listening is not None
    with trio.fail_after(20):
        with pytest.raises(ConnectFailed) as caught:
            async with open_client(server.listening.ws_url):
                raise AssertionError("trusted a certificate of an unknown CA")
        assert "TLS handshake failed: the server's certificate is not trusted (" in str(caught.value)
        async with open_client(server.listening.ws_url, ssl_context=_trusting(ca)) as client:
            await client.login("alice", token("alice"), platform="Mac")


# ---- scripts/chat.py ---------------------------------------------------------


def _chat(*args: str) -> list[str]:
    return [sys.executable, str(REPO / "scripts" / "chat.py"), *args]


async def _run_chat(*args: str) -> subprocess.CompletedProcess[bytes]:
    return await trio.run_process(_chat(*args), capture_stdout=True, capture_stderr=True, check=False, cwd=REPO, env=hubbub_env())


async def test_chat_mistakes_are_one_line(start_server: StartServer, tmp_path: Path) -> None:
    server = await start_server("multi")
    assert server.listening is not None
    url = server.listening.ws_url
    with trio.fail_after(60):
        wrong = await _run_chat("alice", "--secret", SERVER_SECRET, "--url", url.replace("/ws", "/"), "--no-input")
        assert wrong.returncode == 1 and wrong.stderr == b""
        assert wrong.stdout.decode().splitlines() == [
            f"error: {url.replace('/ws', '/')}: the server refused the WebSocket upgrade with HTTP 404: hubbub serves WebSocket at /ws"
        ]
        ttl = await _run_chat("alice", "--secret", SERVER_SECRET, "--url", url, "--ttl", "0s")
        assert ttl.returncode == 1 and ttl.stdout == b""
        assert ttl.stderr.decode().splitlines() == ["chat.py: --ttl '0s': use a positive number of seconds or 90s, 15m, 1h, 7d"]
        bad_id = await _run_chat("bad id", "--secret", SERVER_SECRET, "--url", url)
        assert bad_id.stderr.decode().splitlines() == ["chat.py: user ID 'bad id' is not valid: use 1-128 of A-Z a-z 0-9 _ . @ : -"]

        ca = trustme.CA()
        chain, key = _server_files(ca, tmp_path)
        tls = await start_server("multi", tls_cert=chain, tls_key=key)
        assert tls.listening is not None
        untrusted = await _run_chat("alice", "--secret", SERVER_SECRET, "--url", tls.listening.ws_url, "--no-input")
        assert untrusted.returncode == 1 and untrusted.stderr == b""
        (line,) = untrusted.stdout.decode().splitlines()
        assert "TLS handshake failed: the server's certificate is not trusted (" in line
        assert line.endswith("(trust its CA with --ca FILE)")


async def test_chat_ctrl_c_logs_out(server: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    assert server.listening is not None
    caplog.set_level(logging.INFO, logger="hubbub.account")
    with trio.fail_after(60):
        process = await trio.lowlevel.open_process(
            _chat("alice", "--secret", SERVER_SECRET, "--url", server.listening.ws_url, "--no-input"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=hubbub_env(),
        )
        try:
            assert process.stdout is not None and process.stderr is not None
            lines = Lines(process.stdout)
            assert (await lines.next(timeout=20)).startswith("logged in ")
            process.send_signal(signal.SIGINT)
            assert await lines.next(timeout=10) == "logged out"
            with trio.fail_after(10):
                await process.wait()
            assert process.returncode == 130
            assert await process.stderr.receive_some(65536) == b""  # no traceback
        finally:
            if process.returncode is None:
                process.kill()
                with trio.move_on_after(5, shield=True):
                    await process.wait()
        offline = [r.getMessage() for r in caplog.records if "offline" in r.getMessage()]
        assert len(offline) == 1 and offline[0].startswith("account=alice ") and "reason=logout" in offline[0]

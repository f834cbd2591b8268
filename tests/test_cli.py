"""The `hubbub` command line as a real subprocess (PROTOCOL.md §2, §14).

These run in real time (a subprocess has no mock clock), so there are few of
them and every wait is bounded.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
import trio

from hubbub_client import ClientError, open_client

from .cli_support import ADMIN_TOKEN, JWT, LISTENING, REPO, SECRET, Lines, hubbub_command, hubbub_env, mint, run_hubbub, serve_subprocess


async def test_serve_token_login_and_sigterm_shutdown(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with serve_subprocess(tmp_path, "--policy", "multi", "--log-format", "json") as server:
            minted = await mint("alice", "--ttl", "1h", "--auth-secret", SECRET)
            assert minted.returncode == 0, minted.stderr
            alice_token = minted.stdout.decode().strip()
            assert JWT.match(alice_token), alice_token
            forged = (await mint("alice", "--ttl", "1h", "--auth-secret", "some-other-secret-also-long-enough")).stdout

            async with open_client(server.ws_url) as alice, open_client(server.ws_url) as mallory:
                reply = await alice.login("alice", alice_token, platform="Mac", device_id="laptop")
                assert [d["deviceID"] for d in reply["devices"]] == ["laptop"]
                with pytest.raises(ClientError) as refused:
                    await mallory.login("alice", forged.decode().strip(), platform="Web")
                assert refused.value.code == 2002

                async with httpx.AsyncClient(base_url=server.admin_url, timeout=10) as admin:
                    assert (await admin.get("/healthz")).status_code == 200
                    response = await admin.get(
                        "/v1/users/alice/devices", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
                    )
                    assert [d["loginID"] for d in response.json()["devices"]] == [alice.login_id]

                server.process.send_signal(signal.SIGTERM)
                signalled_at = trio.current_time()
                assert await alice.closed(timeout=5) == 4004
                with trio.fail_after(5):
                    await server.process.wait()
                assert trio.current_time() - signalled_at < 5
                assert server.process.returncode == 0, server.stderr()
                # --log-format json: every line one object, the login and the shutdown among them
                entries = [json.loads(line) for line in server.stderr().splitlines()]
                assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
                assert any(e["logger"] == "hubbub.account" and "logged in" in e["message"] for e in entries)
                assert any(e["logger"] == "hubbub.cli" and "SIGTERM" in e["message"] for e in entries)


async def test_sigint_shuts_down_cleanly_and_secrets_are_kept_in_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data2"
    with trio.fail_after(60):
        stderr_path = tmp_path / "serve2.stderr"
        with open(stderr_path, "wb") as stderr:  # noqa: ASYNC230  a local file, opened once to be the child's stderr
            process = await trio.lowlevel.open_process(
                hubbub_command("serve", "--port", "0", "--admin-port", "0", "--data-dir", str(data_dir)),
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=REPO,
                env=hubbub_env(),
            )
        try:
            assert process.stdout is not None
            line = await Lines(process.stdout).next(timeout=20)
            match = LISTENING.match(line)
            assert match, (line, stderr_path.read_text())
            # no secret given: serve made one (mode 600), and `token` finds it there
            secret_file = data_dir / "auth-secret"
            assert secret_file.stat().st_mode & 0o777 == 0o600
            minted = await mint("bob", "--ttl", "90s", "--data-dir", str(data_dir))
            assert minted.returncode == 0, minted.stderr
            async with open_client(match.group(1)) as bob:
                await bob.login("bob", minted.stdout.decode().strip(), platform="Linux")
                process.send_signal(signal.SIGINT)
                assert await bob.closed(timeout=5) == 4004
            with trio.fail_after(5):
                await process.wait()
            assert process.returncode == 0, stderr_path.read_text()
        finally:
            if process.returncode is None:
                process.kill()
                with trio.move_on_after(5, shield=True):
                    await process.wait()


async def test_help_and_token_errors() -> None:
    shown = await run_hubbub("--help")
    text = shown.stdout.decode()
    assert shown.returncode == 0
    assert "serve" in text and "token" in text
    shown = await run_hubbub("serve", "--help")
    assert shown.returncode == 0
    for option in ("--port", "--admin-port", "--data-dir", "--auth-secret", "--admin-token", "--policy"):
        assert option in shown.stdout.decode()
    bad_ttl = await run_hubbub("token", "carol", "--ttl", "soon", "--auth-secret", SECRET)
    assert bad_ttl.returncode == 2 and b"--ttl" in bad_ttl.stderr
    no_secret = await run_hubbub("token", "carol", "--data-dir", "/nonexistent/hubbub-test")
    assert no_secret.returncode == 2 and b"secret" in no_secret.stderr
    for tls in (["--tls-key", "key.pem"], ["--tls-cert", "/nonexistent/hubbub-test/cert.pem"]):
        refused = await run_hubbub(
            "serve", "--port", "0", "--admin-port", "0", "--data-dir", "/nonexistent/hubbub-test", *tls
        )
        assert refused.returncode == 2 and b"--tls-" in refused.stderr, refused.stderr


async def test_backup_while_serving_restores_every_message(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with serve_subprocess(tmp_path, "--policy", "multi") as server:
            tokens = {u: (await mint(u, "--auth-secret", SECRET)).stdout.decode().strip() for u in ("alice", "bob")}
            async with open_client(server.ws_url) as alice:
                await alice.login("alice", tokens["alice"], platform="Mac")
                sent = []
                for n in range(30):
                    reply = await alice.request("sendMessage", toConversationID="bob", conversationType=0, message={"type": 1, "message": f"m{n}"})
                    sent.append(reply["message"]["messageID"])
                copy = tmp_path / "restored" / "hubbub.sqlite3"  # the directory is made for it
                made = await trio.run_process(
                    hubbub_command("backup", str(copy), "--data-dir", str(tmp_path / "data")),
                    capture_stdout=True, capture_stderr=True, check=False, cwd=REPO, env=hubbub_env(),
                )
                assert made.returncode == 0, made.stderr
                assert b"backed up" in made.stderr and copy.is_file()
                assert not copy.with_name("hubbub.sqlite3.partial").exists()
                # the server went on serving meanwhile
                assert (await alice.request("queryDevices"))["ok"]

        restored = tmp_path / "restored"
        async with serve_subprocess(restored.parent, "--policy", "multi", "--data-dir", str(restored)) as again:
            async with open_client(again.ws_url) as bob:
                await bob.login("bob", tokens["bob"], platform="Web")
                reply = await bob.request("queryHistoryMessage", conversationID="alice", conversationType=0, config={"count": 100, "reverse": True})
                assert [m["messageID"] for m in reply["messageList"]] == sent

        missing = await trio.run_process(
            hubbub_command("backup", str(tmp_path / "x.sqlite3"), "--data-dir", str(tmp_path / "nowhere")),
            capture_stdout=True, capture_stderr=True, check=False, cwd=REPO, env=hubbub_env(),
        )
        assert missing.returncode == 2 and b"no store" in missing.stderr

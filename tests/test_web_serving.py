"""`hubbub serve` serves the browser app and, on loopback only, its demo sign-in (gateway/webapp.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trio

from gateway.server import Gateway

from .conftest import ADMIN_TOKEN, Connect, StartServer

REPO = Path(__file__).resolve().parent.parent
INDEX = "<!doctype html><title>hubbub</title><script type=module src=./assets/app.js></script>"


@pytest.fixture
def built_app(tmp_path: Path) -> Path:
    """A stand-in for web/app/dist: an index page and one asset."""
    app = tmp_path / "dist"
    (app / "assets").mkdir(parents=True)
    (app / "index.html").write_text(INDEX)
    (app / "assets" / "app.js").write_text("console.log('hubbub')\n")
    return app


async def _http(gateway: Gateway) -> httpx.AsyncClient:
    assert gateway.listening is not None and gateway.listening.admin_url is not None
    return httpx.AsyncClient(base_url=gateway.listening.admin_url, timeout=10)


async def test_app_files_and_settings_need_no_admin_token(start_server: StartServer, built_app: Path) -> None:
    with trio.fail_after(20):
        gateway = await start_server("multi", web_app_dir=built_app)
        assert gateway.listening is not None
        async with await _http(gateway) as http:
            moved = await http.get("/app")
            assert moved.status_code == 308 and moved.headers["location"].endswith("/app/")
            index = await http.get("/app/")
            assert index.status_code == 200 and index.text == INDEX
            asset = await http.get("/app/assets/app.js")
            assert asset.status_code == 200 and "hubbub" in asset.text
            assert (await http.get("/app/assets/missing.js")).status_code == 404
            settings = (await http.get("/app/config.json")).json()
            assert settings == {"wsURL": gateway.listening.ws_url, "demoSignin": False}
            # the admin API keeps its bearer token
            assert (await http.get("/v1/stats")).status_code == 401
            assert (await http.get("/v1/stats", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})).status_code == 200


async def test_demo_signin_is_off_by_default(start_server: StartServer, built_app: Path) -> None:
    with trio.fail_after(20):
        gateway = await start_server("multi", web_app_dir=built_app)
        async with await _http(gateway) as http:
            refused = await http.post("/app/demo-signin", json={"userID": "alice"})
            assert refused.status_code == 404
            assert "off" in refused.json()["error"]


async def test_demo_signin_mints_a_token_that_logs_in(start_server: StartServer, built_app: Path, connect: Connect) -> None:
    with trio.fail_after(20):
        gateway = await start_server("multi", web_app_dir=built_app, demo_signin=True)
        async with await _http(gateway) as http:
            assert (await http.get("/app/config.json")).json()["demoSignin"] is True
            minted = await http.post("/app/demo-signin", json={"userID": "alice"})
            assert minted.status_code == 200
            body = minted.json()
            assert body["userID"] == "alice" and body["expiresInSeconds"] == 3600
            client = await connect(gateway)
            reply = await client.login("alice", body["token"], platform="Web", device_id="tab-1")
            assert [d["deviceID"] for d in reply["devices"]] == ["tab-1"]


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b'{"userID": "alice"}', {"content-type": "text/plain"}, 415),
        (b"userID=alice", {"content-type": "application/x-www-form-urlencoded"}, 415),
        (b"{not json", {"content-type": "application/json"}, 400),
        (b'["alice"]', {"content-type": "application/json"}, 400),
        (b'{"userID": ""}', {"content-type": "application/json"}, 400),
        (b'{"userID": "has space"}', {"content-type": "application/json"}, 400),
        (b'{"userID": 7}', {"content-type": "application/json"}, 400),
        (b'{"userID": "' + b"a" * 5000 + b'"}', {"content-type": "application/json"}, 413),
    ],
)
async def test_demo_signin_refuses_bad_requests(
    start_server: StartServer, built_app: Path, content: bytes, headers: dict[str, str], status: int
) -> None:
    with trio.fail_after(20):
        gateway = await start_server("multi", web_app_dir=built_app, demo_signin=True)
        async with await _http(gateway) as http:
            refused = await http.post("/app/demo-signin", content=content, headers=headers)
            assert refused.status_code == status
            assert "token" not in refused.json() and refused.json()["error"]
            # and the route still works for the next, good request
            assert (await http.post("/app/demo-signin", json={"userID": "bob"})).status_code == 200


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HUBBUB_")}


async def test_cli_refuses_demo_signin_off_loopback(tmp_path: Path) -> None:
    with trio.fail_after(30):
        data = tmp_path / "data"
        done = await trio.run_process(
            [sys.executable, "-m", "gateway.cli", "serve", "--demo-signin", "--admin-host", "0.0.0.0", "--port", "0",
             "--admin-port", "0", "--data-dir", str(data)],
            capture_stdout=True, capture_stderr=True, check=False, cwd=REPO, env=_env(),
        )
        assert done.returncode == 2
        lines = done.stderr.decode().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("hubbub: --demo-signin") and "'0.0.0.0'" in lines[0], lines
        assert not data.exists()  # refused before anything was written


async def test_cli_refuses_an_unbuilt_app_dir(tmp_path: Path) -> None:
    with trio.fail_after(30):
        done = await trio.run_process(
            [sys.executable, "-m", "gateway.cli", "serve", "--web-app", str(tmp_path / "nothing"), "--port", "0",
             "--admin-port", "0", "--data-dir", str(tmp_path / "data")],
            capture_stdout=True, capture_stderr=True, check=False, cwd=REPO, env=_env(),
        )
        assert done.returncode == 2
        lines = done.stderr.decode().strip().splitlines()
        assert len(lines) == 1 and "--web-app" in lines[0] and "make web" in lines[0], lines


async def _lines(stream: trio.abc.ReceiveStream, count: int) -> AsyncIterator[str]:
    buffer = b""
    while count:
        while b"\n" not in buffer:
            chunk = await stream.receive_some(4096)
            assert chunk, f"stdout closed; unread: {buffer!r}"
            buffer += chunk
        line, _, buffer = buffer.partition(b"\n")
        count -= 1
        yield line.decode()


async def test_cli_prints_the_app_url_on_its_own_line(tmp_path: Path, built_app: Path) -> None:
    with trio.fail_after(30):
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "gateway.cli", "serve", "--web-app", str(built_app), "--demo-signin", "--port", "0",
             "--admin-port", "0", "--data-dir", str(tmp_path / "data"), "--auth-secret", "s" * 40, "--admin-token", "t"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO, env=_env(),
        )
        try:
            assert process.stdout is not None
            listening, app = [line async for line in _lines(process.stdout, 2)]
            assert listening.startswith("hubbub listening ws://127.0.0.1:") and " admin http://127.0.0.1:" in listening
            admin_url = listening.rsplit(" ", 1)[1]
            assert app == f"hubbub web app {admin_url}/app/"
            async with httpx.AsyncClient(base_url=admin_url, timeout=10) as http:
                assert (await http.get("/app/")).text == INDEX
                assert (await http.post("/app/demo-signin", json={"userID": "carol"})).status_code == 200
        finally:
            process.terminate()
            with trio.move_on_after(10, shield=True):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()

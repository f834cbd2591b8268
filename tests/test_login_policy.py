"""Login policies over real WebSockets (PROTOCOL.md §3)."""

from __future__ import annotations

import trio

from hubbub_client import ClientError

from .conftest import Login, StartServer


async def test_zim_example_fourth_login_kicks_the_oldest(start_server: StartServer, login: Login) -> None:
    from actors.account.policy import LoginPolicy

    server = await start_server(LoginPolicy.from_json({"mode": "multi", "maxDevices": 3}))
    with trio.fail_after(30):
        a = await login(server, "u1", device="A", platform="iOS")
        b = await login(server, "u1", device="B", platform="Android")
        c = await login(server, "u1", device="C", platform="Windows")
        d = await login(server, "u1", device="D", platform="Mac")
        kicked = await a.next_event("connectionStateChanged")
        assert (kicked["state"], kicked["event"]) == (0, 4)
        assert kicked["extendedData"] == {"reason": "policy", "byLoginID": d.login_id, "byPlatform": "Mac"}
        assert await a.closed() == 4000
        devices = (await d.request("queryDevices"))["devices"]
        assert [x["deviceID"] for x in devices] == ["B", "C", "D"]
        for survivor in (b, c):
            assert survivor.close_code is None


async def test_single_policy_rejects_nothing_and_kicks(start_server: StartServer, login: Login) -> None:
    server = await start_server("single")
    with trio.fail_after(30):
        a = await login(server, "u1", device="A", platform="iOS")
        b = await login(server, "u1", device="B", platform="Web")
        assert await a.closed() == 4000
        assert [x["deviceID"] for x in (await b.request("queryDevices"))["devices"]] == ["B"]


async def test_reject_new_keeps_existing(start_server: StartServer, login: Login) -> None:
    from actors.account.policy import LoginPolicy

    server = await start_server(LoginPolicy.from_json({"mode": "single", "onLimit": "rejectNew"}))
    with trio.fail_after(30):
        a = await login(server, "u1", device="A")
        try:
            await login(server, "u1", device="B")
        except ClientError as exc:
            assert exc.code == 2004
        else:
            raise AssertionError("second login should be rejected")
        assert [x["deviceID"] for x in (await a.request("queryDevices"))["devices"]] == ["A"]

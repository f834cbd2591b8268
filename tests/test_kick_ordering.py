"""Who gets kicked, how, and what the other devices hear (PROTOCOL.md §3).

A kicked device must receive `connectionStateChanged` (event 4) before its
close 4000; every device that stays online hears `selfDevicesChanged` with
the account's device list, in login order.
"""

from __future__ import annotations

from typing import Any

import httpx
import trio

from actors.account.policy import LoginPolicy
from hubbub_client import Client

from .conftest import ADMIN_TOKEN, Connect, Login, StartServer, token

KICKED_OUT = 4


def _ids(devices: list[dict[str, Any]]) -> list[str]:
    return [d["loginID"] for d in devices]


async def _kicked(client: Client, *, by: Client | None, reason: str = "policy", code: int = 4000) -> None:
    """`client` got KickedOut naming `by`, and only then its close `code`."""
    assert await client.closed() == code
    # The client's reader queues every frame before it records the close, so an
    # event still waiting here arrived before the close frame.
    events = client.pending_events("connectionStateChanged")
    assert len(events) == 1, events
    event = events[0]
    assert (event["state"], event["event"]) == (0, KICKED_OUT)
    by_login_id = by_platform = None
    if by is not None:
        assert by.login_reply is not None
        by_login_id = by.login_id
        by_platform = next(d["platform"] for d in by.login_reply["devices"] if d["loginID"] == by_login_id)
    assert event["extendedData"] == {"reason": reason, "byLoginID": by_login_id, "byPlatform": by_platform}
    assert "seq" not in event  # ephemeral


async def _devices_now(client: Client) -> list[str]:
    return _ids((await client.request("queryDevices"))["devices"])


async def _last_devices_changed(client: Client) -> list[str]:
    """The newest selfDevicesChanged list the client has (waits for at least one)."""
    event = await client.next_event("selfDevicesChanged")
    while client.pending_events("selfDevicesChanged"):
        event = await client.next_event("selfDevicesChanged")
    return _ids(event["devices"])


async def test_dual_second_native_kicks_the_first_and_web_stays(start_server: StartServer, login: Login) -> None:
    server = await start_server("dual")
    with trio.fail_after(20):
        ios = await login(server, "u1", device="phone", platform="iOS")
        web = await login(server, "u1", device="browser", platform="Web")
        assert _ids((await ios.next_event("selfDevicesChanged"))["devices"]) == [ios.login_id, web.login_id]
        android = await login(server, "u1", device="tablet", platform="Android")
        await _kicked(ios, by=android)
        assert android.login_reply is not None
        assert _ids(android.login_reply["devices"]) == [web.login_id, android.login_id]
        assert _ids((await web.next_event("selfDevicesChanged"))["devices"]) == [web.login_id, android.login_id]
        assert web.close_code is None
        assert await _devices_now(web) == [web.login_id, android.login_id]
        # the device that logged in is not told about its own arrival
        assert await _devices_now(android) == [web.login_id, android.login_id]
        assert android.pending_events("selfDevicesChanged") == []
        # the kicked device heard nothing after the kick
        assert ios.pending_events("selfDevicesChanged") == []


async def test_dual_second_web_kicks_the_first_web_only(start_server: StartServer, login: Login) -> None:
    server = await start_server("dual")
    with trio.fail_after(20):
        mac = await login(server, "u1", device="mac", platform="Mac")
        web1 = await login(server, "u1", device="w1", platform="Web")
        web2 = await login(server, "u1", device="w2", platform="Web")
        await _kicked(web1, by=web2)
        assert await _devices_now(mac) == [mac.login_id, web2.login_id]


async def test_multi_third_ios_kicks_the_first_ios(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        ios1 = await login(server, "u1", device="i1", platform="iOS")
        android = await login(server, "u1", device="a1", platform="Android")
        ios2 = await login(server, "u1", device="i2", platform="iOS")
        web = await login(server, "u1", device="w1", platform="Web")
        ios3 = await login(server, "u1", device="i3", platform="iOS")
        await _kicked(ios1, by=ios3)
        expected = [android.login_id, ios2.login_id, web.login_id, ios3.login_id]
        assert await _devices_now(ios3) == expected
        for survivor in (android, ios2, web):
            assert await _last_devices_changed(survivor) == expected
            assert survivor.close_code is None
        # a second Android fits (2 per native platform): nobody is kicked
        android2 = await login(server, "u1", device="a2", platform="Android")
        assert await _devices_now(android2) == expected + [android2.login_id]
        assert [c.close_code for c in (android, ios2, web, ios3)] == [None] * 4


async def test_easemob_fifth_of_a_platform_kicks_its_oldest(start_server: StartServer, login: Login) -> None:
    server = await start_server("easemob")
    with trio.fail_after(20):
        windows = [await login(server, "u1", device=f"w{i}", platform="Windows") for i in range(4)]
        mac = await login(server, "u1", device="m", platform="Mac")
        web = await login(server, "u1", device="web", platform="Web")
        fifth = await login(server, "u1", device="w4", platform="Windows")
        await _kicked(windows[0], by=fifth)
        expected = [w.login_id for w in windows[1:]] + [mac.login_id, web.login_id, fifth.login_id]
        assert await _devices_now(mac) == expected
        assert all(c.close_code is None for c in (*windows[1:], mac, web))


async def test_kick_group_counts_its_platforms_together(start_server: StartServer, login: Login) -> None:
    policy = LoginPolicy.from_json(
        {"mode": "multi", "platformLimits": {"default": 2}, "kickGroups": [["Android", "HarmonyOS", "iOS"], ["Windows", "Mac"]]}
    )
    server = await start_server(policy)
    with trio.fail_after(20):
        android = await login(server, "u1", device="a", platform="Android")
        windows = await login(server, "u1", device="w", platform="Windows")
        harmony = await login(server, "u1", device="h", platform="HarmonyOS")
        linux = await login(server, "u1", device="l", platform="Linux")
        ios = await login(server, "u1", device="i", platform="iOS")
        await _kicked(android, by=ios)
        assert await _devices_now(ios) == [windows.login_id, harmony.login_id, linux.login_id, ios.login_id]


async def test_account_wide_limit_kicks_the_oldest_of_any_platform(start_server: StartServer, login: Login) -> None:
    server = await start_server(LoginPolicy.from_json({"mode": "multi", "maxDevices": 3}))
    with trio.fail_after(20):
        a = await login(server, "u1", device="A", platform="Web")
        b = await login(server, "u1", device="B", platform="iOS")
        c = await login(server, "u1", device="C", platform="Mac")
        d = await login(server, "u1", device="D", platform="Linux")
        await _kicked(a, by=d)
        assert await _last_devices_changed(b) == [b.login_id, c.login_id, d.login_id]
        assert await _last_devices_changed(c) == [b.login_id, c.login_id, d.login_id]


async def test_same_device_id_replaces_the_old_session(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        other = await login(server, "u1", device="desk", platform="Mac")
        old = await login(server, "u1", device="same", platform="iOS")
        new = await login(server, "u1", device="same", platform="iOS")
        await _kicked(old, by=new, reason="sameDevice")
        assert await _devices_now(new) == [other.login_id, new.login_id]
        assert await _last_devices_changed(other) == [other.login_id, new.login_id]
        # the same installation may come back on another platform build; still a replacement
        newer = await login(server, "u1", device="same", platform="iPad")
        await _kicked(new, by=newer, reason="sameDevice")
        assert await _devices_now(other) == [other.login_id, newer.login_id]


async def test_same_device_id_replaces_even_under_reject_new(start_server: StartServer, connect: Connect, login: Login) -> None:
    server = await start_server(LoginPolicy.from_json({"mode": "single", "onLimit": "rejectNew"}))
    with trio.fail_after(20):
        old = await login(server, "u1", device="same", platform="iOS")
        new = await login(server, "u1", device="same", platform="iOS")
        await _kicked(old, by=new, reason="sameDevice")
        assert await _devices_now(new) == [new.login_id]
        # a different device is still rejected, and nothing is kicked
        reply = await (await connect(server)).request_frame(
            "login", userID="u1", token=token("u1"), platform="Web", deviceID="other"
        )
        assert (reply["ok"], reply["error"]["code"]) == (False, 2004)
        assert new.close_code is None
        assert await _devices_now(new) == [new.login_id]


async def test_kicked_device_can_log_in_again_and_kick_back(start_server: StartServer, login: Login) -> None:
    server = await start_server("single")
    with trio.fail_after(20):
        a = await login(server, "u1", device="A", platform="iOS")
        b = await login(server, "u1", device="B", platform="Android")
        await _kicked(a, by=b)
        a2 = await login(server, "u1", device="A", platform="iOS")
        await _kicked(b, by=a2)
        assert await _devices_now(a2) == [a2.login_id]


async def test_logout_replies_closes_1000_and_tells_the_others(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        a = await login(server, "u1", device="A", platform="iOS")
        b = await login(server, "u1", device="B", platform="Web")
        c = await login(server, "u1", device="C", platform="Mac")
        reply = await b.request("logout")
        assert reply["ok"] is True
        assert await b.closed() == 1000
        assert b.pending_events("connectionStateChanged") == []
        for survivor in (a, c):
            assert await _last_devices_changed(survivor) == [a.login_id, c.login_id]
        assert await _devices_now(a) == [a.login_id, c.login_id]


async def test_dropped_connection_tells_the_others(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        a = await login(server, "u1", device="A", platform="iOS")
        b = await login(server, "u1", device="B", platform="Web")
        assert await _last_devices_changed(a) == [a.login_id, b.login_id]
        await b.close()  # the client goes away without logging out
        assert await _last_devices_changed(a) == [a.login_id]
        assert await _devices_now(a) == [a.login_id]


async def test_abruptly_dropped_connection_tells_the_others(start_server: StartServer, login: Login) -> None:
    server = await start_server("multi")
    with trio.fail_after(20):
        a = await login(server, "u1", device="A", platform="iOS")
        b = await login(server, "u1", device="B", platform="Web")
        assert await _last_devices_changed(a) == [a.login_id, b.login_id]
        assert b.ws is not None
        await b.ws._close_stream()  # TCP goes away with no close handshake
        assert await _last_devices_changed(a) == [a.login_id]
        assert await _devices_now(a) == [a.login_id]


async def test_policy_change_applies_to_later_logins_only(start_server: StartServer, connect: Connect, login: Login) -> None:
    server = await start_server("multi")
    assert server.listening is not None and server.listening.admin_url is not None
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with trio.fail_after(20):
        async with httpx.AsyncClient(base_url=server.listening.admin_url, headers=headers) as admin:
            ios1 = await login(server, "u1", device="i1", platform="iOS")
            ios2 = await login(server, "u1", device="i2", platform="iOS")
            response = await admin.put("/v1/policy", json={"mode": "single"})
            assert response.status_code == 200
            assert response.json()["maxDevices"] == 1
            assert (await admin.get("/v1/policy")).json() == LoginPolicy.preset("single").to_json()
            # nobody is kicked by the change itself
            assert await _devices_now(ios1) == [ios1.login_id, ios2.login_id]
            assert ios1.close_code is None and ios2.close_code is None
            # the next login obeys it: under single it replaces both
            web = await login(server, "u1", device="w", platform="Web")
            await _kicked(ios1, by=web)
            await _kicked(ios2, by=web)
            assert await _devices_now(web) == [web.login_id]
            # and back: rejectNew refuses the next device, keeps the one online
            response = await admin.put("/v1/policy", json={"mode": "single", "onLimit": "rejectNew"})
            assert response.status_code == 200
            client = await connect(server)
            reply = await client.request_frame("login", userID="u1", token=token("u1"), platform="Mac", deviceID="m")
            assert reply["error"]["code"] == 2004
            assert web.close_code is None
            # other accounts follow the new policy too
            other = await login(server, "u2", device="x", platform="iOS")
            reply = await (await connect(server)).request_frame(
                "login", userID="u2", token=token("u2"), platform="Web", deviceID="y"
            )
            assert reply["error"]["code"] == 2004
            assert other.close_code is None

"""The admin HTTP API (PROTOCOL.md §13) against a live server, with httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from actors.account.policy import LoginPolicy
from hubbub_client import Client
from gateway.server import Gateway

from .cluster_servers import nodes_of
from .conftest import ADMIN_TOKEN, Connect, Login, token

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def admin(server: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    assert server.listening is not None and server.listening.admin_url is not None
    async with httpx.AsyncClient(base_url=server.listening.admin_url, timeout=10) as client:
        yield client


def _ids(devices: list[dict[str, Any]]) -> list[str]:
    return [d["loginID"] for d in devices]


async def _devices(client: Client) -> list[str]:
    return _ids((await client.request("queryDevices"))["devices"])


async def _forced_offline(client: Client) -> None:
    """The client got KickedOut with reason `admin`, then close 4001."""
    assert await client.closed() == 4001
    events = client.pending_events("connectionStateChanged")
    assert len(events) == 1, events
    assert (events[0]["state"], events[0]["event"]) == (0, 4)
    assert events[0]["extendedData"] == {"reason": "admin", "byLoginID": None, "byPlatform": None}


async def test_healthz_needs_no_auth(admin: httpx.AsyncClient) -> None:
    with trio.fail_after(10):
        response = await admin.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "serving"}


PROTECTED = [
    ("GET", "/metrics"),
    ("GET", "/v1/users/u1/devices"),
    ("DELETE", "/v1/users/u1/devices"),
    ("DELETE", "/v1/users/u1/devices/L1"),
    ("GET", "/v1/policy"),
    ("PUT", "/v1/policy"),
    ("GET", "/v1/stats"),
    ("POST", "/v1/test/crash/account/u1"),
]
BAD_AUTH = {
    "none": {},
    "wrong token": {"Authorization": "Bearer wrong"},
    "token without scheme": {"Authorization": ADMIN_TOKEN},
    "basic scheme": {"Authorization": f"Basic {ADMIN_TOKEN}"},
    "scheme only": {"Authorization": "Bearer"},
    "token with suffix": {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
}


async def test_every_route_but_healthz_needs_the_token(admin: httpx.AsyncClient, server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        device = await login(server, "u1")
        before = (await admin.get("/v1/policy", headers=AUTH)).json()
        for method, path in PROTECTED:
            for name, headers in BAD_AUTH.items():
                body = b'{"mode": "single"}' if method == "PUT" else None
                response = await admin.request(method, path, headers=headers, content=body)
                assert response.status_code == 401, (method, path, name)
                assert "error" in response.json()
        # nothing happened: the device is online, not armed to crash, the policy unchanged
        assert await _devices(device) == [device.login_id]
        assert device.close_code is None
        assert (await admin.get("/v1/policy", headers=AUTH)).json() == before


async def test_metrics_are_prometheus_text_with_hubbub_series(
    admin: httpx.AsyncClient, server: Gateway, login: Login
) -> None:
    with trio.fail_after(20):
        a = await login(server, "u1", device="a")
        await login(server, "u1", device="b", platform="Web")
        c = await login(server, "u2", device="c")
        await a.request_frame("noSuchOp")
        await a.request("sendMessage", toConversationID="u2", conversationType=0, message={"type": 1, "message": "hi"})
        await c.next_event("peerMessageReceived")
        samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for node in nodes_of(server):  # each node's series are its own process's (Prometheus scrapes each): summed
            assert node.listening is not None
            response = await admin.get(f"{node.listening.admin_url}/metrics", headers=AUTH)
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/plain")
            text = response.text
            assert "# TYPE hubbub_" in text and "# HELP hubbub_" in text
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    samples[key] = samples.get(key, 0.0) + sample.value
        names = {name for name, _ in samples}
        # hubbub's own series, and the standard process and Python collectors
        assert all(name.startswith(("hubbub_", "process_", "python_")) for name in names), names
        for expected in (
            "hubbub_connections_open",
            "hubbub_devices_online",
            "hubbub_logins_total",
            "hubbub_frames_in_total",
            "hubbub_frames_out_total",
            "hubbub_request_seconds_bucket",
            "hubbub_actors",
        ):
            assert expected in names, expected
        assert samples[("hubbub_devices_online", ())] == 3
        assert samples[("hubbub_connections_open", ())] == 3
        assert samples[("hubbub_logins_total", ())] == 3
        assert samples[("hubbub_actors", (("kind", "account"),))] == 2
        assert samples[("hubbub_request_errors_total", (("code", "1002"),))] == 1
        # the logins were written: committed batches and jobs, none failed
        assert samples[("hubbub_store_jobs_total", (("outcome", "committed"),))] >= 3
        assert samples[("hubbub_store_batches_total", (("outcome", "committed"),))] >= 1
        assert samples[("hubbub_store_jobs_total", (("outcome", "failed"),))] == 0
        assert samples[("hubbub_store_largest_batch", ())] >= 1
        # the message's delivery into u2's account, timed from its send
        assert samples[("hubbub_message_delivery_seconds_count", (("conversation", "peer"),))] == 1
        assert samples[("hubbub_message_delivery_seconds_bucket", (("conversation", "peer"), ("le", "10.0")))] == 1


async def test_get_devices_lists_the_online_devices(
    admin: httpx.AsyncClient, server: Gateway, login: Login
) -> None:
    with trio.fail_after(20):
        a = await login(server, "u1", device="a", platform="iOS")
        b = await login(server, "u1", device="b", platform="Web")
        response = await admin.get("/v1/users/u1/devices", headers=AUTH)
        assert response.status_code == 200
        devices = response.json()["devices"]
        assert devices == (await a.request("queryDevices"))["devices"]
        assert _ids(devices) == [a.login_id, b.login_id]
        assert set(devices[0]) == {"loginID", "deviceID", "platform", "deviceName", "loginTime"}
        # an account with no device online, and a malformed user ID
        assert (await admin.get("/v1/users/nobody/devices", headers=AUTH)).json() == {"devices": []}
        assert (await admin.get("/v1/users/no%20body/devices", headers=AUTH)).status_code == 400
        assert (await admin.get("/v1/users/" + "x" * 129 + "/devices", headers=AUTH)).status_code == 400


async def test_delete_one_device_forces_it_offline(admin: httpx.AsyncClient, server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        a = await login(server, "u1", device="a", platform="iOS")
        b = await login(server, "u1", device="b", platform="Web")
        other_user = await login(server, "u2", device="c")
        await a.next_event("selfDevicesChanged")
        response = await admin.delete(f"/v1/users/u1/devices/{b.login_id}", headers=AUTH)
        assert response.status_code == 200
        assert response.json() == {"forcedOffline": 1}
        await _forced_offline(b)
        assert _ids((await a.next_event("selfDevicesChanged"))["devices"]) == [a.login_id]
        assert await _devices(a) == [a.login_id]
        assert _ids((await admin.get("/v1/users/u1/devices", headers=AUTH)).json()["devices"]) == [a.login_id]
        # unknown, already gone, or another account's login: 404 and nothing changes
        for user, login_id in (("u1", "no-such-login"), ("u1", b.login_id), ("u1", other_user.login_id)):
            response = await admin.delete(f"/v1/users/{user}/devices/{login_id}", headers=AUTH)
            assert response.status_code == 404, (user, login_id)
        assert a.close_code is None and other_user.close_code is None
        assert await _devices(other_user) == [other_user.login_id]
        # the forced-off device may log in again
        back = await login(server, "u1", device="b", platform="Web")
        assert await _devices(back) == [a.login_id, back.login_id]


async def test_delete_all_devices_of_an_account(admin: httpx.AsyncClient, server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        devices = [await login(server, "u1", device=d, platform=p) for d, p in (("a", "iOS"), ("b", "Web"), ("c", "Mac"))]
        other_user = await login(server, "u2", device="x")
        response = await admin.delete("/v1/users/u1/devices", headers=AUTH)
        assert response.status_code == 200
        assert response.json() == {"forcedOffline": 3}
        for device in devices:
            await _forced_offline(device)
        assert (await admin.get("/v1/users/u1/devices", headers=AUTH)).json() == {"devices": []}
        assert (await admin.delete("/v1/users/u1/devices", headers=AUTH)).json() == {"forcedOffline": 0}
        assert await _devices(other_user) == [other_user.login_id]
        assert other_user.pending_events() == []
        again = await login(server, "u1", device="a")
        assert await _devices(again) == [again.login_id]


async def test_get_and_put_policy(admin: httpx.AsyncClient, server: Gateway, login: Login) -> None:
    with trio.fail_after(20):
        response = await admin.get("/v1/policy", headers=AUTH)
        assert response.status_code == 200
        assert response.json() == LoginPolicy.preset("multi").to_json()
        wanted = {
            "mode": "multi",
            "maxDevices": 4,
            "platformLimits": {"default": 2, "Web": 3},
            "kickGroups": [["Android", "iOS"]],
            "onLimit": "rejectNew",
        }
        response = await admin.put("/v1/policy", headers=AUTH, json=wanted)
        assert response.status_code == 200
        assert response.json() == wanted
        assert (await admin.get("/v1/policy", headers=AUTH)).json() == wanted
        # fields left out come from the mode's preset
        response = await admin.put("/v1/policy", headers=AUTH, json={"mode": "dual"})
        assert response.json() == LoginPolicy.preset("dual").to_json()
        # and logins follow it: dual allows one native
        phone = await login(server, "u1", device="p", platform="iOS")
        tablet = await login(server, "u1", device="t", platform="Android")
        assert await phone.closed() == 4000
        assert await _devices(tablet) == [tablet.login_id]


INVALID_POLICIES: dict[str, bytes] = {
    "not JSON": b"{mode: single",
    "empty body": b"",
    "a list": b'["single"]',
    "a string": b'"single"',
    "unknown field": b'{"mode": "single", "maxDevice": 2}',
    "unknown mode": b'{"mode": "triple"}',
    "mode not text": b'{"mode": 1}',
    "maxDevices zero": b'{"maxDevices": 0}',
    "maxDevices text": b'{"maxDevices": "3"}',
    "maxDevices bool": b'{"maxDevices": true}',
    "maxDevices float": b'{"maxDevices": 2.5}',
    "unknown platform limit": b'{"platformLimits": {"Symbian": 1}}',
    "platform limit zero": b'{"platformLimits": {"iOS": 0}}',
    "platformLimits a list": b'{"platformLimits": [1]}',
    "platform in two kick groups": b'{"kickGroups": [["iOS"], ["iOS", "Web"]]}',
    "empty kick group": b'{"kickGroups": [[]]}',
    "kick groups not lists": b'{"kickGroups": ["iOS"]}',
    "unknown onLimit": b'{"onLimit": "kickNewest"}',
    "not UTF-8": b"\xff\xfe{}",
    "nested too deep": b"[" * 50_000,
}


async def test_invalid_policy_is_refused_and_changes_nothing(
    admin: httpx.AsyncClient, server: Gateway, login: Login
) -> None:
    with trio.fail_after(30):
        before = (await admin.get("/v1/policy", headers=AUTH)).json()
        for name, body in INVALID_POLICIES.items():
            response = await admin.put("/v1/policy", headers=AUTH, content=body)
            assert response.status_code == 400, (name, response.text)
            assert "error" in response.json(), name
            assert (await admin.get("/v1/policy", headers=AUTH)).json() == before, name
        # logins still follow the old (multi) policy: two iOS devices live side by side
        a = await login(server, "u1", device="a")
        b = await login(server, "u1", device="b")
        assert await _devices(b) == [a.login_id, b.login_id]


async def test_stats_count_accounts_devices_and_connections(
    admin: httpx.AsyncClient, server: Gateway, connect: Connect, login: Login
) -> None:
    with trio.fail_after(20):
        stats = (await admin.get("/v1/stats", headers=AUTH)).json()
        assert (stats["connections"], stats["devices"], stats["accounts"]) == (0, 0, 0)
        assert {"rooms", "calls", "groups", "uptimeSeconds"} <= set(stats)
        await login(server, "u1", device="a")
        b = await login(server, "u1", device="b", platform="Web")
        await login(server, "u2", device="c")
        await connect(server)  # connected, not logged in
        stats = (await admin.get("/v1/stats", headers=AUTH)).json()
        assert (stats["connections"], stats["devices"], stats["accounts"]) == (4, 3, 2)
        assert stats["uptimeSeconds"] >= 0
        await b.request("logout")
        assert await b.closed() == 1000
        with trio.fail_after(5):
            while (stats := (await admin.get("/v1/stats", headers=AUTH)).json())["connections"] != 3:  # noqa: ASYNC110  the HTTP API has nothing to wait on; bounded by fail_after
                await trio.sleep(0.01)
        assert stats["devices"] == 2


async def test_admin_errors_leave_the_websocket_side_serving(
    admin: httpx.AsyncClient, server: Gateway, login: Login
) -> None:
    with trio.fail_after(20):
        device = await login(server, "u1")
        for method, path in (
            ("GET", "/v1/nothing"),
            ("POST", "/v1/policy"),
            ("GET", "/v1/users//devices"),
            ("PATCH", "/v1/users/u1/devices"),
        ):
            response = await admin.request(method, path, headers=AUTH)
            assert response.status_code in (404, 405), (method, path, response.status_code)
        big = b'{"mode": "single", "x": "' + b"y" * (128 * 1024) + b'"}'
        response = await admin.put("/v1/policy", headers=AUTH, content=big)
        assert response.status_code == 413
        assert (await admin.get("/healthz")).status_code == 200
        assert await _devices(device) == [device.login_id]
        assert (await device.request_frame("login", userID="u1", token=token("u1"), platform="iOS"))["error"]["code"] == 2005

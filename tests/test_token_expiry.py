"""Login tokens: validation, tokenWillExpire, renewToken, expiry, login timeout (§2, §3).

Tokens are checked against wall-clock time (their `exp` is a Unix time) while
the session's timers run on Trio's clock, so these tests mint tokens with a
short life and let the autojump clock carry Trio's time past the deadlines.
"""

from __future__ import annotations

import time
import warnings

import jwt
import trio
import trio.testing

from hubbub_client import Client
from gateway.server import Gateway

from .conftest import SECRET, Connect, Login, StartServer, token

WARNING_S = 30
TOKEN_EXPIRED = 5


async def _still_online(client: Client) -> None:
    devices = (await client.request("queryDevices"))["devices"]
    assert client.login_id in [d["loginID"] for d in devices]
    assert client.close_code is None


async def _expired(client: Client) -> None:
    """The client got TokenExpired (event 5), and only then close 4002."""
    assert await client.closed(timeout=120) == 4002
    events = client.pending_events("connectionStateChanged")
    assert len(events) == 1, events
    assert (events[0]["state"], events[0]["event"]) == (0, TOKEN_EXPIRED)
    assert "seq" not in events[0]


async def test_warning_30s_before_expiry_then_expired_and_others_told(
    start_server: StartServer, login: Login, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server("multi")
    with trio.fail_after(300):
        other = await login(server, "u1", device="long", platform="Mac")
        bystander = await login(server, "u2", device="b")
        short = await login(server, "u1", device="short", platform="iOS", ttl_s=60)
        logged_in_at = trio.current_time()
        await other.next_event("selfDevicesChanged")

        warning = await short.next_event("tokenWillExpire", timeout=120)
        warned_after = trio.current_time() - logged_in_at
        # exp is whole seconds, so the token lives 59 < ttl <= 60 s, less the real time the
        # login took (the token's clock is the wall clock, which autojump does not move)
        assert WARNING_S - 2.5 <= warned_after <= WARNING_S + 0.5, warned_after
        assert 29 <= warning["second"] <= 30 and isinstance(warning["second"], int)
        assert "seq" not in warning
        await _still_online(short)

        await _expired(short)
        expired_after = trio.current_time() - logged_in_at
        assert 60 - 2.5 <= expired_after <= 60 + 0.5, expired_after
        assert short.pending_events("tokenWillExpire") == []  # warned once

        changed = await other.next_event("selfDevicesChanged")
        assert [d["deviceID"] for d in changed["devices"]] == ["long"]
        await _still_online(other)
        await _still_online(bystander)
        assert bystander.pending_events() == []


async def test_token_shorter_than_the_warning_is_warned_at_once(
    start_server: StartServer, login: Login, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server("multi")
    with trio.fail_after(300):
        short = await login(server, "u1", ttl_s=12)
        logged_in_at = trio.current_time()
        warning = await short.next_event("tokenWillExpire", timeout=60)
        assert trio.current_time() - logged_in_at < 0.5
        assert 10 <= warning["second"] <= 12
        await _expired(short)
        assert 9.5 <= trio.current_time() - logged_in_at <= 12.5


async def test_renewed_token_does_not_expire_at_the_old_time(
    start_server: StartServer, login: Login, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server("multi")
    with trio.fail_after(600):
        other = await login(server, "u1", device="long", platform="Mac")
        short = await login(server, "u1", device="short", ttl_s=60)
        logged_in_at = trio.current_time()
        await other.next_event("selfDevicesChanged")  # the short one arrived
        await short.next_event("tokenWillExpire", timeout=120)
        reply = await short.request("renewToken", token=token("u1", ttl_s=3600))
        assert reply["ok"] is True
        await trio.sleep(logged_in_at + 200 - trio.current_time())  # far past the old expiry
        await _still_online(short)
        assert short.pending_events("connectionStateChanged") == []
        assert short.pending_events("tokenWillExpire") == []
        assert other.pending_events("selfDevicesChanged") == []


async def test_renewed_token_expires_at_its_own_time(
    start_server: StartServer, login: Login, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server("multi")
    with trio.fail_after(600):
        short = await login(server, "u1", ttl_s=60)
        # renewed early, before any warning: the watch moves to the new token's exp
        reply = await short.request("renewToken", token=token("u1", ttl_s=100))
        renewed_at = trio.current_time()
        assert reply["ok"] is True
        warning = await short.next_event("tokenWillExpire", timeout=200)
        assert 100 - WARNING_S - 2.5 <= trio.current_time() - renewed_at <= 100 - WARNING_S + 0.5
        assert 29 <= warning["second"] <= 30
        await _expired(short)
        assert 100 - 2.5 <= trio.current_time() - renewed_at <= 100 + 0.5


async def test_renew_refused_keeps_the_old_expiry(
    start_server: StartServer, login: Login, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server("multi")
    with trio.fail_after(300):
        short = await login(server, "u1", ttl_s=60)
        logged_in_at = trio.current_time()
        await short.next_event("tokenWillExpire", timeout=120)
        refusals = {
            "another user's token": (token("u2", ttl_s=3600), 2002),
            "bad signature": (token("u1", ttl_s=3600, secret="another-secret-of-sufficient-length!!"), 2002),
            "expired token": (token("u1", ttl_s=-10), 2003),
            "not a JWT": ("not.a.jwt", 2002),
        }
        for name, (bad, code) in refusals.items():
            reply = await short.request_frame("renewToken", token=bad)
            assert (reply["ok"], reply["error"]["code"]) == (False, code), name
        await _still_online(short)
        await _expired(short)
        assert 60 - 2.5 <= trio.current_time() - logged_in_at <= 60 + 0.5


async def test_bad_tokens_refuse_login_and_the_connection_can_retry(server: Gateway, connect: Connect, login: Login) -> None:
    now = int(time.time())
    wrong_secret = "another-secret-of-sufficient-length!!"
    bad_tokens = {
        "expired": (token("alice", ttl_s=-10), 2003),
        "bad signature": (token("alice", secret=wrong_secret), 2002),
        "sub of another user": (token("bob"), 2002),
        "no exp": (jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256"), 2002),
        "no sub": (jwt.encode({"exp": now + 3600}, SECRET, algorithm="HS256"), 2002),
        "sub not text": (jwt.encode({"sub": 5, "exp": now + 3600}, SECRET, algorithm="HS256"), 2002),
        "other algorithm": (_hs512({"sub": "alice", "exp": now + 3600}), 2002),
        "alg none": (jwt.encode({"sub": "alice", "exp": now + 3600}, "", algorithm="none"), 2002),
        "garbage": ("garbage", 2002),
        "empty": ("", 2002),
    }
    with trio.fail_after(20):
        bystander = await login(server, "bob")
        client = await connect(server)
        for name, (bad, code) in bad_tokens.items():
            reply = await client.request_frame("login", userID="alice", token=bad, platform="iOS")
            assert (reply["ok"], reply["error"]["code"]) == (False, code), (name, reply)
            # a refused login leaves the connection not logged in
            assert (await client.request_frame("queryDevices"))["error"]["code"] == 2001
        await client.login("alice", token("alice"))
        await _still_online(client)
        await _still_online(bystander)
        assert bystander.pending_events() == []


async def test_connection_that_never_logs_in_is_closed_4003_after_10s(
    start_server: StartServer, connect: Connect, login: Login, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server("multi")
    with trio.fail_after(120):
        bystander = await login(server, "bob")
        idle = await connect(server)
        chatty = await connect(server)
        connected_at = trio.current_time()
        # requests other than login do not extend the deadline
        for _ in range(3):
            await trio.sleep(3)
            assert (await chatty.request_frame("queryDevices"))["error"]["code"] == 2001
        assert await idle.closed(timeout=60) == 4003
        assert await chatty.closed(timeout=60) == 4003
        # the deadline started when the server accepted, a moment before `connected_at`
        assert 9.9 <= trio.current_time() - connected_at <= 10.5
        assert idle.pending_events() == [] and not idle.orphan_replies
        await _still_online(bystander)


async def test_login_just_before_the_deadline_keeps_the_connection(
    start_server: StartServer, connect: Connect, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server("multi")
    with trio.fail_after(120):
        client = await connect(server)
        await trio.sleep(9)
        await client.login("late", token("late"))
        await trio.sleep(30)
        await _still_online(client)


def _hs512(claims: dict[str, object]) -> str:
    """A token signed with the right secret but HS512, which the server does not accept."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # our test secret is short for HS512
        return jwt.encode(claims, SECRET, algorithm="HS512")

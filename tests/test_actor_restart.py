"""Supervision: one actor crashing leaves the rest untouched and comes back (STYLE.md §3–§5).

The first half injects crashes into a live server's account actor through the
test-only admin route; the second half drives actors/runtime/registry.py
directly with a tiny actor.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from actors.errors import HubbubError, InvalidArgument, OwnershipLost, StorageUnavailable
from actors.runtime import (
    Actor,
    ActorCrashed,
    ActorUnavailable,
    Address,
    AskTimeout,
    Registry,
    Reply,
)
from hubbub_client import Client, ClientError
from gateway.server import Gateway
from gateway.services import account_address

from .cluster_servers import node_owning, nodes_of
from .conftest import ADMIN_TOKEN, Connect, Login, StartServer, token

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


# ---- crash injection into a live server ------------------------------------------


@pytest.fixture
async def admin(server: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    assert server.listening is not None and server.listening.admin_url is not None
    async with httpx.AsyncClient(base_url=server.listening.admin_url, headers=AUTH, timeout=10) as client:
        yield client


async def _arm_crash(server: Gateway, user_id: str) -> None:
    """Arm a crash of the account's actor through the admin API of the node it lives on (the hook is that process's)."""
    owner = _owner(server, user_id)
    assert owner.listening is not None and owner.listening.admin_url is not None
    async with httpx.AsyncClient(base_url=owner.listening.admin_url, headers=AUTH, timeout=10) as admin:
        response = await admin.post(f"/v1/test/crash/account/{user_id}")
    assert response.status_code == 200, response.text
    assert response.json() == {"armed": f"account:{user_id}"}


def _owner(server: Gateway, user_id: str) -> Gateway:
    return node_owning(server, account_address(user_id))


async def _devices(client: Client) -> list[str]:
    return [d["loginID"] for d in (await client.request("queryDevices"))["devices"]]


async def _internal_error(client: Client, op: str = "queryDevices", **fields: Any) -> None:
    reply = await client.request_frame(op, **fields)
    assert (reply["ok"], reply["error"]["code"]) == (False, 9000), reply


async def test_crashed_account_answers_9000_then_recovers_from_storage(
    server: Gateway, admin: httpx.AsyncClient, login: Login
) -> None:
    with trio.fail_after(20):
        a = await login(server, "u1", device="a")
        b = await login(server, "u1", device="b", platform="Web")
        other = await login(server, "u2", device="x")
        await a.next_event("selfDevicesChanged")
        await _arm_crash(server, "u1")
        await _internal_error(a)
        # the gateway and the other account did not notice
        assert await _devices(other) == [other.login_id]
        assert (await admin.get("/healthz")).status_code == 200
        # the restarted actor restored its devices: both still online, sessions intact
        assert await _devices(a) == [a.login_id, b.login_id]
        assert await _devices(b) == [a.login_id, b.login_id]
        assert a.close_code is None and b.close_code is None
        assert _owner(server, "u1").registry.restarts["account"] == 1
        # and it still reaches the old sessions: a new login is announced to them
        c = await login(server, "u1", device="c", platform="Mac")
        for old in (a, b):
            changed = await old.next_event("selfDevicesChanged")
            assert [d["loginID"] for d in changed["devices"]] == [a.login_id, b.login_id, c.login_id]
        # and a logout is still answered and announced
        await b.request("logout")
        assert await b.closed() == 1000
        changed = await a.next_event("selfDevicesChanged")
        assert [d["loginID"] for d in changed["devices"]] == [a.login_id, c.login_id]


async def test_crash_during_login_refuses_that_login_only(
    server: Gateway, connect: Connect, login: Login
) -> None:
    with trio.fail_after(20):
        a = await login(server, "u1", device="a")
        await _arm_crash(server, "u1")
        newcomer = await connect(server)
        with pytest.raises(ClientError) as refused:
            await newcomer.login("u1", token("u1"), platform="Web", device_id="n")
        assert refused.value.code == 9000
        # not half logged in: the account does not list it, the connection may retry
        assert await _devices(a) == [a.login_id]
        assert (await newcomer.request_frame("queryDevices"))["error"]["code"] == 2001
        await newcomer.login("u1", token("u1"), platform="Web", device_id="n")
        assert await _devices(newcomer) == [a.login_id, newcomer.login_id]
        assert a.close_code is None


async def test_crashes_in_many_accounts_are_independent(
    server: Gateway, login: Login
) -> None:
    with trio.fail_after(20):
        users = {f"u{i}": await login(server, f"u{i}") for i in range(4)}
        await _arm_crash(server, "u0")
        await _arm_crash(server, "u2")
        for user_id, client in users.items():
            if user_id in ("u0", "u2"):
                await _internal_error(client)
            assert await _devices(client) == [client.login_id]
        assert sum(node.registry.restarts["account"] for node in nodes_of(server)) == 2


async def test_crash_route_refuses_an_unknown_actor_kind(
    server: Gateway, admin: httpx.AsyncClient, login: Login
) -> None:
    with trio.fail_after(20):
        a = await login(server, "u1")
        response = await admin.post("/v1/test/crash/nosuchkind/u1")
        assert response.status_code == 404
        assert "error" in response.json()
        assert await _devices(a) == [a.login_id]
        assert sum(node.registry.restarts["account"] for node in nodes_of(server)) == 0


async def test_account_that_keeps_crashing_is_given_up_then_respawned(
    start_server: StartServer, login: Login, autojump_clock: trio.testing.MockClock
) -> None:
    server = await start_server("multi")
    with trio.fail_after(120):
        a = await login(server, "u1", device="a")
        other = await login(server, "u2")
        spawned = _owner(server, "u1").registry.spawned["account"]
        for _ in range(5):  # the registry's default max_crashes
            await _arm_crash(server, "u1")
            await _internal_error(a)
        # given up and retired; the next request spawns a fresh actor from storage
        assert await _devices(a) == [a.login_id]
        assert _owner(server, "u1").registry.spawned["account"] == spawned + 1
        assert await _devices(other) == [other.login_id]
        assert a.close_code is None


# ---- the registry on its own, with a tiny actor -------------------------------------


@dataclass
class Journal:
    """What every incarnation of the test actors did, shared across restarts."""

    starts: Counter[str] = field(default_factory=Counter)
    stops: Counter[str] = field(default_factory=Counter)
    handled: list[tuple[str, Any]] = field(default_factory=list)
    drained: list[int] = field(default_factory=list)  # messages handled when each drained() came
    fail_start: int = 0  # this many next start() calls raise
    refuse_start: int = 0  # this many next start() calls (after those) find the store unreachable
    epochs: list[int | None] = field(default_factory=list)  # the epoch each start() found claimed
    taken_over: Counter[str] = field(default_factory=Counter)


class Probe(Actor[Any]):
    """Messages are tuples: ("echo", x), ("note", x), ("log",), ("wait", event),
    ("sleep", s), ("boom",), ("refuse",), ("silent",), ("busy", flag), ("lost",), ("store down",)."""

    def __init__(self, address: Address, journal: Journal) -> None:
        super().__init__(address)
        self.journal = journal
        self.notes: list[Any] = []
        self.busy = False

    async def start(self) -> None:
        self.journal.starts[self.address.key] += 1
        self.journal.epochs.append(self.epoch)
        if self.journal.fail_start:
            self.journal.fail_start -= 1
            raise RuntimeError("cannot restore")
        if self.journal.refuse_start:
            self.journal.refuse_start -= 1
            raise StorageUnavailable("the store cannot be reached")

    async def stop(self) -> None:
        self.journal.stops[self.address.key] += 1

    def taken_over(self) -> None:
        self.journal.taken_over[self.address.key] += 1

    def idle(self) -> bool:
        return not self.busy

    def drained(self) -> None:
        self.journal.drained.append(len(self.journal.handled))

    async def handle(self, msg: Any, reply: Reply[Any] | None) -> None:
        self.journal.handled.append((self.address.key, msg))
        match msg:
            case ("echo", value):
                assert reply is not None
                reply.set(value)
            case ("note", value):
                self.notes.append(value)
            case ("log",):
                assert reply is not None
                reply.set(list(self.notes))
            case ("wait", event):
                await event.wait()
            case ("sleep", seconds):
                await trio.sleep(seconds)
                if reply is not None:
                    reply.set("slept")
            case ("busy", flag):
                self.busy = flag
            case ("boom",):
                raise RuntimeError("boom")
            case ("refuse",):
                raise InvalidArgument("refused on purpose")
            case ("lost",):
                raise OwnershipLost("another node claimed it")
            case ("store down",):
                raise StorageUnavailable("the store cannot be reached")
            case ("silent",):
                pass
            case _:
                raise AssertionError(msg)


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def make_registry(nursery: trio.Nursery, journal: Journal) -> Any:
    def make(**options: Any) -> Registry:
        return Registry(nursery, {"probe": lambda address: Probe(address, journal)}, **options)

    return make


def _probe(key: str = "p1") -> Address:
    return Address("probe", key)


async def test_ask_and_tell_in_order_per_actor(make_registry: Any, journal: Journal) -> None:
    registry = make_registry()
    with trio.fail_after(10):
        p1, p2 = registry.ref(_probe("p1")), registry.ref(_probe("p2"))
        assert await p1.ask(("echo", 42), timeout=5) == 42
        for i in range(10):
            await p1.tell(("note", i))
        await p2.tell(("note", "other"))
        assert await p1.ask(("log",), timeout=5) == list(range(10))
        assert await p2.ask(("log",), timeout=5) == ["other"]
        assert registry.live() == {"probe": 2}
        assert registry.spawned["probe"] == 2
        assert journal.starts == Counter({"p1": 1, "p2": 1})


async def test_drained_comes_once_the_inbox_runs_empty(make_registry: Any, journal: Journal) -> None:
    registry = make_registry()
    with trio.fail_after(10):
        ref = registry.ref(_probe())
        assert await ref.ask(("echo", 1), timeout=5) == 1
        assert journal.drained == [1]  # a lone message is its own burst
        gate = trio.Event()
        await ref.tell(("wait", gate))
        await trio.testing.wait_all_tasks_blocked()  # the actor holds the "wait"
        for i in range(5):
            await ref.tell(("note", i))
        gate.set()
        assert await ref.ask(("log",), timeout=5) == list(range(5))
        # one drained() after the burst of wait, five notes and the log; none in between
        assert journal.drained == [1, 8]
        with pytest.raises(InvalidArgument):
            await ref.ask(("refuse",), timeout=5)
        assert journal.drained == [1, 8, 9]  # a refusal ends a burst too


async def test_a_claimed_kind_is_claimed_at_every_start_and_stops_for_good_when_taken_over(
    nursery: trio.Nursery, journal: Journal
) -> None:
    claims: list[Address] = []

    async def claim(address: Address) -> int:
        claims.append(address)
        return len(claims)

    registry = Registry(nursery, {}, claim=claim)
    registry.add_kind("probe", lambda address: Probe(address, journal), claimed=True)
    registry.add_kind("free", lambda address: Probe(address, journal))
    with trio.fail_after(10):
        ref = registry.ref(_probe())
        await ref.tell(("note", "before"))
        with pytest.raises(ActorCrashed):
            await ref.ask(("boom",), timeout=5)  # a crash restarts it: claimed again
        assert await ref.ask(("echo", 1), timeout=5) == 1
        assert journal.epochs == [1, 2]
        # taken over: the asker gets OwnershipLost, so does every ask queued behind; no restart
        gate = trio.Event()
        await ref.tell(("wait", gate))
        outcomes: list[str] = []

        async def ask(msg: Any) -> None:
            try:
                await ref.ask(msg, timeout=5)
                outcomes.append("answered")
            except OwnershipLost:
                outcomes.append("lost")

        async with trio.open_nursery() as asking:
            asking.start_soon(ask, ("lost",))
            await trio.testing.wait_all_tasks_blocked()
            asking.start_soon(ask, ("echo", 2))
            await trio.testing.wait_all_tasks_blocked()
            gate.set()
        assert outcomes == ["lost", "lost"]
        assert journal.taken_over == Counter({"p1": 1})
        assert registry.taken_over == Counter({"probe": 1})
        assert not registry.is_live(_probe()) and journal.starts["p1"] == 2 and journal.stops["p1"] == 2
        # the next message spawns it afresh, with a new claim; kinds not claimed hold no epoch
        assert await ref.ask(("log",), timeout=5) == []
        assert await registry.ref(Address("free", "f1")).ask(("echo", 3), timeout=5) == 3
        assert journal.epochs == [1, 2, 3, None]
        assert claims == [_probe()] * 3


async def test_refusal_goes_to_the_asker_and_the_actor_carries_on(make_registry: Any, journal: Journal) -> None:
    registry = make_registry()
    with trio.fail_after(10):
        ref = registry.ref(_probe())
        await ref.tell(("note", "kept"))
        with pytest.raises(InvalidArgument):
            await ref.ask(("refuse",), timeout=5)
        assert await ref.ask(("log",), timeout=5) == ["kept"]
        assert registry.restarts["probe"] == 0


async def test_an_opener_lets_only_its_messages_start_an_actor(
    nursery: trio.Nursery, journal: Journal, autojump_clock: trio.testing.MockClock
) -> None:
    def opens(address: Address, msg: object) -> HubbubError | None:
        return None if msg == ("note", "open") else InvalidArgument(f"{address.key} is not open")

    registry = Registry(nursery, {}, idle_after_s=10)
    registry.add_kind("probe", lambda address: Probe(address, journal), opens=opens)
    ref = registry.ref(_probe())
    with trio.fail_after(60):
        with pytest.raises(InvalidArgument, match="p1 is not open"):
            await ref.ask(("echo", 1), timeout=5)
        await ref.tell(("note", "dropped"))
        await registry.post(_probe(), ("note", "dropped too"))
        assert not registry.is_live(_probe()) and registry.spawned["probe"] == 0
        await ref.tell(("note", "open"))
        assert await ref.ask(("log",), timeout=5) == ["open"]  # a live actor takes every message
        await trio.sleep(30)  # retired when idle: closed again
        assert not registry.is_live(_probe())
        with pytest.raises(InvalidArgument):
            await ref.ask(("log",), timeout=5)
        assert registry.spawned["probe"] == 1 and journal.handled == [("p1", ("note", "open")), ("p1", ("log",))]


async def test_unanswered_ask_fails_with_internal(make_registry: Any) -> None:
    from actors.errors import Internal

    registry = make_registry()
    with trio.fail_after(10):
        ref = registry.ref(_probe())
        with pytest.raises(Internal):
            await ref.ask(("silent",), timeout=5)
        assert await ref.ask(("echo", "still here"), timeout=5) == "still here"
        assert registry.restarts["probe"] == 0


async def test_ask_times_out_and_the_actor_goes_on(make_registry: Any, autojump_clock: trio.testing.MockClock) -> None:
    registry = make_registry()
    with trio.fail_after(60):
        ref = registry.ref(_probe())
        started = trio.current_time()
        with pytest.raises(AskTimeout):
            await ref.ask(("sleep", 10), timeout=2)
        assert 2 <= trio.current_time() - started < 2.5
        # the late answer is dropped harmlessly; the actor answers the next ask
        assert await ref.ask(("echo", "after"), timeout=20) == "after"
        assert trio.current_time() - started >= 10
        assert registry.restarts["probe"] == 0


async def test_ask_timeout_counts_the_wait_for_inbox_space(
    make_registry: Any, autojump_clock: trio.testing.MockClock
) -> None:
    registry = make_registry(inbox_size=1)
    with trio.fail_after(60):
        ref = registry.ref(_probe())
        gate = trio.Event()
        await ref.tell(("wait", gate))
        await trio.testing.wait_all_tasks_blocked()
        await ref.tell(("note", "fills the inbox"))
        started = trio.current_time()
        with pytest.raises(AskTimeout):
            await ref.ask(("echo", 1), timeout=3)
        assert 3 <= trio.current_time() - started < 3.5
        gate.set()
        assert await ref.ask(("log",), timeout=5) == ["fills the inbox"]


async def test_idle_actor_is_retired_and_respawned_on_demand(
    make_registry: Any, journal: Journal, autojump_clock: trio.testing.MockClock
) -> None:
    registry = make_registry(idle_after_s=60)
    address = _probe()
    with trio.fail_after(600):
        ref = registry.ref(address)
        await ref.tell(("note", "state"))
        await trio.sleep(50)
        assert registry.is_live(address)
        assert await ref.ask(("log",), timeout=5) == ["state"]  # resets the idle timer
        await trio.sleep(59)
        assert registry.is_live(address)
        await trio.sleep(2)
        assert not registry.is_live(address)
        assert journal.stops["p1"] == 1
        assert registry.live() == {}
        # a message spawns a fresh actor (its in-memory state is gone)
        assert await ref.ask(("log",), timeout=5) == []
        assert registry.spawned["probe"] == 2 and journal.starts["p1"] == 2


async def test_busy_actor_is_not_retired(make_registry: Any, autojump_clock: trio.testing.MockClock) -> None:
    registry = make_registry(idle_after_s=60)
    address = _probe()
    with trio.fail_after(1200):
        ref = registry.ref(address)
        await ref.tell(("busy", True))
        await trio.sleep(500)
        assert registry.is_live(address)
        await ref.tell(("busy", False))
        await trio.sleep(61)
        assert not registry.is_live(address)


async def test_restart_keeps_the_queued_messages(make_registry: Any, journal: Journal, caplog: pytest.LogCaptureFixture) -> None:
    registry = make_registry()
    with trio.fail_after(10):
        ref = registry.ref(_probe())
        gate = trio.Event()
        await ref.tell(("wait", gate))
        results: dict[str, Any] = {}

        async def ask(name: str, msg: Any) -> None:
            try:
                results[name] = await ref.ask(msg, timeout=5)
            except Exception as exc:
                results[name] = exc

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask, "boom", ("boom",))
            await trio.testing.wait_all_tasks_blocked()
            for i in range(3):
                await ref.tell(("note", i))
            nursery.start_soon(ask, "log", ("log",))
            await trio.testing.wait_all_tasks_blocked()
            gate.set()
        assert isinstance(results["boom"], ActorCrashed)
        crash = next(r for r in caplog.records if r.name == "hubbub.actors")  # an unexpected crash keeps its traceback
        assert crash.levelname == "ERROR" and crash.exc_info is not None and isinstance(crash.exc_info[1], RuntimeError)
        # the crash lost the old incarnation's memory, not the messages queued behind it
        assert results["log"] == [0, 1, 2]
        assert journal.starts["p1"] == 2 and journal.stops["p1"] == 1
        assert registry.restarts["probe"] == 1 and registry.spawned["probe"] == 1


async def test_crash_in_start_is_retried(make_registry: Any, journal: Journal) -> None:
    registry = make_registry()
    journal.fail_start = 2
    with trio.fail_after(10):
        assert await registry.ref(_probe()).ask(("echo", "up"), timeout=5) == "up"
        assert journal.starts["p1"] == 3
        assert registry.restarts["probe"] == 2


async def test_an_actor_that_cannot_start_reports_the_told_messages_it_dropped(make_registry: Any, journal: Journal) -> None:
    """Asks get the refusal; told messages are dropped with the actor, and the registry says for which address."""
    registry = make_registry()
    lost: list[Address] = []
    registry.on_tells_lost = lost.append
    with trio.fail_after(10):
        journal.refuse_start = 1
        with pytest.raises(StorageUnavailable):
            await registry.ref(_probe("asked")).ask(("echo", 1), timeout=5)
        assert lost == [] and not registry.is_live(_probe("asked"))  # an asker knows: nothing to report
        journal.refuse_start = 1
        await registry.ref(_probe()).tell(("note", "dropped"))
        await trio.testing.wait_all_tasks_blocked()
        assert lost == [_probe()] and not registry.is_live(_probe())
        # the next message starts it again; the dropped note is gone from memory (the outbox would redeliver it)
        assert await registry.ref(_probe()).ask(("log",), timeout=5) == []
        assert journal.starts["p1"] == 2 and lost == [_probe()]


async def test_a_told_message_that_crashed_the_actor_is_reported_when_the_restart_cannot_start(
    make_registry: Any, journal: Journal, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    registry = make_registry()
    lost: list[Address] = []
    registry.on_tells_lost = lost.append
    with trio.fail_after(10):
        ref = registry.ref(_probe())
        assert await ref.ask(("echo", "up"), timeout=5) == "up"
        journal.refuse_start = 1
        await ref.tell(("store down",))  # crashes it; its restart finds the store unreachable
        while registry.is_live(_probe()):  # noqa: ASYNC110 - the restart's back-off runs on the autojump clock
            await trio.sleep(0.01)
        assert lost == [_probe()] and registry.restarts["probe"] == 1
        # a known outage: one warning line each for the crash and the refused start, no traceback
        crashes = [r for r in caplog.records if r.name == "hubbub.actors"]
        assert [(r.levelname, r.exc_info) for r in crashes] == [("WARNING", None), ("WARNING", None)], caplog.text
        assert "the store unreachable: the store cannot be reached" in crashes[0].getMessage()
        # on an ask it is the asker's refusal (the actor carries on), and a restart that starts reports nothing
        with pytest.raises(StorageUnavailable):
            await ref.ask(("store down",), timeout=5)
        journal.refuse_start = 0
        await ref.tell(("store down",))
        assert await ref.ask(("echo", "again"), timeout=5) == "again"
        assert lost == [_probe()] and registry.restarts["probe"] == 2


async def test_gives_up_after_max_crashes_and_fails_queued_asks(
    make_registry: Any, journal: Journal, autojump_clock: trio.testing.MockClock
) -> None:
    registry = make_registry(max_crashes=3, crash_window_s=30)
    address = _probe()
    with trio.fail_after(60):
        ref = registry.ref(address)
        other = registry.ref(_probe("p2"))
        gate = trio.Event()
        await ref.tell(("wait", gate))
        results: dict[str, Any] = {}

        async def ask(name: str, msg: Any) -> None:
            try:
                results[name] = await ref.ask(msg, timeout=30)
            except Exception as exc:
                results[name] = exc

        async with trio.open_nursery() as nursery:
            for name, msg in [("boom1", ("boom",)), ("boom2", ("boom",)), ("boom3", ("boom",)),
                              ("echo1", ("echo", 1)), ("echo2", ("echo", 2))]:
                nursery.start_soon(ask, name, msg)
                await trio.testing.wait_all_tasks_blocked()  # queue them in this order
            await ref.tell(("note", "told"))
            assert await other.ask(("echo", "unaffected"), timeout=5) == "unaffected"
            gate.set()
        assert [type(results[f"boom{i}"]) for i in (1, 2, 3)] == [ActorCrashed] * 3
        assert isinstance(results["echo1"], ActorUnavailable)
        assert isinstance(results["echo2"], ActorUnavailable)
        assert not registry.is_live(address)
        assert registry.restarts["probe"] == 2
        # the next message spawns a fresh actor; the other actor never noticed
        assert await ref.ask(("log",), timeout=5) == []
        assert registry.spawned["probe"] == 3  # p1, p2, p1 again
        assert await other.ask(("echo", "still"), timeout=5) == "still"
        assert journal.starts["p2"] == 1


async def test_crashes_outside_the_window_do_not_add_up(
    make_registry: Any, autojump_clock: trio.testing.MockClock
) -> None:
    registry = make_registry(max_crashes=2, crash_window_s=30)
    with trio.fail_after(600):
        ref = registry.ref(_probe())
        for _ in range(4):
            with pytest.raises(ActorCrashed):
                await ref.ask(("boom",), timeout=5)
            await trio.sleep(31)
        assert registry.restarts["probe"] == 4
        assert registry.spawned["probe"] == 1
        assert await ref.ask(("echo", "ok"), timeout=5) == "ok"


async def test_crash_hook_needs_the_flag(make_registry: Any) -> None:
    with trio.fail_after(10):
        locked = make_registry()
        with pytest.raises(PermissionError):
            await locked.crash(_probe())
        registry = make_registry(allow_crash_hook=True)
        await registry.crash(_probe())
        with pytest.raises(ActorCrashed):
            await registry.ref(_probe()).ask(("echo", 1), timeout=5)
        assert await registry.ref(_probe()).ask(("echo", 2), timeout=5) == 2
        assert registry.restarts["probe"] == 1


async def test_closed_registry_refuses_deliveries(make_registry: Any) -> None:
    registry = make_registry()
    with trio.fail_after(10):
        assert await registry.ref(_probe()).ask(("echo", 1), timeout=5) == 1
        registry.close()
        with pytest.raises(ActorUnavailable):
            await registry.ref(_probe()).tell(("note", 1))
        with pytest.raises(ActorUnavailable):
            await registry.ref(_probe("new")).ask(("echo", 1), timeout=5)


async def test_unknown_kind_is_unavailable(make_registry: Any) -> None:
    registry = make_registry()
    with trio.fail_after(10):
        with pytest.raises(ActorUnavailable):
            await registry.ref(Address("nope", "x")).tell(("note", 1))
        assert registry.live() == {}


async def test_delivery_after_the_actor_nursery_closed_is_unavailable() -> None:
    journal = Journal()
    with trio.fail_after(10):
        async with trio.open_nursery() as actors:
            registry = Registry(actors, {"probe": lambda address: Probe(address, journal)})
            assert await registry.ref(_probe()).ask(("echo", 1), timeout=5) == 1
            actors.cancel_scope.cancel()
        # the nursery is closed (as while a server is torn down): no actor can be
        # started, and no inbox may be left behind to take messages nobody answers
        for _ in range(2):
            with pytest.raises(ActorUnavailable):
                await registry.ref(_probe("fresh")).tell(("note", 1))
        assert not registry.is_live(_probe("fresh"))

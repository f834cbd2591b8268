"""The benchmark's workloads over XMPP, shaped like hubbub's load mixes (scripts/loadmix/).

Each takes the same `argparse.Namespace` as the mix it mirrors (accounts,
devices, concurrency, request_timeout_s, settle_s and the mix's own
options) and returns a `MixResult` whose figures carry the mix's names, so
the two servers are read side by side:

- `chat`: the chat mix. Account i sends to account i+1's bare JID; the
  server delivers to both of its resources and, by carbons, to the
  sender's other resource: 2 x devices - 1 deliveries per message, as in
  hubbub. XMPP has no reply to a message, so a sender's next message waits
  for the carbon of its last on its own other device (with one device,
  for the arrival at the peer): one message in flight per sender, as the
  chat mix's one request in flight.
- `group`: the groups mix on one multi-user chat room; the owner creates it
  (an instant room), every member joins, the owner sends; every occupant
  but the sender counts.
- `logins`: the login mix: connect, authenticate, bind, enable carbons,
  send presence and see it reflected; logins/s and server CPU per login.
- `idle_login`: log devices in and keep them (for the memory figure).

CPU figures read the server's whole process tree from /proc (the Erlang VM
and its helpers), over the same phases as the mixes.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

import trio

from scripts.loadmix import Figure, MixResult, Progress, latency_figures, process_tree_cpu_s

from .ejabberd import PASSWORD, XmppTarget
from .xmpp import MESSAGE, XmppClient, XmppError, body_of

_CHAT_STAMP = "t="
_GROUP_STAMP = "g="
Device = tuple[str, int]  # (user, device index)


def resource(workload: str, index: int) -> str:
    """The resource a workload's device `index` binds: distinct per workload, so sessions never replace each other."""
    return f"{workload}-{index}"


async def _log_in_one(target: XmppTarget, user: str, resource_name: str, timeout_s: float) -> tuple[XmppClient, float]:
    """Connect and log one device in (carbons on, presence sent); returns it and the seconds after connecting."""
    client = target.client()
    try:
        with trio.fail_after(timeout_s):
            await client.connect()
            started = time.monotonic()
            await client.login(user, PASSWORD, resource_name)
            await client.enable_carbons()
            await client.available()
    except BaseException:
        await client.close()
        raise
    return client, time.monotonic() - started


@dataclass(slots=True)
class Logins:
    """What logging a set of devices in gave: the clients, their login times, the failures."""

    clients: dict[Device, XmppClient] = field(default_factory=dict)
    login_s: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    async def close_all(self) -> None:
        """Close every client at once (each within 2 s)."""
        async with trio.open_nursery() as closing:
            for client in self.clients.values():
                closing.start_soon(client.close)


async def log_in(target: XmppTarget, wanted: Sequence[Device], workload: str, args: argparse.Namespace, progress: Progress) -> Logins:
    """Log each (user, index) in through a CapacityLimiter(args.concurrency), each within args.request_timeout_s."""
    logins = Logins()
    limiter = trio.CapacityLimiter(args.concurrency)

    async def one(user: str, index: int) -> None:
        async with limiter:
            try:
                client, seconds = await _log_in_one(target, user, resource(workload, index), args.request_timeout_s)
            except (OSError, XmppError, trio.TooSlowError, trio.BrokenResourceError) as exc:
                logins.failures.append(f"{user}/{index}: {type(exc).__name__}: {exc}"[:200])
                return
            logins.clients[(user, index)] = client
            logins.login_s.append(seconds)
        progress.update(f"{workload} login", len(logins.clients) + len(logins.failures), len(wanted))

    async with trio.open_nursery() as nursery:
        for user, index in wanted:
            nursery.start_soon(one, user, index)
    return logins


def _login_problems(result: MixResult, logins: Logins, wanted: int) -> None:
    if len(logins.clients) != wanted:
        result.problems.append(f"only {len(logins.clients)} of {wanted} devices logged in")
    result.problems.extend(logins.failures[:5])


# ---- chat ----------------------------------------------------------------------------


@dataclass(slots=True)
class _ChatTally:
    users: list[str]
    devices: int
    acks: list[trio.Event]
    sent: int = 0
    unacked: int = 0
    delivered: int = 0
    latencies: list[float] = field(default_factory=list)

    def acked_by(self, sender: int, user: str, index: int) -> bool:
        """Whether the device (user, index) is the one whose arrival releases `sender`'s next message."""
        if self.devices >= 2:
            return index == 1 and user == self.users[sender]
        return index == 0 and user == self.users[(sender + 1) % len(self.users)]


async def chat(target: XmppTarget, users: Sequence[str], args: argparse.Namespace, progress: Progress) -> MixResult:
    """The chat mix over XMPP (see the module doc); `users` are registered accounts, args.accounts of them."""
    users = list(users[: args.accounts])
    result = MixResult("chat")
    tally = _ChatTally(users, args.devices, [trio.Event() for _ in users])
    wanted = [(user, index) for index in range(args.devices) for user in users]
    async with trio.open_nursery() as held:
        logins = await log_in(target, wanted, "chat", args, progress)
        _login_problems(result, logins, len(wanted))
        for (user, index), client in logins.clients.items():
            held.start_soon(_receive_chat, client, user, index, tally)
        cpu_before, started = process_tree_cpu_s(target.pid), time.monotonic()
        async with trio.open_nursery() as senders:
            interval = 0.0 if args.chat_rate <= 0 else len(users) / args.chat_rate
            for number, user in enumerate(users):
                sender = logins.clients.get((user, 0))
                if sender is not None:
                    peer = target.jid(users[(number + 1) % len(users)])
                    offset = number * interval / len(users)  # phases spread evenly, as the chat mix does
                    senders.start_soon(_send_chat, sender, number, peer, started + offset, interval, args, tally, progress)
        sending_s = time.monotonic() - started
        expected = tally.sent * (2 * args.devices - 1)
        with trio.move_on_after(args.settle_s):
            while tally.delivered < expected:  # noqa: ASYNC110  the chat mix's poll, so the settle time compares
                await trio.sleep(0.05)
        result.elapsed_s = time.monotonic() - started
        cpu_after = process_tree_cpu_s(target.pid)
        progress.done()
        await logins.close_all()
        held.cancel_scope.cancel()
    add = result.add
    add(Figure("messages_sent", tally.sent))
    add(Figure("sends_unacked", tally.unacked, expected=0, note="no copy arrived within the request timeout"))
    add(Figure("deliveries", tally.delivered, expected=expected, note="message or carbon on every device concerned"))
    add(Figure("sent_per_s", tally.sent / sending_s if sending_s else 0.0, "/s"))
    add(Figure("delivered_per_s", tally.delivered / sending_s if sending_s else 0.0, "/s"))
    result.figures += latency_figures("delivery", tally.latencies, None, "send to arrival on a device")
    if cpu_before is not None and cpu_after is not None and tally.delivered:
        add(Figure("server_cpu_us_per_delivery", 1e6 * (cpu_after - cpu_before) / tally.delivered, "us", note="server CPU, first send to last delivery"))
    return result


async def _send_chat(
    client: XmppClient, number: int, peer: str, first_at: float, interval: float, args: argparse.Namespace, tally: _ChatTally, progress: Progress
) -> None:
    padding = "x" * max(0, args.chat_body_bytes - 30)
    count = 0
    while (now := time.monotonic()) < first_at + args.chat_seconds:
        if interval:
            next_at = first_at + count * interval
            if next_at > now:
                await trio.sleep(next_at - now)
        count += 1
        tally.acks[number] = acked = trio.Event()
        try:
            await client.message(peer, f"{_CHAT_STAMP}{time.monotonic():.6f};{number};{padding}")
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            tally.unacked += 1
            return
        tally.sent += 1
        with trio.move_on_after(args.request_timeout_s) as waited:
            await acked.wait()
        tally.unacked += waited.cancelled_caught
        progress.update("chat", tally.delivered, 0, f"sent {tally.sent} delivered {tally.delivered}")


async def _receive_chat(client: XmppClient, user: str, index: int, tally: _ChatTally) -> None:
    async for stanza in client.stanzas():
        text = body_of(stanza) if stanza.tag == MESSAGE else None
        if text is None or not text.startswith(_CHAT_STAMP):
            continue
        arrived = time.monotonic()
        stamp, sender, _ = text[len(_CHAT_STAMP) :].split(";", 2)
        tally.delivered += 1
        tally.latencies.append(arrived - float(stamp))
        if tally.acked_by(int(sender), user, index):
            tally.acks[int(sender)].set()


# ---- group (one multi-user chat room) ---------------------------------------------------


@dataclass(slots=True)
class _GroupTally:
    delivered: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    latencies: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    last_arrival: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    last_copy: dict[tuple[str, float], float] = field(default_factory=dict)


async def group(target: XmppTarget, users: Sequence[str], args: argparse.Namespace, progress: Progress) -> MixResult:
    """The groups mix over XMPP for each size in args.group_sizes: one room per size, one device per member."""
    sizes = [int(s) for s in str(args.group_sizes).split(",") if s.strip()]
    pool = list(users[: max(sizes)])
    result = MixResult("groups")
    tally = _GroupTally()
    async with trio.open_nursery() as held:
        logins = await log_in(target, [(user, 0) for user in pool], "group", args, progress)
        _login_problems(result, logins, len(pool))
        started = time.monotonic()
        for size in sizes:
            members = [logins.clients[(user, 0)] for user in pool[:size] if (user, 0) in logins.clients]
            room = f"g{size}-{int(started)}@{target.muc_domain}"
            try:
                await _one_room(target, room, size, members, held, args, tally, result, progress)
            except (XmppError, trio.TooSlowError, trio.BrokenResourceError) as exc:  # the owner could not open the room
                result.problems.append(f"{room}: {type(exc).__name__}: {exc}"[:200])
        result.elapsed_s = time.monotonic() - started
        progress.done()
        await logins.close_all()
        held.cancel_scope.cancel()
    return result


async def _one_room(
    target: XmppTarget,
    room: str,
    size: int,
    members: list[XmppClient],
    held: trio.Nursery,
    args: argparse.Namespace,
    tally: _GroupTally,
    result: MixResult,
    progress: Progress,
) -> None:
    owner, others = members[0], members[1:]
    with trio.fail_after(args.request_timeout_s):
        await owner.join_room(room, "m0")
    limiter = trio.CapacityLimiter(args.concurrency)
    joined: list[XmppClient] = []

    async def join(client: XmppClient, nick: str) -> None:
        async with limiter:
            try:
                with trio.fail_after(args.request_timeout_s):
                    await client.join_room(room, nick)
            except (XmppError, trio.TooSlowError, trio.BrokenResourceError) as exc:
                result.problems.append(f"{room} join {nick}: {type(exc).__name__}: {exc}"[:200])
                return
            joined.append(client)
        progress.update(f"room {size} join", len(joined), len(others))

    async with trio.open_nursery() as joining:
        for number, client in enumerate(others, 1):
            joining.start_soon(join, client, f"m{number}")
    for client in joined:
        held.start_soon(_receive_group, client, room, tally)
    expected = len(joined) * args.group_messages
    await trio.sleep(0.5)  # as the groups mix: join traffic settles before timing starts
    cpu_before, started = process_tree_cpu_s(target.pid), time.monotonic()
    for count in range(args.group_messages):
        if (delay := started + count / args.group_rate - time.monotonic()) > 0:
            await trio.sleep(delay)
        await owner.message(room, f"{_GROUP_STAMP}{room}|{time.monotonic():.6f}", "groupchat")
        progress.update(f"room {size}", tally.delivered[room], expected)
    with trio.move_on_after(args.settle_s):
        while tally.delivered[room] < expected:  # noqa: ASYNC110  the groups mix's poll
            await trio.sleep(0.05)
    cpu_after = process_tree_cpu_s(target.pid)
    spread_s = max(tally.last_arrival[room] - started, 1e-9)
    if cpu_before is not None and cpu_after is not None and tally.delivered[room]:
        cpu_us = (cpu_after - cpu_before) * 1e6 / tally.delivered[room]
        result.add(Figure(f"g{size}_cpu_us_per_delivery", cpu_us, "us", note="server CPU while sending"))
    result.add(Figure(f"g{size}_deliveries", tally.delivered[room], expected=expected, note=f"{len(joined)} occupants x {args.group_messages}"))
    result.add(Figure(f"g{size}_deliveries_per_s", tally.delivered[room] / spread_s, "/s", note="first send to last arrival"))
    result.figures += latency_figures(f"g{size}_delivery", tally.latencies[room], None, "send to arrival on a device")
    last = [arrived - sent for (jid, sent), arrived in tally.last_copy.items() if jid == room]
    result.figures += latency_figures(f"g{size}_last_member", last, None, "per message: send to the last member's copy")


def _group_body(stanza: Element) -> str | None:
    if stanza.tag != MESSAGE or stanza.get("type") != "groupchat":
        return None
    text = body_of(stanza)
    return text if text is not None and text.startswith(_GROUP_STAMP) else None


async def _receive_group(client: XmppClient, room: str, tally: _GroupTally) -> None:
    async for stanza in client.stanzas():
        text = _group_body(stanza)
        if text is None:
            continue
        arrived = time.monotonic()
        room_jid, _, sent = text[len(_GROUP_STAMP) :].partition("|")
        tally.delivered[room_jid] += 1
        tally.latencies[room_jid].append(arrived - float(sent))
        tally.last_arrival[room_jid] = max(tally.last_arrival[room_jid], arrived)
        tally.last_copy[(room_jid, float(sent))] = arrived


# ---- logins ----------------------------------------------------------------------------


async def logins(target: XmppTarget, users: Sequence[str], args: argparse.Namespace, progress: Progress) -> MixResult:
    """The login mix over XMPP: args.accounts x args.devices devices, device-major, then closed."""
    users = list(users[: args.accounts])
    wanted = [(user, index) for index in range(args.devices) for user in users]
    result = MixResult("login")
    cpu_before, started = process_tree_cpu_s(target.pid), time.monotonic()
    done = await log_in(target, wanted, "login", args, progress)
    result.elapsed_s = time.monotonic() - started
    cpu_after = process_tree_cpu_s(target.pid)
    progress.done()
    await done.close_all()
    _login_problems(result, done, len(wanted))
    ok = len(done.clients)
    result.add(Figure("logins_ok", ok, expected=len(wanted)))
    result.add(Figure("logins_per_s", ok / result.elapsed_s if result.elapsed_s else 0.0, "/s", note="connect + login"))
    result.figures += latency_figures("login", done.login_s, None, "authenticate to presence reflected")
    if cpu_before is not None and cpu_after is not None and ok:
        result.add(Figure("server_cpu_ms_per_login", 1000 * (cpu_after - cpu_before) / ok, "ms", note="server CPU over the login phase"))
    return result

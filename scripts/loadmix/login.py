"""The login mix: log in accounts × devices devices and count the kicks.

Device d of every account uses platform PLATFORMS[d], so the `multi` preset
keeps every device online, while under `single` each later login of an
account kicks the one before: accounts × (devices - 1) kicks, each seen by
the kicked client as `connectionStateChanged` event 4 followed by close
code 4000. Logins are started device-major (every account's device 0, then
every device 1, ...) through one CapacityLimiter, so an account's logins
are spread over the run rather than bunched together.

Figures: logins/s (ratio to the echo's sessions/s: both open a connection
and complete one request), login latency (the login request alone, ratio to
the echo's first round trip in its connect storm), connect + login latency
(ratio to the echo's session latency), the server's CPU time per login
(ratio to the echo's CPU per session; the figure least moved by other load
on the machine), kicks observed vs expected, selfDevicesChanged held and
whether every device's newest list is its account's, the server's memory
with every device connected, and how long the server takes to become idle
once every client has closed.
"""

from __future__ import annotations

import argparse
import math
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field

import trio
from trio_websocket import ConnectionClosed, HandshakeError

from hubbub_client import Client, ClientError, Disconnected
from actors.wire import CloseCode, ConnectionEvent

from . import (
    PLATFORMS,
    Figure,
    MixResult,
    Progress,
    Target,
    fetch_metrics,
    latency_figures,
    process_cpu_s,
    process_rss_mb,
)

DESCRIPTION = "log in accounts x devices devices (one platform each); count kicks under --policy single"

# Presets whose expected kick count this mix knows for devices on distinct
# platforms: one device per account online (kicks every later login), or none kicked.
_ONE_ONLINE = ("single",)
_ALL_ONLINE = ("multi", "easemob")


@dataclass(slots=True)
class _Device:
    """One device the mix logs in, and what happened to it."""

    user_id: str
    platform: str
    client: Client | None = None
    error: str | None = None
    login_s: float = 0.0
    session_s: float = 0.0


@dataclass(slots=True)
class _Tally:
    """Counts shared by the login and watcher tasks (one Trio thread: no locks)."""

    expected_kicks: int | None
    most_devices_changed: int | None
    ok: int = 0
    failed: int = 0
    kicked: int = 0  # event 4 and close 4000 both seen
    kick_events: int = 0
    kick_closes: int = 0
    kick_reasons: Counter[str] = field(default_factory=Counter)
    all_kicked: trio.Event = field(default_factory=trio.Event)
    cpu_s: float | None = None  # the server's CPU time over the login phase
    rss_mb: float | None = None  # the server's memory with every device connected
    drain_s: float | None = None  # closing every client until the server is idle
    connected: int = 0  # devices still connected once the logins settled
    lists_final: int = 0  # of them, those whose newest device list is their account's


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The login mix needs only the common options."""


def connections(args: argparse.Namespace) -> int:
    """accounts × devices; raises ValueError past one device per platform."""
    if not 1 <= args.devices <= len(PLATFORMS):
        raise ValueError(f"--devices must be 1..{len(PLATFORMS)} (one platform per device)")
    return int(args.accounts * args.devices)


def expected_kicks(policy: str, accounts: int, devices: int) -> int | None:
    """Kicks a correct server makes for this mix, or None for a policy we cannot predict."""
    if policy in _ONE_ONLINE:
        return accounts * (devices - 1)
    if policy in _ALL_ONLINE:
        return 0
    return None


def most_devices_changed(policy: str, accounts: int, devices: int) -> int | None:
    """selfDevicesChanged events the connected devices hold at the end, at most.

    With every device kept, the k-th login of an account tells at most the
    k - 1 already online (fewer when logins of one account come in one
    burst: each device then hears the final list once); with one kept, the
    kicked device is dropped first, so the announcement reaches nobody.
    """
    if policy in _ONE_ONLINE:
        return 0
    if policy in _ALL_ONLINE:
        return accounts * devices * (devices - 1) // 2
    return None


def _lists_final(devices: list[_Device]) -> int:
    """Connected devices whose newest device list (their last selfDevicesChanged, else their login reply) is the account's."""
    connected = [d for d in devices if d.client is not None and d.client.close_code is None]
    online: dict[str, set[str]] = {}
    for device in connected:
        assert device.client is not None
        online.setdefault(device.user_id, set()).add(device.client.login_id or "")
    final = 0
    for device in connected:
        assert device.client is not None
        events = device.client.pending_events("selfDevicesChanged")
        newest = events[-1] if events else device.client.login_reply or {}
        final += {d.get("loginID") for d in newest.get("devices", [])} == online[device.user_id]
    return final


async def run(target: Target, args: argparse.Namespace, progress: Progress) -> MixResult:
    """Log every device in, wait for the kicks, close everything; see the module doc."""
    tag = secrets.token_hex(3)  # fresh user IDs, so a reused server holds none of them online
    users = [f"load{tag}-{a}" for a in range(args.accounts)]
    tokens = {user: target.token(user) for user in users}
    devices = [_Device(user, PLATFORMS[d]) for d in range(args.devices) for user in users]
    tally = _Tally(
        expected_kicks(target.policy, args.accounts, args.devices),
        most_devices_changed(target.policy, args.accounts, args.devices),
    )
    limiter = trio.CapacityLimiter(args.concurrency)
    result = MixResult("login")
    server_before = await _server_figures(target)
    async with trio.open_nursery() as held:  # the clients' reader and watcher tasks
        cpu_before, started = process_cpu_s(target.server_pid), time.monotonic()
        async with trio.open_nursery() as logins:
            for device in devices:
                logins.start_soon(_log_in, device, target.url, tokens[device.user_id], held, limiter, args, tally, progress)
        result.elapsed_s = time.monotonic() - started
        cpu_after = process_cpu_s(target.server_pid)
        progress.done()
        await _settle(tally, args.settle_s)
        tally.rss_mb = process_rss_mb(target.server_pid)
        events_seen = _count_events(devices, "selfDevicesChanged")
        tally.lists_final = _lists_final(devices)
        tally.connected = sum(d.client is not None and d.client.close_code is None for d in devices)
        server_after = await _server_figures(target)
        closing = time.monotonic()
        await _close_all(devices)
        held.cancel_scope.cancel()
    tally.drain_s = await _drained(target, args.settle_s, closing)
    if cpu_before is not None and cpu_after is not None:
        tally.cpu_s = cpu_after - cpu_before
    server = {name: value - server_before.get(name, 0.0) for name, value in server_after.items()}
    _report(result, devices, tally, events_seen, server)
    return result


async def _log_in(
    device: _Device,
    url: str,
    token: str,
    held: trio.Nursery,
    limiter: trio.CapacityLimiter,
    args: argparse.Namespace,
    tally: _Tally,
    progress: Progress,
) -> None:
    """Connect and log one device in; on success leave it connected and watched."""
    async with limiter:
        client = Client(url, held)
        started = time.monotonic()
        try:
            with trio.fail_after(args.request_timeout_s):
                await client.connect()
            sent = time.monotonic()
            await client.login(
                device.user_id,
                token,
                platform=device.platform,
                device_id=f"{device.user_id}-{device.platform}",
                device_name=f"load {device.platform}",
                timeout=args.request_timeout_s,
            )
        except (OSError, HandshakeError, ConnectionClosed, trio.TooSlowError, ClientError, Disconnected) as exc:
            device.error = f"{type(exc).__name__}: {exc}"[:200]
            tally.failed += 1
            await client.close()
        else:
            done = time.monotonic()
            device.client, device.login_s, device.session_s = client, done - sent, done - started
            tally.ok += 1
            held.start_soon(_watch, client, tally)
    progress.update("login", tally.ok + tally.failed, args.accounts * args.devices, f"ok {tally.ok} failed {tally.failed} kicked {tally.kicked}")


async def _watch(client: Client, tally: _Tally) -> None:
    """When the server closes this client, count a kick if it was one."""
    await client.closed_event.wait()
    kicks = [e for e in client.pending_events("connectionStateChanged") if e.get("event") == ConnectionEvent.KICKED_OUT]
    for event in kicks:
        extended = event.get("extendedData")
        tally.kick_reasons[str(extended.get("reason")) if isinstance(extended, dict) else "?"] += 1
    tally.kick_events += bool(kicks)
    tally.kick_closes += client.close_code == CloseCode.KICKED
    if kicks and client.close_code == CloseCode.KICKED:
        tally.kicked += 1
        if tally.expected_kicks is not None and tally.kicked >= tally.expected_kicks:
            tally.all_kicked.set()


async def _settle(tally: _Tally, settle_s: float) -> None:
    """Wait for the expected kicks (at most `settle_s`), or briefly for unexpected ones."""
    if tally.expected_kicks:
        with trio.move_on_after(settle_s):
            await tally.all_kicked.wait()
    else:
        # Any kick was queued before the reply to the login that caused it,
        # so a short pause is enough to see one that should not happen.
        await trio.sleep(min(0.5, settle_s))


def _count_events(devices: list[_Device], name: str) -> int:
    return sum(len(d.client.pending_events(name)) for d in devices if d.client is not None)


async def _server_figures(target: Target) -> dict[str, float]:
    """The server's metrics (empty without the admin API or when it does not answer)."""
    try:
        with trio.move_on_after(10):
            return await fetch_metrics(target)
    except OSError:
        pass
    return {}


async def _drained(target: Target, bound_s: float, since: float) -> float | None:
    """Seconds from `since` until the server reports no connection and no queued work.

    None without the admin API, or when it is not idle within `bound_s`.
    """
    idle = ("hubbub_connections_open", "hubbub_devices_online", "hubbub_actor_inbox_queued", "hubbub_store_queue")
    with trio.move_on_after(bound_s):
        while True:
            figures = await _server_figures(target)
            if not figures:
                return None
            if all(figures.get(name, 0.0) == 0 for name in idle):
                return time.monotonic() - since
            await trio.sleep(0.1)
    return None


async def _close_all(devices: list[_Device]) -> None:
    """Close every client still connected, all at once (each within 5 s)."""
    async with trio.open_nursery() as closing:
        for device in devices:
            if device.client is not None:
                closing.start_soon(device.client.close)


def _report(result: MixResult, devices: list[_Device], tally: _Tally, events_seen: int, server: dict[str, float]) -> None:
    """Turn what was seen into figures and problem lines."""
    total = len(devices)
    add = result.add
    add(Figure("logins_ok", tally.ok, expected=total))
    add(Figure("logins_failed", tally.failed, expected=0))
    add(Figure("logins_per_s", tally.ok / result.elapsed_s if result.elapsed_s else 0.0, "/s", "sessions_per_s", note="connect + login"))
    succeeded = [d for d in devices if d.client is not None]
    for figure in latency_figures("login", [d.login_s for d in succeeded], "first_rtt", "login request to reply"):
        add(figure)
    for figure in latency_figures("connect_login", [d.session_s for d in succeeded], "session", "connect + login"):
        add(figure)
    add(Figure("kicks_observed", tally.kicked, expected=tally.expected_kicks, note="event 4 and close 4000"))
    add(Figure("kick_events", tally.kick_events, expected=tally.expected_kicks, note="connectionStateChanged event 4"))
    add(Figure("kick_closes", tally.kick_closes, expected=tally.expected_kicks, note="close code 4000"))
    most = tally.most_devices_changed
    add(Figure("self_devices_changed", events_seen, note="held by connected clients" + ("" if most is None else f", at most {most:,}")))
    add(Figure("device_lists_final", tally.lists_final, expected=tally.connected, note="newest list = the account's devices"))
    if most is not None and events_seen > most:
        result.problems.append(f"{events_seen} selfDevicesChanged held, more than the {most} a login can cause")
    if server:
        add(Figure("server_logins", server.get("hubbub_logins_total", 0.0), expected=total, note="server metrics"))
        add(Figure("server_kicks", server.get('hubbub_account_events_total{what="kicks_policy"}', 0.0), expected=tally.expected_kicks, note="server metrics"))
    if tally.cpu_s is not None and tally.ok:
        add(Figure("server_cpu_ms_per_login", 1000 * tally.cpu_s / tally.ok, "ms", "cpu_ms_per_session", note="server CPU over the login phase"))
    if tally.rss_mb is not None:
        add(Figure("server_rss_mb", tally.rss_mb, "MiB", note=f"{tally.ok - tally.kicked} devices connected"))
    add(Figure("login_phase_s", result.elapsed_s, "s"))
    add(Figure("drain_s", math.nan if tally.drain_s is None else tally.drain_s, "s", note="close all until the server is idle"))
    errors = Counter(d.error.split(":")[0] for d in devices if d.error)
    for name, count in errors.most_common():
        example = next(d.error for d in devices if d.error and d.error.startswith(name))
        result.problems.append(f"{count} logins failed with {name} (e.g. {example})")
    unexpected = {reason: n for reason, n in tally.kick_reasons.items() if reason != "policy"}
    if unexpected:
        result.problems.append(f"kicks for reasons other than policy: {unexpected}")

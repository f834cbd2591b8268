"""The calls mix: invite / accept / quit cycles between pairs of accounts.

--accounts are paired: in each pair the inviter has one device and the
callee --devices devices. For --call-seconds every pair repeats a cycle:
the inviter sends `callInvite`; the callee's first device waits for
`callInvitationReceived` and sends `callAccept`; the inviter waits for the
callee's Accepted state; the callee's first device sends `callQuit` and the
inviter waits for the Quit state, which ends the call. The callee's other
devices only listen: by PROTOCOL.md §11 each of them hears the invitation
and the Accepted state of every call, and never the Quit.

Figures: cycles per second (ratio to the echo's round trips/s), invitation
latency (invite sent to invitation received) and answer latency (invite sent
to the inviter seeing Accepted) p50/p99 (ratio to the echo's round trip),
and correctness counts: failed cycles, what the other devices heard.
"""

from __future__ import annotations

import argparse
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from hubbub_client import Client, ClientError, Disconnected

from . import PLATFORMS, Figure, MixResult, Progress, Target, latency_figures, log_in_devices, process_cpu_s

DESCRIPTION = "call invite / accept / quit cycles between pairs of accounts; cycles/s and latency"

_ACCEPTED, _QUIT = 1, 7


@dataclass(slots=True)
class _Tally:
    cycles: int = 0
    failed: int = 0
    invitation_latencies: list[float] = field(default_factory=list)
    answer_latencies: list[float] = field(default_factory=list)
    cycle_latencies: list[float] = field(default_factory=list)
    other_invitations: int = 0
    other_accepted: int = 0
    other_quit: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Pair:
    inviter: Client
    callee: list[Client]  # device 0 answers; the others only listen
    callee_id: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("calls mix")
    group.add_argument("--call-seconds", type=float, default=20.0, help="how long pairs keep calling (default %(default)s)")


def connections(args: argparse.Namespace) -> int:
    if args.accounts < 2 or not 1 <= args.devices <= len(PLATFORMS):
        raise ValueError(f"the calls mix needs --accounts >= 2 and --devices 1..{len(PLATFORMS)}")
    return int(args.accounts // 2 * (1 + args.devices))


async def run(target: Target, args: argparse.Namespace, progress: Progress) -> MixResult:
    """Log the pairs in, cycle calls for a while, close every connection."""
    tag = secrets.token_hex(3)
    result = MixResult("calls")
    tally = _Tally()
    async with trio.open_nursery() as held:
        pairs = await _log_in_pairs(target, tag, args, held, progress, result)
        for pair in pairs:
            for device in pair.callee[1:]:
                held.start_soon(_listen, device, tally)
        cpu_before = process_cpu_s(target.server_pid)
        started = time.monotonic()
        async with trio.open_nursery() as callers:
            for pair in pairs:
                callers.start_soon(_call_loop, pair, started, args, tally, progress)
        calling_s = time.monotonic() - started
        cpu_after = process_cpu_s(target.server_pid)
        if cpu_before is not None and cpu_after is not None and tally.cycles:
            cpu_us = (cpu_after - cpu_before) * 1e6 / tally.cycles
            result.add(Figure("cpu_us_per_cycle", cpu_us, "us", "cpu_us_per_round_trip", note="server CPU while calling"))
        # the listeners have heard every Accepted once the last cycle's Quit reached its inviter
        await trio.sleep(min(1.0, args.settle_s))
        result.elapsed_s = time.monotonic() - started
        progress.done()
        async with trio.open_nursery() as closing:
            for pair in pairs:
                for client in [pair.inviter, *pair.callee]:
                    closing.start_soon(client.close)
        held.cancel_scope.cancel()
    _report(result, tally, calling_s, len(pairs), args)
    return result


async def _log_in_pairs(
    target: Target, tag: str, args: argparse.Namespace, held: trio.Nursery, progress: Progress, result: MixResult
) -> list[_Pair]:
    wanted = []
    for p in range(args.accounts // 2):
        wanted.append((f"call{tag}-{p}-a", 0))
        wanted += [(f"call{tag}-{p}-b", d) for d in range(args.devices)]
    clients = await log_in_devices(target, wanted, args, held, progress)
    pairs = []
    for p in range(args.accounts // 2):
        inviter, callee_id = clients.get((f"call{tag}-{p}-a", 0)), f"call{tag}-{p}-b"
        callee = [clients.get((callee_id, d)) for d in range(args.devices)]
        if inviter is None or any(c is None for c in callee):
            result.problems.append(f"pair {p} did not log in completely")
            continue
        pairs.append(_Pair(inviter, [c for c in callee if c is not None], callee_id))
    return pairs


async def _call_loop(pair: _Pair, started: float, args: argparse.Namespace, tally: _Tally, progress: Progress) -> None:
    while time.monotonic() < started + args.call_seconds:
        try:
            with trio.fail_after(args.request_timeout_s):
                await _one_cycle(pair, args, tally)
        except (ClientError, Disconnected, trio.TooSlowError) as exc:
            tally.failed += 1
            if len(tally.errors) < 5:
                tally.errors.append(f"{type(exc).__name__}: {exc}"[:200])
            return
        progress.update("calls", tally.cycles, 0, f"cycles {tally.cycles}")


async def _one_cycle(pair: _Pair, args: argparse.Namespace, tally: _Tally) -> None:
    answerer = pair.callee[0]
    sent = time.monotonic()
    reply = await pair.inviter.request("callInvite", timeout=args.request_timeout_s, invitees=[pair.callee_id], config={"timeout": 60})
    call_id = reply["callID"]
    await _until(answerer, lambda e: e.get("ev") == "callInvitationReceived" and e.get("callID") == call_id)
    tally.invitation_latencies.append(time.monotonic() - sent)
    await answerer.request("callAccept", timeout=args.request_timeout_s, callID=call_id)
    await _until(pair.inviter, _state_is(call_id, pair.callee_id, _ACCEPTED))
    tally.answer_latencies.append(time.monotonic() - sent)
    await answerer.request("callQuit", timeout=args.request_timeout_s, callID=call_id)
    await _until(pair.inviter, _state_is(call_id, pair.callee_id, _QUIT))
    tally.cycle_latencies.append(time.monotonic() - sent)
    tally.cycles += 1


def _state_is(call_id: str, user_id: str, state: int) -> Callable[[dict[str, Any]], bool]:
    def matches(event: dict[str, Any]) -> bool:
        if event.get("ev") != "callUserStateChanged" or event.get("callID") != call_id:
            return False
        return any(u.get("userID") == user_id and u.get("state") == state for u in event.get("callUserList", []))

    return matches


async def _until(client: Client, wanted: Callable[[dict[str, Any]], bool]) -> None:
    """Take events in order until one is `wanted` (the others are of no interest here)."""
    while not wanted(await client.next_event()):
        pass


async def _listen(client: Client, tally: _Tally) -> None:
    async for event in client.events():
        name = event.get("ev")
        if name == "callInvitationReceived":
            tally.other_invitations += 1
        elif name == "callUserStateChanged":
            states = [u.get("state") for u in event.get("callUserList", [])]
            tally.other_accepted += states.count(_ACCEPTED) if len(states) == 1 else 0
            tally.other_quit += states.count(_QUIT)


def _report(result: MixResult, tally: _Tally, calling_s: float, pairs: int, args: argparse.Namespace) -> None:
    add = result.add
    listeners = args.devices - 1
    add(Figure("pairs", pairs))
    add(Figure("cycles", tally.cycles, note="invite, accept, quit"))
    add(Figure("cycles_failed", tally.failed, expected=0))
    add(Figure("cycles_per_s", tally.cycles / calling_s if calling_s else 0.0, "/s", "round_trips_per_s"))
    for figure in latency_figures("invitation", tally.invitation_latencies, "rtt", "invite sent to invitation on the callee"):
        add(figure)
    for figure in latency_figures("answer", tally.answer_latencies, "rtt", "invite sent to Accepted on the inviter"):
        add(figure)
    for figure in latency_figures("cycle", tally.cycle_latencies, "rtt", "invite sent to Quit on the inviter"):
        add(figure)
    add(Figure("other_device_invitations", tally.other_invitations, expected=tally.cycles * listeners, note="the callee's listening devices"))
    add(Figure("other_device_accepted", tally.other_accepted, expected=tally.cycles * listeners, note="Accepted elsewhere: both devices"))
    add(Figure("other_device_quit", tally.other_quit, expected=0, note="Quit reaches the accepting device only"))
    result.problems.extend(tally.errors)

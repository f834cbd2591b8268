"""Many devices of one account logging in at once, against as many accounts logging in one device each, in one run.

    python -m scripts.bench_device_bursts --devices 64 --rounds 5

Starts `gateway.cli serve` (a policy that lets one account keep every
device online) and, in alternating rounds, logs in `--devices` devices at
once: of one account (a burst: every device must end up knowing every
other, through its login reply and `selfDevicesChanged`), or of as many
fresh accounts (the baseline: the same logins, no device list to tell).
Each round waits until every device's newest list is complete, then closes
them all. Figures: the selfDevicesChanged frames and bytes a burst cost, and
the server's CPU per login in a burst as a ratio to the baseline's.
Everything is on loopback, bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import cbor2
import trio

from hubbub_client import Client
from scripts.load import hubbub_server
from scripts.loadmix import Target, process_cpu_s

_ROUND_TIMEOUT_S = 120.0
_POLICY = {"mode": "multi", "maxDevices": None, "platformLimits": {"default": 1000}}


def _ids(listing: dict[str, Any]) -> set[str]:
    return {d["loginID"] for d in listing.get("devices", [])}


async def _until_complete(client: Client, online: set[str]) -> list[dict[str, Any]]:
    """The selfDevicesChanged events `client` takes until its newest list is `online`."""
    got: list[dict[str, Any]] = []
    while _ids(got[-1] if got else client.login_reply or {}) != online:
        got.append(await client.next_event("selfDevicesChanged", timeout=_ROUND_TIMEOUT_S))
    return got


async def _round(target: Target, devices: int, one_account: bool) -> tuple[float, int, int]:
    """Server CPU seconds, selfDevicesChanged frames and their bytes for one round of `devices` logins at once."""
    tag = secrets.token_hex(4)
    users = [f"burst{tag}"] * devices if one_account else [f"solo{tag}-{n}" for n in range(devices)]
    async with trio.open_nursery() as held:
        clients = [Client(target.url, held) for _ in users]
        with trio.fail_after(_ROUND_TIMEOUT_S):
            async with trio.open_nursery() as connecting:
                for client in clients:
                    connecting.start_soon(client.connect)
            before = process_cpu_s(target.server_pid) or 0.0
            async with trio.open_nursery() as logging_in:
                for n, (client, user) in enumerate(zip(clients, users, strict=True)):
                    logging_in.start_soon(partial(client.login, user, target.token(user), platform="Web", device_id=f"d{n}"))
            online: dict[str, set[str]] = {}
            for client, user in zip(clients, users, strict=True):
                online.setdefault(user, set()).add(client.login_id or "")
            frames = [e for c, u in zip(clients, users, strict=True) for e in await _until_complete(c, online[u])]
            spent = (process_cpu_s(target.server_pid) or 0.0) - before
        seen = len(frames) + sum(len(c.pending_events("selfDevicesChanged")) for c in clients)
        size = sum(len(cbor2.dumps(e)) for e in frames)
        with trio.move_on_after(10):
            async with trio.open_nursery() as closing:
                for client in clients:
                    closing.start_soon(client.close)
        held.cancel_scope.cancel()
    return spent, seen, size


async def run(devices: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="hubbub-bursts-") as tmp:
        workdir = Path(tmp)
        policy = workdir / "policy.json"
        policy.write_text(json.dumps(_POLICY))
        async with hubbub_server(str(policy), "WARNING", workdir) as (target, _log):
            cpu: dict[bool, list[float]] = {True: [], False: []}
            frames: list[int] = []
            sizes: list[int] = []
            for round_ in range(rounds):
                for one_account in ((False, True) if round_ % 2 == 0 else (True, False)):
                    spent, seen, size = await _round(target, devices, one_account)
                    cpu[one_account].append(spent / devices)
                    if one_account:
                        frames.append(seen)
                        sizes.append(size)
    burst, solo = statistics.median(cpu[True]), statistics.median(cpu[False])
    print(f"{devices} logins at once, {rounds} rounds each way (server CPU per login, median)")
    print(f"  one account:        {1000 * burst:.2f} ms per login; selfDevicesChanged frames per burst {frames} ({statistics.median(sizes):,.0f} bytes median)")
    print(f"  as many accounts:   {1000 * solo:.2f} ms per login (baseline)")
    print(f"  one account / baseline: {burst / solo:.2f}x; frames if every login told every device before it: {devices * (devices - 1) // 2}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--devices", type=int, default=64, help="logins at once per round (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each kind, alternating (default %(default)s)")
    args = parser.parse_args(argv)
    trio.run(run, args.devices, args.rounds)


if __name__ == "__main__":
    main()

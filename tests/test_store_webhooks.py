"""The webhook queue in the store, on every engine: queued with its cause, one head per account, retried, set aside, dropped."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
import trio

from actors.store.base import AccountWrite, AlreadyDelivered, GroupRecord, GroupWrite, WebhookRow
from actors.store.sql_webhooks import _heads
from actors.store.sqlite import DB_FILE_NAME, open_sqlite_store
from tests.store_engines import Engine


def _row(delivery_id: str, account: str, at: int) -> WebhookRow:
    return WebhookRow(delivery_id, account, "messageSent", b'{"userID":"%s"}' % account.encode(), at)


async def test_calls_are_queued_with_their_change_and_delivered_one_head_per_account(engine: Engine) -> None:
    with trio.fail_after(15):
        async with engine.open() as store:
            await store.commit(AccountWrite(user_id="alice", webhooks=[_row("d1", "alice", 10), _row("d2", "alice", 11)]))
            group = GroupRecord("g1", "team", "", {}, 5, 1, {})
            await store.commit_group(GroupWrite(group, webhooks=[_row("d3", "bob", 12)]))
            with pytest.raises(AlreadyDelivered):  # a change that is not stored queues nothing either
                await store.commit(AccountWrite(user_id="carol", delivered_outbox=999, webhooks=[_row("d4", "carol", 13)]))
            assert await store.webhook_counts() == (3, 0)
            heads = await store.webhook_heads(10)
            assert [(h.row.delivery_id, h.attempts, h.next_attempt, h.retry_from) for h in heads] == [("d1", 0, 10, 10), ("d3", 0, 12, 12)]
            assert heads[0].row == _row("d1", "alice", 10)

            await store.webhook_retry_later(heads[0].queue_id, 1, 500, "HTTP 500")
            heads = await store.webhook_heads(10)
            assert [(h.row.delivery_id, h.attempts, h.last_error) for h in heads] == [("d3", 0, ""), ("d1", 1, "HTTP 500")]
            await store.webhook_delivered(heads[0].queue_id)
            assert [h.row.delivery_id for h in await store.webhook_heads(10)] == ["d1"]

            first = (await store.webhook_heads(1))[0]
            await store.webhook_set_aside(first.queue_id, 7, "HTTP 503")
            assert [h.row.delivery_id for h in await store.webhook_heads(10)] == ["d2"]  # no longer holds the account back
            assert await store.webhook_counts() == (1, 1)
            aside = await store.webhook_list(10, set_aside=True)
            assert [(c.row.delivery_id, c.attempts, c.failed) for c in aside] == [("d1", 7, True)]
            assert [c.row.delivery_id for c in await store.webhook_list(10, account="alice")] == ["d1", "d2"]

            assert await store.webhook_retry_now("d1", 900) == 1
            again = await store.webhook_heads(10)
            assert [(h.row.delivery_id, h.next_attempt, h.retry_from, h.failed) for h in again] == [("d1", 900, 900, False)]
            assert await store.webhook_retry_now("nope", 900) == 0
            assert await store.webhook_drop("d2") == 1
            await store.webhook_set_aside(again[0].queue_id, 8, "HTTP 500")
            assert await store.webhook_retry_now(None, 950) == 1 and await store.webhook_counts() == (1, 0)
            await store.webhook_set_aside(again[0].queue_id, 9, "HTTP 500")
            assert await store.webhook_drop(None) == 1
            assert await store.webhook_counts() == (0, 0) and await store.webhook_heads(10) == []


def _vm_steps(path: Path, read: Callable[[sqlite3.Connection], object]) -> int:
    """SQLite virtual-machine instructions one read takes: its cost, counted, not timed."""
    steps = 0

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 0

    with closing(sqlite3.connect(path)) as conn:
        conn.set_progress_handler(tick, 1)
        read(conn)
    return steps


async def test_reading_the_heads_costs_the_same_whatever_the_backlog(tmp_path: Path) -> None:
    accounts = [f"u{n}" for n in range(20)]
    costs = []
    with trio.fail_after(60):
        for backlog in (1, 200):  # calls waiting per account
            data_dir = tmp_path / f"backlog{backlog}"
            async with open_sqlite_store(data_dir) as store:
                for account in accounts:
                    rows = [_row(f"d{account}-{n}", account, n) for n in range(backlog)]
                    await store.commit(AccountWrite(user_id=account, webhooks=rows))
                heads = await store.webhook_heads(8)
                assert [h.row.delivery_id for h in heads] == [f"d{a}-0" for a in accounts[:8]]
            costs.append(_vm_steps(data_dir / DB_FILE_NAME, lambda conn: _heads(conn, 8)))
    # 200 times the calls: about the same work (grouping the whole queue took 200 times as much)
    assert costs[1] <= costs[0] * 1.2, costs

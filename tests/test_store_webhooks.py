"""The webhook queue in the store, on every engine: queued with its cause, one head per account, retried, set aside, dropped."""

from __future__ import annotations

import pytest
import trio

from actors.store.base import AccountWrite, AlreadyDelivered, GroupRecord, GroupWrite, WebhookRow
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

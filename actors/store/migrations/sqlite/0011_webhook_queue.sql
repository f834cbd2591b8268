-- 0011: calls to the application backend (PROTOCOL.md §17). Each row is
-- queued in the same transaction as the change that caused it, delivered in
-- queue order per account, and deleted once the backend answered 2xx.
CREATE TABLE webhook_queue (
    queue_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  TEXT    NOT NULL UNIQUE,    -- X-Hubbub-Delivery: the same on every retry
    account      TEXT    NOT NULL,           -- delivered in order with this account's other calls
    event        TEXT    NOT NULL,
    body         BLOB    NOT NULL,           -- the JSON body exactly as it is signed and sent
    queued_time  INTEGER NOT NULL,           -- ms since epoch
    retry_from   INTEGER NOT NULL,           -- retries give up a while (24 h) after this
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    last_error   TEXT    NOT NULL DEFAULT '',
    failed       INTEGER NOT NULL DEFAULT 0  -- 1: retries gave up; kept until an operator retries or drops it
);
CREATE INDEX webhook_queue_heads ON webhook_queue (failed, account, queue_id);

-- 0005: calls to the application backend (PROTOCOL.md §17). Each row is
-- queued in the same transaction as the change that caused it, delivered in
-- queue order per account, and deleted once the backend answered 2xx.
CREATE TABLE webhook_queue (
    queue_id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  TEXT COLLATE "C" NOT NULL UNIQUE,  -- X-Hubbub-Delivery: the same on every retry
    account      TEXT COLLATE "C" NOT NULL,         -- delivered in order with this account's other calls
    event        TEXT NOT NULL,
    body         BYTEA NOT NULL,                    -- the JSON body exactly as it is signed and sent
    queued_time  BIGINT NOT NULL,                   -- ms since epoch
    retry_from   BIGINT NOT NULL,                   -- retries give up a while (24 h) after this
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt BIGINT NOT NULL,
    last_error   TEXT NOT NULL DEFAULT '',
    failed       SMALLINT NOT NULL DEFAULT 0        -- 1: retries gave up; kept until an operator retries or drops it
);
CREATE INDEX webhook_queue_heads ON webhook_queue (failed, account, queue_id);

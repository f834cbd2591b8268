-- 0005: one outbox for all that an actor commits for another account: a
-- message to deliver, or durable events (group membership, friends). One
-- order for both, so an account that recovers takes them as they were queued.
CREATE TABLE outbox (
    queued        INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       TEXT    NOT NULL,
    message_id    TEXT    REFERENCES messages (message_id),
    events        BLOB,   -- CBOR list of [name, payload] when the row is not a message
    exclude_login TEXT    -- the acting device, which had the reply instead
);
CREATE UNIQUE INDEX outbox_by_message ON outbox (user_id, message_id) WHERE message_id IS NOT NULL;
CREATE INDEX outbox_by_user ON outbox (user_id, queued);
INSERT INTO outbox (user_id, message_id) SELECT user_id, message_id FROM pending_deliveries ORDER BY queued;
DROP TABLE pending_deliveries;

-- 0002: messages, each user's view of them, conversations, pending deliveries.
-- Applied inside the migration transaction. Never edit after release.

-- A message is stored once. `target` is the receiving user (peer) or group.
CREATE TABLE messages (
    message_id        TEXT    PRIMARY KEY,
    conversation_type INTEGER NOT NULL,
    sender            TEXT    NOT NULL,
    target            TEXT    NOT NULL,
    type              INTEGER NOT NULL,
    body              BLOB    NOT NULL,
    body_is_text      INTEGER NOT NULL,
    extended_data     TEXT    NOT NULL,
    timestamp         INTEGER NOT NULL,
    client_message_id TEXT,
    has_receipt       INTEGER NOT NULL,
    receipt_status    INTEGER NOT NULL,
    is_revoked        INTEGER NOT NULL DEFAULT 0
);
-- Not unique: a key may be reused once its 24 h idempotency window has passed.
CREATE INDEX messages_by_client_id ON messages (sender, client_message_id, timestamp) WHERE client_message_id IS NOT NULL;

-- Each user's own view of a conversation: deleting from it changes that user's
-- history only. `message_seq` is per (user, conversation), gap-free as assigned.
CREATE TABLE message_views (
    user_id           TEXT    NOT NULL,
    conversation_type INTEGER NOT NULL,
    conversation_id   TEXT    NOT NULL,
    message_seq       INTEGER NOT NULL,
    message_id        TEXT    NOT NULL REFERENCES messages (message_id),
    direction         INTEGER NOT NULL,
    PRIMARY KEY (user_id, conversation_type, conversation_id, message_seq)
) WITHOUT ROWID;
CREATE INDEX message_views_by_message ON message_views (message_id, user_id);

CREATE TABLE conversations (
    user_id             TEXT    NOT NULL,
    conversation_type   INTEGER NOT NULL,
    conversation_id     TEXT    NOT NULL,
    name                TEXT    NOT NULL,
    last_seq            INTEGER NOT NULL,   -- newest message_seq assigned in this view
    read_seq            INTEGER NOT NULL,   -- read watermark: unread = received above it
    unread              INTEGER NOT NULL,
    last_message_id     TEXT,
    order_key           INTEGER NOT NULL,
    is_pinned           INTEGER NOT NULL,
    notification_status INTEGER NOT NULL,
    draft               TEXT    NOT NULL,
    marks               TEXT    NOT NULL,   -- JSON list of ints
    deleted             INTEGER NOT NULL,
    PRIMARY KEY (user_id, conversation_type, conversation_id)
) WITHOUT ROWID;

-- Outbox: a message committed by its sender and not yet in the receiver's
-- stream. The receiver's account actor consumes rows exactly once.
CREATE TABLE pending_deliveries (
    user_id    TEXT    NOT NULL,
    message_id TEXT    NOT NULL REFERENCES messages (message_id),
    queued     INTEGER PRIMARY KEY AUTOINCREMENT
);
CREATE UNIQUE INDEX pending_deliveries_by_user ON pending_deliveries (user_id, message_id);

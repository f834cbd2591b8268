-- 0001: the whole schema as SQLite has it after its 0007, for PostgreSQL.
-- Applied inside the migration transaction: no BEGIN/COMMIT here.
-- Never edit after release; add 0002_*.sql instead.
--
-- The domain SQL is shared with SQLite, so the shapes match it: times are
-- BIGINT ms since the epoch, flags are SMALLINT 0/1, CBOR is BYTEA, and
-- positional INSERTs rely on the same column order. Text compares as
-- bytes (COLLATE "C", like SQLite), whatever the database's locale, so
-- ties in ORDER BY come out the same on both engines.

CREATE TABLE accounts (
    user_id       TEXT COLLATE "C" PRIMARY KEY,
    user_name     TEXT COLLATE "C",
    created_time  BIGINT NOT NULL,
    head_seq      BIGINT NOT NULL DEFAULT 0,        -- last seq appended; never moves back
    avatar_url    TEXT COLLATE "C" NOT NULL DEFAULT '',
    extended_data TEXT COLLATE "C" NOT NULL DEFAULT ''
);

-- One row per login currently connected; `id` keeps insertion order.
CREATE TABLE online_devices (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login_id    TEXT COLLATE "C" NOT NULL UNIQUE,
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    node        TEXT COLLATE "C" NOT NULL,
    device_id   TEXT COLLATE "C" NOT NULL,
    platform    TEXT COLLATE "C" NOT NULL,
    device_name TEXT COLLATE "C" NOT NULL,
    login_time  BIGINT NOT NULL
);
CREATE INDEX online_devices_by_user ON online_devices (user_id, login_time, id);
CREATE INDEX online_devices_by_node ON online_devices (node);

-- One row per login ever; logout_time and logout_reason stay NULL while online.
CREATE TABLE login_history (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login_id      TEXT COLLATE "C" NOT NULL,
    user_id       TEXT COLLATE "C" NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    node          TEXT COLLATE "C" NOT NULL,
    device_id     TEXT COLLATE "C" NOT NULL,
    platform      TEXT COLLATE "C" NOT NULL,
    device_name   TEXT COLLATE "C" NOT NULL,
    login_time    BIGINT NOT NULL,
    logout_time   BIGINT,
    logout_reason TEXT COLLATE "C"
);
CREATE INDEX login_history_by_user ON login_history (user_id, login_time, id);
CREATE INDEX login_history_by_login ON login_history (login_id);

-- The per-account durable stream; trimming by age walks the key from an
-- account's oldest event (events are stamped in seq order).
CREATE TABLE stream_events (
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    payload     BYTEA NOT NULL,              -- encoded CBOR map, opaque to the store
    time        BIGINT NOT NULL,
    only_device TEXT COLLATE "C",            -- set: the event is for that device only
    PRIMARY KEY (user_id, seq)
);

-- A message is stored once. `target` is the receiving user (peer) or group.
CREATE TABLE messages (
    message_id        TEXT COLLATE "C" PRIMARY KEY,
    conversation_type INTEGER NOT NULL,
    sender            TEXT COLLATE "C" NOT NULL,
    target            TEXT COLLATE "C" NOT NULL,
    type              INTEGER NOT NULL,
    body              BYTEA NOT NULL,
    body_is_text      SMALLINT NOT NULL,
    extended_data     TEXT COLLATE "C" NOT NULL,
    timestamp         BIGINT NOT NULL,
    client_message_id TEXT COLLATE "C",
    has_receipt       SMALLINT NOT NULL,
    receipt_status    INTEGER NOT NULL,
    is_revoked        SMALLINT NOT NULL DEFAULT 0
);
-- Not unique: a key may be reused once its 24 h idempotency window has passed.
CREATE INDEX messages_by_client_id ON messages (sender, client_message_id, timestamp) WHERE client_message_id IS NOT NULL;

-- Each user's own view of a conversation; `message_seq` is per (user, conversation).
CREATE TABLE message_views (
    user_id           TEXT COLLATE "C" NOT NULL,
    conversation_type INTEGER NOT NULL,
    conversation_id   TEXT COLLATE "C" NOT NULL,
    message_seq       BIGINT NOT NULL,
    message_id        TEXT COLLATE "C" NOT NULL REFERENCES messages (message_id),
    direction         INTEGER NOT NULL,
    PRIMARY KEY (user_id, conversation_type, conversation_id, message_seq)
);
CREATE INDEX message_views_by_message ON message_views (message_id, user_id);

CREATE TABLE conversations (
    user_id             TEXT COLLATE "C" NOT NULL,
    conversation_type   INTEGER NOT NULL,
    conversation_id     TEXT COLLATE "C" NOT NULL,
    name                TEXT COLLATE "C" NOT NULL,
    last_seq            BIGINT NOT NULL,     -- newest message_seq assigned in this view
    read_seq            BIGINT NOT NULL,     -- read watermark: unread = received above it
    unread              BIGINT NOT NULL,
    last_message_id     TEXT COLLATE "C",
    order_key           BIGINT NOT NULL,
    is_pinned           SMALLINT NOT NULL,
    notification_status INTEGER NOT NULL,
    draft               TEXT COLLATE "C" NOT NULL,
    marks               TEXT COLLATE "C" NOT NULL,   -- JSON list of ints
    deleted             SMALLINT NOT NULL,
    PRIMARY KEY (user_id, conversation_type, conversation_id)
);

CREATE TABLE groups (
    group_id     TEXT COLLATE "C" PRIMARY KEY,
    name         TEXT COLLATE "C" NOT NULL,
    notice       TEXT COLLATE "C" NOT NULL,
    attributes   TEXT COLLATE "C" NOT NULL,  -- JSON object of text to text
    created_time BIGINT NOT NULL,
    last_seq     BIGINT NOT NULL,            -- newest group messageSeq
    dismissed    SMALLINT NOT NULL DEFAULT 0
);

CREATE TABLE group_members (
    group_id    TEXT COLLATE "C" NOT NULL REFERENCES groups (group_id),
    user_id     TEXT COLLATE "C" NOT NULL,
    role        INTEGER NOT NULL,            -- Owner 1, Admin 2, Member 3
    joined_time BIGINT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_by_user ON group_members (user_id);

-- A group message's place in the group, the same for every member.
CREATE TABLE group_messages (
    group_id    TEXT COLLATE "C" NOT NULL,
    message_seq BIGINT NOT NULL,
    message_id  TEXT COLLATE "C" NOT NULL UNIQUE REFERENCES messages (message_id),
    PRIMARY KEY (group_id, message_seq)
);

-- Who has read a group message that asked for receipts.
CREATE TABLE message_reads (
    message_id TEXT COLLATE "C" NOT NULL REFERENCES messages (message_id),
    user_id    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (message_id, user_id)
);

CREATE TABLE friends (
    user_id      TEXT COLLATE "C" NOT NULL,
    friend_id    TEXT COLLATE "C" NOT NULL,
    wording      TEXT COLLATE "C" NOT NULL,
    created_time BIGINT NOT NULL,
    PRIMARY KEY (user_id, friend_id)
);

-- state: 0 waiting, 1 accepted, 2 rejected
CREATE TABLE friend_applications (
    from_user    TEXT COLLATE "C" NOT NULL,
    to_user      TEXT COLLATE "C" NOT NULL,
    wording      TEXT COLLATE "C" NOT NULL,
    state        INTEGER NOT NULL,
    updated_time BIGINT NOT NULL,
    PRIMARY KEY (from_user, to_user)
);
CREATE INDEX friend_applications_to ON friend_applications (to_user);

-- The outbox: whatever an actor commits for another account (a message to
-- deliver, durable events, a notice), queued in the same transaction as its
-- cause and taken by the receiver exactly once, in queue order.
CREATE TABLE outbox (
    queued        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       TEXT COLLATE "C" NOT NULL,
    message_id    TEXT COLLATE "C" REFERENCES messages (message_id),
    events        BYTEA,                     -- CBOR list of [name, payload] when the row is not a message
    exclude_login TEXT COLLATE "C",          -- the acting device, which had the reply instead
    notice        BYTEA                      -- CBOR [kind, fields]: what only the receiver can turn into events
);
CREATE UNIQUE INDEX outbox_by_message ON outbox (user_id, message_id) WHERE message_id IS NOT NULL;
CREATE INDEX outbox_by_user ON outbox (user_id, queued);

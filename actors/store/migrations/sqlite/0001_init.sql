-- 0001: accounts, online devices, login history, per-account event stream.
-- Applied inside the migration transaction: no BEGIN/COMMIT here.
-- Never edit after release; add 0002_*.sql instead.

CREATE TABLE accounts (
    user_id      TEXT    PRIMARY KEY,
    user_name    TEXT,
    created_time INTEGER NOT NULL,            -- ms since epoch
    head_seq     INTEGER NOT NULL DEFAULT 0   -- last seq appended; never moves back
);

-- One row per login currently connected. `id` keeps insertion order stable
-- across VACUUM (an implicit rowid may be renumbered).
CREATE TABLE online_devices (
    id          INTEGER PRIMARY KEY,
    login_id    TEXT    NOT NULL UNIQUE,
    user_id     TEXT    NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    node        TEXT    NOT NULL,
    device_id   TEXT    NOT NULL,
    platform    TEXT    NOT NULL,
    device_name TEXT    NOT NULL,
    login_time  INTEGER NOT NULL
);
CREATE INDEX online_devices_by_user ON online_devices (user_id, login_time, id);
CREATE INDEX online_devices_by_node ON online_devices (node);

-- One row per login ever; logout_time and logout_reason stay NULL while online.
CREATE TABLE login_history (
    id            INTEGER PRIMARY KEY,
    login_id      TEXT    NOT NULL,
    user_id       TEXT    NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    node          TEXT    NOT NULL,
    device_id     TEXT    NOT NULL,
    platform      TEXT    NOT NULL,
    device_name   TEXT    NOT NULL,
    login_time    INTEGER NOT NULL,
    logout_time   INTEGER,
    logout_reason TEXT
);
CREATE INDEX login_history_by_user ON login_history (user_id, login_time, id);
CREATE INDEX login_history_by_login ON login_history (login_id);

CREATE TABLE stream_events (
    user_id TEXT    NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    name    TEXT    NOT NULL,
    payload BLOB    NOT NULL,   -- encoded CBOR map, opaque to the store
    time    INTEGER NOT NULL,   -- ms since epoch
    PRIMARY KEY (user_id, seq)
) WITHOUT ROWID;
CREATE INDEX stream_events_by_time ON stream_events (user_id, time);

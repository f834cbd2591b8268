-- Every durable event of a group fan-out is one stream insert per member.
-- As a WITHOUT ROWID table keyed by (user_id, seq), each insert put a row of
-- several hundred bytes into the middle of one B-tree, and a second B-tree
-- (by time) was written too. Now rows are appended in rowid order and only a
-- small (user_id, seq) index entry goes in the middle; trimming by age walks
-- that index from an account's oldest event (events are stamped in seq
-- order), so the time index has no reader left.
CREATE TABLE stream_events_appended (
    id          INTEGER PRIMARY KEY,
    user_id     TEXT    NOT NULL REFERENCES accounts (user_id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    payload     BLOB    NOT NULL,   -- encoded CBOR map, opaque to the store
    time        INTEGER NOT NULL,   -- ms since epoch
    only_device TEXT                -- set: the event is for that device only
);
INSERT INTO stream_events_appended (user_id, seq, name, payload, time, only_device)
    SELECT user_id, seq, name, payload, time, only_device FROM stream_events ORDER BY user_id, seq;
DROP TABLE stream_events;
ALTER TABLE stream_events_appended RENAME TO stream_events;
CREATE UNIQUE INDEX stream_events_by_seq ON stream_events (user_id, seq);

-- 0012: threads (PROTOCOL.md §15): sub-conversations of a group, each
-- started from one group message, with their own members and message order.
-- A destroyed thread's rows go; its messages stay in the members' views.
-- Applied inside the migration transaction. Never edit after release.

CREATE TABLE threads (
    thread_id         TEXT    PRIMARY KEY,
    group_id          TEXT    NOT NULL REFERENCES groups (group_id),
    parent_message_id TEXT    NOT NULL,  -- the group message it was started from
    name              TEXT    NOT NULL,
    owner             TEXT    NOT NULL,
    created_time      INTEGER NOT NULL,
    last_seq          INTEGER NOT NULL,  -- newest thread messageSeq
    last_message_id   TEXT,
    UNIQUE (group_id, parent_message_id)  -- one thread per parent message
);

CREATE TABLE thread_members (
    thread_id   TEXT    NOT NULL REFERENCES threads (thread_id),
    user_id     TEXT    NOT NULL,
    joined_time INTEGER NOT NULL,
    PRIMARY KEY (thread_id, user_id)
) WITHOUT ROWID;
CREATE INDEX thread_members_by_user ON thread_members (user_id);

-- A thread message's place in the thread, the same for every member (kept after the thread goes).
CREATE TABLE thread_messages (
    thread_id   TEXT    NOT NULL,
    message_seq INTEGER NOT NULL,
    message_id  TEXT    NOT NULL UNIQUE REFERENCES messages (message_id),
    PRIMARY KEY (thread_id, message_seq)
) WITHOUT ROWID;

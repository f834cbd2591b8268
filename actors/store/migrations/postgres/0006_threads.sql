-- 0006: threads (PROTOCOL.md §15): sub-conversations of a group, each
-- started from one group message, with their own members and message order.
-- A destroyed thread's rows go; its messages stay in the members' views.
-- Applied inside the migration transaction. Never edit after release.

CREATE TABLE threads (
    thread_id         TEXT COLLATE "C" PRIMARY KEY,
    group_id          TEXT COLLATE "C" NOT NULL REFERENCES groups (group_id),
    parent_message_id TEXT COLLATE "C" NOT NULL,  -- the group message it was started from
    name              TEXT COLLATE "C" NOT NULL,
    owner             TEXT COLLATE "C" NOT NULL,
    created_time      BIGINT NOT NULL,
    last_seq          BIGINT NOT NULL,            -- newest thread messageSeq
    last_message_id   TEXT COLLATE "C",
    UNIQUE (group_id, parent_message_id)          -- one thread per parent message
);
CREATE INDEX threads_by_group ON threads (group_id);

CREATE TABLE thread_members (
    thread_id   TEXT COLLATE "C" NOT NULL REFERENCES threads (thread_id),
    user_id     TEXT COLLATE "C" NOT NULL,
    joined_time BIGINT NOT NULL,
    PRIMARY KEY (thread_id, user_id)
);
CREATE INDEX thread_members_by_user ON thread_members (user_id);

-- A thread message's place in the thread, the same for every member (kept after the thread goes).
CREATE TABLE thread_messages (
    thread_id   TEXT COLLATE "C" NOT NULL,
    message_seq BIGINT NOT NULL,
    message_id  TEXT COLLATE "C" NOT NULL UNIQUE REFERENCES messages (message_id),
    PRIMARY KEY (thread_id, message_seq)
);

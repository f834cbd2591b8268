-- 0003: groups and their members, group message order, friends, profiles.
-- Applied inside the migration transaction. Never edit after release.

ALTER TABLE accounts ADD COLUMN avatar_url TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN extended_data TEXT NOT NULL DEFAULT '';

CREATE TABLE groups (
    group_id     TEXT    PRIMARY KEY,
    name         TEXT    NOT NULL,
    notice       TEXT    NOT NULL,
    attributes   TEXT    NOT NULL,   -- JSON object of text to text
    created_time INTEGER NOT NULL,
    last_seq     INTEGER NOT NULL,   -- newest group messageSeq
    dismissed    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE group_members (
    group_id    TEXT    NOT NULL REFERENCES groups (group_id),
    user_id     TEXT    NOT NULL,
    role        INTEGER NOT NULL,    -- Owner 1, Admin 2, Member 3
    joined_time INTEGER NOT NULL,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX group_members_by_user ON group_members (user_id);

-- A group message's place in the group, the same for every member.
CREATE TABLE group_messages (
    group_id    TEXT    NOT NULL,
    message_seq INTEGER NOT NULL,
    message_id  TEXT    NOT NULL UNIQUE REFERENCES messages (message_id),
    PRIMARY KEY (group_id, message_seq)
) WITHOUT ROWID;

-- Who has read a group message that asked for receipts.
CREATE TABLE message_reads (
    message_id TEXT NOT NULL REFERENCES messages (message_id),
    user_id    TEXT NOT NULL,
    PRIMARY KEY (message_id, user_id)
) WITHOUT ROWID;

CREATE TABLE friends (
    user_id      TEXT    NOT NULL,
    friend_id    TEXT    NOT NULL,
    wording      TEXT    NOT NULL,
    created_time INTEGER NOT NULL,
    PRIMARY KEY (user_id, friend_id)
) WITHOUT ROWID;

-- state: 0 waiting, 1 accepted, 2 rejected
CREATE TABLE friend_applications (
    from_user    TEXT    NOT NULL,
    to_user      TEXT    NOT NULL,
    wording      TEXT    NOT NULL,
    state        INTEGER NOT NULL,
    updated_time INTEGER NOT NULL,
    PRIMARY KEY (from_user, to_user)
) WITHOUT ROWID;
CREATE INDEX friend_applications_to ON friend_applications (to_user);

-- 0008: group join modes (PROTOCOL.md §9): the mode, pending join
-- applications, and the users kicked from a group who may not rejoin by
-- joinGroup until invited or accepted again.
-- Applied inside the migration transaction. Never edit after release.

ALTER TABLE groups ADD COLUMN join_mode INTEGER NOT NULL DEFAULT 0;  -- Any 0, Auth 1, Forbid 2

CREATE TABLE group_applications (
    group_id     TEXT    NOT NULL REFERENCES groups (group_id),
    user_id      TEXT    NOT NULL,   -- the applicant
    applied_time INTEGER NOT NULL,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX group_applications_by_user ON group_applications (user_id);

CREATE TABLE group_barred (
    group_id TEXT NOT NULL REFERENCES groups (group_id),
    user_id  TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;

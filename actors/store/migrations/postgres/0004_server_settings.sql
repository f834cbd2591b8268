-- 0004: settings the operator changes at run time (the login policy set with
-- PUT /v1/policy), kept across restarts; as SQLite's 0010. `value` is JSON.
CREATE TABLE server_settings (
    name         TEXT COLLATE "C" PRIMARY KEY,
    value        TEXT NOT NULL,
    updated_time BIGINT NOT NULL
);

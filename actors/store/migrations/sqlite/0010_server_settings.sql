-- Settings the operator changes at run time (the login policy set with
-- PUT /v1/policy), kept across restarts. `value` is JSON.
CREATE TABLE server_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_time INTEGER NOT NULL
);

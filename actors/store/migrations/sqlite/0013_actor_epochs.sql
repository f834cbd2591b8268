-- Who owns each actor that writes (accounts, groups): the node that took it
-- over last and the epoch that claim gave it. Every write of the actor is
-- checked against the epoch in its own transaction, so an owner that lost
-- the actor to another node can never commit. `actor` is "kind:key".
-- One process owns everything on SQLite (SqliteStore.shared is false), so
-- the server claims nothing here; the table keeps one schema and one
-- store test suite for both engines.
CREATE TABLE actor_epochs (
    actor        TEXT PRIMARY KEY,
    epoch        INTEGER NOT NULL,
    node         TEXT NOT NULL,
    claimed_time INTEGER NOT NULL  -- ms since epoch
);

-- 0015: each call to the application backend is made by one worker at a time.
-- The worker claims the due heads it is about to call: `claimed_by` is its
-- node name and `next_attempt` becomes the claim's expiry. The outcome
-- (delivered, retry later, set aside) is recorded only while `claimed_by` and
-- `next_attempt` are still the claim's. One process owns a SQLite store, so
-- at start every claim left by a crash is released at once.
-- '' is no claim. Only heads are claimed: order per account is kept.
-- Applied inside the migration transaction. Never edit after release.

ALTER TABLE webhook_queue ADD COLUMN claimed_by TEXT NOT NULL DEFAULT '';

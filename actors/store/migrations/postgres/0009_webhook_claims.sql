-- 0009: each call to the application backend is made by one node at a time.
-- A node claims the due heads it is about to call: `claimed_by` is its name
-- and `next_attempt` becomes the claim's expiry, so another node's read of
-- the due heads passes the call over until then (the claim is taken with
-- FOR UPDATE SKIP LOCKED). The outcome (delivered, retry later, set aside)
-- is recorded only while `claimed_by` and `next_attempt` are still the
-- claim's; a crashed node's claims expire and another node takes them.
-- '' is no claim. Only heads are claimed: order per account is kept.
-- Applied inside the migration transaction. Never edit after release.

ALTER TABLE webhook_queue ADD COLUMN claimed_by TEXT COLLATE "C" NOT NULL DEFAULT '';

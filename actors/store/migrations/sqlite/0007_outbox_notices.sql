-- A notice: what one account tells another that only the receiver can turn
-- into events (a revoke, read receipts: each party shows them in its own
-- view of the conversation). CBOR [kind, fields]. Queued in the teller's
-- transaction like the rows above, so a crash between the two commits
-- loses none; taken exactly once, in queue order with the rest.
ALTER TABLE outbox ADD COLUMN notice BLOB;

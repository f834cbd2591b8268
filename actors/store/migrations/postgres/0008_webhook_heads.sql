-- 0008: the head of each account's webhook calls is marked, so the delivery
-- worker reads the due heads from a small index instead of grouping the whole
-- queue on every read (its cost grew with the backlog). `head` is 1 on the
-- oldest call of each account that is not set aside, 0 elsewhere.
-- Applied inside the migration transaction. Never edit after release.

ALTER TABLE webhook_queue ADD COLUMN head SMALLINT NOT NULL DEFAULT 0;
UPDATE webhook_queue SET head = 1
 WHERE queue_id IN (SELECT MIN(queue_id) FROM webhook_queue WHERE failed = 0 GROUP BY account);
CREATE INDEX webhook_queue_due ON webhook_queue (next_attempt, queue_id) WHERE head = 1;

-- 0016: one message per clientMessageID of a sender within the idempotency
-- window (24 h), whichever writer stores it: the message's insert takes its
-- key here in the same transaction, and a key already taken within the
-- window fails that write alone (the sender answers with the message that
-- took it). A key older than the window is taken over by the next send.
-- Keys of the messages stored before this migration are not here: a repeat
-- of one is found among the messages before any write, as before.
-- Applied inside the migration transaction. Never edit after release.

CREATE TABLE send_keys (
    sender            TEXT    NOT NULL,
    client_message_id TEXT    NOT NULL,
    message_id        TEXT    NOT NULL,
    sent_ms           INTEGER NOT NULL,
    PRIMARY KEY (sender, client_message_id)
) WITHOUT ROWID;

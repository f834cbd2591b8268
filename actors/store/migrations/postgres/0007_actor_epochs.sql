-- 0007: who owns each actor that writes (accounts, groups): the node that
-- took it over last and the epoch that claim gave it. Every write batch
-- locks the rows of the actors it writes for (in `actor` order, so batches
-- of different nodes cannot deadlock on them) and checks each write's
-- epoch, so an owner that lost the actor to another node can never commit.
-- `actor` is "kind:key".
CREATE TABLE actor_epochs (
    actor        TEXT COLLATE "C" PRIMARY KEY,
    epoch        BIGINT NOT NULL,
    node         TEXT COLLATE "C" NOT NULL,
    claimed_time BIGINT NOT NULL  -- ms since epoch
);

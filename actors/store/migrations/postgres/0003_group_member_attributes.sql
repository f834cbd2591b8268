-- 0003: group member attributes (PROTOCOL.md §16): each member's small map,
-- a JSON object of text to text (at most 16 keys), gone with the membership.
-- Applied inside the migration transaction. Never edit after release.

ALTER TABLE group_members ADD COLUMN attributes TEXT COLLATE "C" NOT NULL DEFAULT '{}';

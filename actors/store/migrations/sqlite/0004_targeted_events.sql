-- 0004: an event meant for one device only (a message to one of one's own
-- devices): other devices neither get it live nor on resume (deviceID: stable across logins).
ALTER TABLE stream_events ADD COLUMN only_device TEXT;

-- Every durable event of a group fan-out is one insert per member, and this
-- index was a second B-tree written on each. Trimming by age now finds the
-- first event young enough to keep along the primary key (an account's
-- events are stamped in seq order), so the index has no reader left.
DROP INDEX stream_events_by_time;

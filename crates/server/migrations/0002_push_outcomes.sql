-- ringwire server schema, version 2: push outcomes in the call record.
--
-- Portable SQL for SQLite and PostgreSQL (one ADD COLUMN per statement, as SQLite requires).
-- call_devices.reached_via gains the value 'push' (offline at invite time, woken by a VoIP push,
-- connected while the call rang); it is plain TEXT, so no schema change is needed for it.

-- How the incoming-call push to the device ended: 'sent', 'unregistered', 'bad_token',
-- 'failed', 'expired', 'push_unavailable' or 'no_token'; NULL when no push was due.
ALTER TABLE call_devices ADD COLUMN push_outcome TEXT;
-- The same for the missed-call alert push after a call ended unanswered.
ALTER TABLE call_devices ADD COLUMN missed_call_push_outcome TEXT;

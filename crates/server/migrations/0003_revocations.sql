-- ringwire server schema, version 3: finding recent revocations quickly.
--
-- A running server polls for devices revoked by another process (`ringwire device revoke` edits
-- the store directly) and closes their connections; this index keeps that poll cheap.
CREATE INDEX devices_revoked ON devices (revoked_at) WHERE revoked_at IS NOT NULL;

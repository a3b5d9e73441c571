-- ringwire server schema, version 1.
--
-- One file for both SQLite and PostgreSQL, so it uses only portable SQL: TEXT and BIGINT columns,
-- times as UNIX milliseconds, ids as 32 lowercase hex characters, "no value" as NULL.
-- The store parses every value it reads back, so a hand-edited row is reported, not trusted.

CREATE TABLE users (
    name         TEXT   NOT NULL PRIMARY KEY,
    display_name TEXT,
    created_at   BIGINT NOT NULL
);

CREATE TABLE devices (
    id              TEXT   NOT NULL PRIMARY KEY,
    user_name       TEXT   NOT NULL REFERENCES users (name),
    label           TEXT,
    -- Lowercase hex SHA-256 of the device token; the token itself is never stored.
    token_hash      TEXT   NOT NULL UNIQUE,
    created_at      BIGINT NOT NULL,
    last_seen       BIGINT,
    -- NULL while the device may connect.
    revoked_at      BIGINT,
    push_platform   TEXT,
    voip_push_token TEXT,
    push_token      TEXT
);

CREATE INDEX devices_by_user ON devices (user_name, created_at);

-- Calls keep plain user names and device ids (no foreign keys) so history survives the removal
-- of a device or user.
CREATE TABLE calls (
    id              TEXT   NOT NULL PRIMARY KEY,
    caller_user     TEXT   NOT NULL,
    caller_device   TEXT   NOT NULL,
    callee_user     TEXT   NOT NULL,
    -- 'ringing', 'active' or 'ended'.
    state           TEXT   NOT NULL,
    invited_at      BIGINT NOT NULL,
    ring_deadline   BIGINT NOT NULL,
    first_ring_at   BIGINT,
    accepted_at     BIGINT,
    answered_device TEXT,
    ended_at        BIGINT,
    end_reason      TEXT,
    ended_by_device TEXT
);

-- Call history of one user (caller or callee), newest first.
CREATE INDEX calls_by_caller ON calls (caller_user, invited_at);
CREATE INDEX calls_by_callee ON calls (callee_user, invited_at);
-- Calls still open after a restart.
CREATE INDEX calls_open ON calls (invited_at) WHERE ended_at IS NULL;
-- Calls that ended recently.
CREATE INDEX calls_by_end ON calls (ended_at);

CREATE TABLE call_devices (
    call_id     TEXT   NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    device_id   TEXT   NOT NULL,
    -- 0, 1, 2, ... in the order the call's devices were first reached (ties in reached_at).
    seq         BIGINT NOT NULL,
    -- 'socket', 'replay' or 'offline'.
    reached_via TEXT   NOT NULL,
    reached_at  BIGINT NOT NULL,
    rang_at     BIGINT,
    PRIMARY KEY (call_id, device_id)
);

-- ringwire server schema, version 4: call timelines uploaded by devices (`call_timeline`,
-- protocol.md 5.14), kept beside the call record they describe.
--
-- Portable SQL for SQLite and PostgreSQL, as before: TEXT and BIGINT, times in UNIX ms.

CREATE TABLE call_timelines (
    call_id     TEXT   NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    -- The uploading device: the call's caller device or one of its callee devices.
    device_id   TEXT   NOT NULL,
    -- 'ios', 'android', 'web' or 'native', as the device said.
    platform    TEXT   NOT NULL,
    -- 'incoming' (a callee device) or 'outgoing' (the caller device).
    direction   TEXT   NOT NULL,
    -- Server clock.
    uploaded_at BIGINT NOT NULL,
    -- The events as a JSON array, exactly as validated on upload (device clock times).
    events      TEXT   NOT NULL,
    -- One timeline per device and call: a second upload is refused (`already_stored`).
    PRIMARY KEY (call_id, device_id)
);

-- The analytics read timelines of the calls invited in a time range, and the admin's list of
-- recent calls pages by invite time.
CREATE INDEX calls_by_invite ON calls (invited_at);

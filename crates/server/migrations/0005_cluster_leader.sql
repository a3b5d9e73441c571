-- ringwire server schema, version 5: the cluster's leader record (docs/cluster.md).
--
-- One row per cluster (its NATS subject prefix). The node that holds the cluster's advisory
-- lock bumps `epoch` when it takes over; every call-record write of a clustered server checks
-- the epoch it was elected with inside its own transaction, so a leader that lost its lock can
-- never commit again (a fencing token). `pid` is the lock holder's backend, so another node can
-- end a session whose host vanished without closing its socket.
CREATE TABLE cluster_leader (
    cluster TEXT PRIMARY KEY,
    epoch BIGINT NOT NULL,
    node TEXT NOT NULL,
    pid BIGINT NOT NULL,
    since_ms BIGINT NOT NULL
);

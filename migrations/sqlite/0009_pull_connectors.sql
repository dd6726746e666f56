-- Pull connectors (SQLite): where each connector's pass stands, so a restart resumes from the
-- last page committed, and a log of runs with the items each refused. A page's bookings, the
-- connector's new position and the run's counters are written in one transaction.

CREATE TABLE connector_state (
    name        TEXT PRIMARY KEY,
    -- The incremental value the pass in progress asks from (NULL: from the beginning).
    pass_since  TEXT,
    -- JSON: the request that continues the pass in progress (NULL: no pass in progress).
    resume      TEXT,
    -- The largest incremental value booked by the pass in progress.
    high_water  TEXT,
    -- Where the next pass starts: the high water of the last complete pass.
    next_since  TEXT,
    lease_owner TEXT,
    lease_until TEXT,
    updated_at  TEXT NOT NULL
);

CREATE TABLE connector_runs (
    id          INTEGER PRIMARY KEY,
    connector   TEXT NOT NULL,
    started_by  TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    resumed     INTEGER NOT NULL,
    pages       INTEGER NOT NULL DEFAULT 0,
    booked      INTEGER NOT NULL DEFAULT 0,
    unchanged   INTEGER NOT NULL DEFAULT 0,
    refused     INTEGER NOT NULL DEFAULT 0,
    error       TEXT
);
CREATE INDEX connector_runs_connector ON connector_runs (connector, id);

CREATE TABLE connector_refusals (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES connector_runs (id),
    page        INTEGER NOT NULL,
    item        INTEGER NOT NULL,
    external_id TEXT,
    pointer     TEXT NOT NULL,
    message     TEXT NOT NULL
);
CREATE INDEX connector_refusals_run ON connector_refusals (run_id, id);

-- The collection runtime (SQLite): deployed scenario versions, cases, their timers, tasks,
-- events, history and outbound messages. Instants are RFC 3339 text, dates ISO text.

CREATE TABLE scenario_versions (
    id          INTEGER PRIMARY KEY,
    scenario_id TEXT NOT NULL,
    version     INTEGER NOT NULL,
    title       TEXT NOT NULL,
    source_path TEXT NOT NULL,
    source      TEXT NOT NULL,
    checksum    TEXT NOT NULL,
    deployed_at TEXT NOT NULL,
    deployed_by TEXT NOT NULL,
    UNIQUE (scenario_id, version)
);

CREATE TABLE cases (
    id                  INTEGER PRIMARY KEY,
    scenario_version_id INTEGER NOT NULL REFERENCES scenario_versions (id),
    scenario_id         TEXT NOT NULL,
    customer_id         INTEGER NOT NULL REFERENCES customers (id),
    invoice_id          INTEGER REFERENCES documents (id),
    subject             TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('active', 'waiting', 'paused', 'closed')),
    step                TEXT NOT NULL,
    step_entered_at     TEXT NOT NULL,
    visit               INTEGER NOT NULL,
    vars                TEXT NOT NULL,
    deadline            TEXT,
    last_outcome        TEXT,
    promise             TEXT,
    close_reason        TEXT,
    debtor_token        TEXT NOT NULL UNIQUE,
    started_by          TEXT NOT NULL,
    opened_at           TEXT NOT NULL,
    closed_at           TEXT,
    updated_at          TEXT NOT NULL
);
-- One open case per customer (or invoice) per scenario.
CREATE UNIQUE INDEX cases_one_open ON cases (scenario_id, subject) WHERE status <> 'closed';
CREATE INDEX cases_customer ON cases (customer_id, status);
CREATE INDEX cases_step ON cases (scenario_id, step) WHERE status <> 'closed';

-- A timer belongs to one visit of one step; it fires once. Workers claim due timers in
-- batches with a lease and fire each in the transaction that moves its case on.
CREATE TABLE timers (
    id          INTEGER PRIMARY KEY,
    case_id     INTEGER NOT NULL REFERENCES cases (id),
    kind        TEXT NOT NULL,
    step        TEXT NOT NULL,
    visit       INTEGER NOT NULL,
    task_id     INTEGER,
    due_at      TEXT NOT NULL,
    lease_owner TEXT,
    lease_until TEXT,
    fired_at    TEXT
);
CREATE INDEX timers_due ON timers (due_at) WHERE fired_at IS NULL;
CREATE INDEX timers_case ON timers (case_id) WHERE fired_at IS NULL;

-- Events are stored first and applied afterwards, in id order.
CREATE TABLE case_events (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    customer_id INTEGER,
    case_id     INTEGER,
    payload     TEXT NOT NULL,
    actor       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    applied_at  TEXT,
    result      TEXT
);
CREATE INDEX case_events_pending ON case_events (id) WHERE applied_at IS NULL;

-- Append-only: who, when, what, and the values that decided it.
CREATE TABLE case_history (
    id      INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES cases (id),
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    kind    TEXT NOT NULL,
    step    TEXT,
    message TEXT NOT NULL,
    detail  TEXT NOT NULL
);
CREATE INDEX case_history_case ON case_history (case_id, id);
CREATE TRIGGER case_history_no_update BEFORE UPDATE ON case_history
BEGIN SELECT RAISE(ABORT, 'arrears: case history is immutable'); END;
CREATE TRIGGER case_history_no_delete BEFORE DELETE ON case_history
BEGIN SELECT RAISE(ABORT, 'arrears: case history is immutable'); END;

CREATE TABLE tasks (
    id              INTEGER PRIMARY KEY,
    case_id         INTEGER REFERENCES cases (id),
    customer_id     INTEGER REFERENCES customers (id),
    step            TEXT,
    visit           INTEGER,
    kind            TEXT NOT NULL CHECK (kind IN ('task', 'approval', 'verification', 'dispute', 'request')),
    title           TEXT NOT NULL,
    role            TEXT,
    assignee        TEXT,
    status          TEXT NOT NULL CHECK (status IN ('open', 'claimed', 'snoozed', 'done', 'cancelled')),
    outcomes        TEXT NOT NULL,
    form            TEXT NOT NULL,
    due_at          TEXT,
    escalate_to     TEXT,
    escalated_at    TEXT,
    next_contact_at TEXT,
    outcome         TEXT,
    data            TEXT,
    created_at      TEXT NOT NULL,
    claimed_by      TEXT,
    completed_by    TEXT,
    completed_at    TEXT
);
CREATE INDEX tasks_inbox ON tasks (status, assignee, role);
CREATE INDEX tasks_case ON tasks (case_id);

CREATE TABLE task_notes (
    id      INTEGER PRIMARY KEY,
    task_id INTEGER NOT NULL REFERENCES tasks (id),
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    kind    TEXT NOT NULL,
    text    TEXT NOT NULL
);
CREATE INDEX task_notes_task ON task_notes (task_id, id);

-- Messages written in the transaction that decided them and sent after commit.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    case_id         INTEGER REFERENCES cases (id),
    idempotency_key TEXT NOT NULL UNIQUE,
    channel         TEXT NOT NULL,
    template        TEXT,
    language        TEXT,
    recipient       TEXT,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('held', 'pending', 'sent', 'dead', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    lease_owner     TEXT,
    lease_until     TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    receipt         TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';

-- The position of the virtual clock of `arrears engine run --virtual-clock`.
CREATE TABLE engine_clock (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    now              TEXT NOT NULL,
    run_until        TEXT NOT NULL,
    -- The day whose new cases have been (or are being) started, by one worker only.
    scanned_on       TEXT,
    scan_done        INTEGER NOT NULL DEFAULT 0,
    scan_lease_until TEXT
);

-- Money allocated to a customer with an open case is an event for that case, written in the
-- same transaction as the booking, whichever path booked it.
CREATE TRIGGER allocations_notify_cases AFTER INSERT ON allocations
WHEN EXISTS (SELECT 1 FROM cases WHERE customer_id = NEW.customer_id AND status <> 'closed')
BEGIN
    INSERT INTO case_events (kind, customer_id, payload, actor, created_at)
    VALUES ('ledger_changed', NEW.customer_id, '{"kind":"ledger_changed"}', NEW.created_by, NEW.created_at);
END;

-- Late-payment interest notes, fees and recovery compensation (SQLite). The notes and fees
-- themselves are ledger documents (kinds interest_note and fee); these tables record what each
-- one charged, so that nothing is ever charged twice.

CREATE TABLE interest_notes (
    id           INTEGER PRIMARY KEY,
    document_id  INTEGER NOT NULL UNIQUE REFERENCES documents (id),
    customer_id  INTEGER NOT NULL REFERENCES customers (id),
    currency     TEXT NOT NULL,
    as_of        TEXT NOT NULL,
    rate_table   TEXT NOT NULL,
    basis        TEXT NOT NULL,
    total_minor  INTEGER NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('prepared', 'approved', 'sent')),
    prepared_at  TEXT NOT NULL,
    prepared_by  TEXT NOT NULL,
    approved_at  TEXT,
    approved_by  TEXT,
    sent_at      TEXT,
    sent_by      TEXT,
    -- The segments of every invoice (JSON), as printed on the note.
    detail       TEXT NOT NULL
);
CREATE INDEX interest_notes_customer ON interest_notes (customer_id, as_of);

-- One invoice's interest on one note: the days from period_from to period_to (inclusive).
-- A later note for the same invoice starts the day after the latest period_to; the unique
-- index refuses a second note starting on the same day (two runs racing).
CREATE TABLE interest_note_items (
    note_id      INTEGER NOT NULL REFERENCES interest_notes (id),
    invoice_id   INTEGER NOT NULL REFERENCES documents (id),
    period_from  TEXT NOT NULL,
    period_to    TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    PRIMARY KEY (note_id, invoice_id),
    CHECK (period_from <= period_to)
);
CREATE UNIQUE INDEX interest_note_items_period ON interest_note_items (invoice_id, period_from);

-- Fees a scenario step charged: one per (case, step), whatever happens.
CREATE TABLE case_fees (
    case_id     INTEGER NOT NULL,
    step        TEXT NOT NULL,
    document_id INTEGER REFERENCES documents (id),
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    PRIMARY KEY (case_id, step)
);

-- The fixed recovery compensation: one per invoice.
CREATE TABLE recovery_compensations (
    invoice_id   INTEGER PRIMARY KEY REFERENCES documents (id),
    document_id  INTEGER REFERENCES documents (id),
    eur_minor    INTEGER NOT NULL,
    rate_date    TEXT,
    eur_pln      TEXT,
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL
);

CREATE TRIGGER interest_note_items_no_update BEFORE UPDATE ON interest_note_items
BEGIN SELECT RAISE(ABORT, 'arrears: what an interest note charged is immutable'); END;
CREATE TRIGGER interest_note_items_no_delete BEFORE DELETE ON interest_note_items
BEGIN SELECT RAISE(ABORT, 'arrears: what an interest note charged is immutable'); END;

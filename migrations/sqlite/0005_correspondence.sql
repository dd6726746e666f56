-- Correspondence (SQLite): every document rendered from a template, with its lifecycle
-- (prepared -> approved -> sent -> delivered | bounced, or cancelled) and who and when, and
-- the rendered bytes kept as the archive. A duplicate is a document of its own that points
-- to the original.

CREATE TABLE correspondence (
    id            INTEGER PRIMARY KEY,
    customer_id   INTEGER NOT NULL REFERENCES customers (id),
    case_id       INTEGER REFERENCES cases (id),
    outbox_id     INTEGER UNIQUE REFERENCES outbox (id),
    duplicate_of  INTEGER REFERENCES correspondence (id),
    template      TEXT NOT NULL,
    channel       TEXT NOT NULL,
    language      TEXT NOT NULL,
    recipient     TEXT,
    subject       TEXT,
    body          TEXT NOT NULL,
    pdf           BLOB,
    context       TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('prepared', 'approved', 'sent', 'delivered', 'bounced', 'cancelled')),
    prepared_at   TEXT NOT NULL,
    prepared_by   TEXT NOT NULL,
    approved_at   TEXT,
    approved_by   TEXT,
    sent_at       TEXT,
    sent_by       TEXT,
    delivered_at  TEXT,
    bounced_at    TEXT,
    status_detail TEXT,
    provider_id   TEXT
);
CREATE INDEX correspondence_customer ON correspondence (customer_id, id);
CREATE INDEX correspondence_case ON correspondence (case_id, id);
CREATE INDEX correspondence_status ON correspondence (status);
CREATE INDEX correspondence_sent ON correspondence (sent_at);
CREATE INDEX correspondence_provider ON correspondence (provider_id);

-- Who released a held message (an approved document), so a document prepared after the
-- approval still records it.
ALTER TABLE outbox ADD COLUMN approved_by TEXT;
ALTER TABLE outbox ADD COLUMN approved_at TEXT;

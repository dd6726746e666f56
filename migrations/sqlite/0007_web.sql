-- The web layer's tables (SQLite): users and their server-side sessions, API tokens for
-- integrators, per-case secret links for the debtor page with the proofs uploaded through
-- them, and intranet requests to start a case. Secrets (session ids, API tokens, debtor
-- link tokens) are stored only as SHA-256 hashes: a copy of the database opens nothing.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'process_owner', 'supervisor', 'collector', 'viewer')),
    language      TEXT NOT NULL CHECK (language IN ('en', 'pl')),
    team          TEXT,
    password_hash TEXT NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL
);

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    csrf       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'process_owner', 'supervisor', 'collector', 'viewer')),
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

CREATE TABLE pay_links (
    id         INTEGER PRIMARY KEY,
    case_id    INTEGER NOT NULL REFERENCES cases (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX pay_links_case ON pay_links (case_id);

CREATE TABLE pay_uploads (
    id           INTEGER PRIMARY KEY,
    pay_link_id  INTEGER NOT NULL REFERENCES pay_links (id),
    case_id      INTEGER NOT NULL REFERENCES cases (id),
    content_type TEXT NOT NULL,
    file_name    TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    content      BLOB NOT NULL,
    uploaded_at  TEXT NOT NULL
);
CREATE INDEX pay_uploads_case ON pay_uploads (case_id);

CREATE TABLE case_requests (
    id              INTEGER PRIMARY KEY,
    requester       TEXT NOT NULL,
    customer_id     INTEGER NOT NULL REFERENCES customers (id),
    invoice_number  TEXT,
    reason          TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'rejected')),
    task_id         INTEGER REFERENCES tasks (id),
    case_id         INTEGER REFERENCES cases (id),
    decided_by      TEXT,
    decision_reason TEXT,
    created_at      TEXT NOT NULL,
    decided_at      TEXT
);
CREATE INDEX case_requests_requester ON case_requests (requester);

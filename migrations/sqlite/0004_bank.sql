-- Bank statement entries we have seen (SQLite). `identity` is a hash of the account, the
-- bank's reference (or end-to-end id), the booking date, the side, the amount and the entry's
-- place in its statement: importing the same file twice finds every entry here and books
-- nothing twice. Credits that matched nothing (or matched with low confidence) wait here with
-- status 'queued' for a person to match them.

CREATE TABLE bank_entries (
    id                    INTEGER PRIMARY KEY,
    identity              TEXT NOT NULL UNIQUE,
    account               TEXT NOT NULL,
    statement_id          TEXT NOT NULL,
    currency              TEXT NOT NULL,
    booking_date          TEXT NOT NULL,
    amount_minor          INTEGER NOT NULL,
    side                  TEXT NOT NULL CHECK (side IN ('credit', 'debit')),
    is_reversal           INTEGER NOT NULL,
    bank_reference        TEXT,
    end_to_end_id         TEXT,
    structured_reference  TEXT,
    counterparty_name     TEXT,
    counterparty_account  TEXT,
    remittance            TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('booked', 'queued', 'resolved',
                                                          'reversed', 'reversal', 'not_payment')),
    payment_id            INTEGER REFERENCES documents (id),
    suggested_customer_id INTEGER,
    confidence            INTEGER NOT NULL,
    reason                TEXT NOT NULL,
    explanation           TEXT NOT NULL,
    -- The allocations matching proposed (JSON), for the queue.
    suggestion            TEXT NOT NULL,
    imported_at           TEXT NOT NULL,
    imported_by           TEXT NOT NULL
);
CREATE INDEX bank_entries_queue ON bank_entries (id) WHERE status = 'queued';
CREATE INDEX bank_entries_reference ON bank_entries (account, end_to_end_id);

-- The receivables ledger (SQLite). Money is integer minor units plus a currency code;
-- accounting dates are ISO text (YYYY-MM-DD), instants RFC 3339 text.

CREATE TABLE customers (
    id            INTEGER PRIMARY KEY,
    external_id   TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    category      TEXT NOT NULL,
    language      TEXT NOT NULL,
    collector     TEXT,
    tax_id        TEXT,
    contacts      TEXT NOT NULL DEFAULT '[]',
    custom_fields TEXT NOT NULL DEFAULT '{}',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX customers_category ON customers (category);
CREATE INDEX customers_collector ON customers (collector);

CREATE TABLE customer_ibans (
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    iban        TEXT NOT NULL,
    PRIMARY KEY (customer_id, iban)
);
CREATE INDEX customer_ibans_iban ON customer_ibans (iban);

CREATE TABLE documents (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('invoice', 'debit_note', 'interest_note', 'fee',
                                               'payment', 'credit_note', 'write_off', 'credit_transfer')),
    number       TEXT NOT NULL,
    external_id  TEXT,
    customer_id  INTEGER NOT NULL REFERENCES customers (id),
    buyer_name   TEXT NOT NULL,
    currency     TEXT NOT NULL,
    net_minor    INTEGER NOT NULL,
    tax_minor    INTEGER NOT NULL,
    gross_minor  INTEGER NOT NULL CHECK (gross_minor > 0),
    issue_date   TEXT NOT NULL,
    due_date     TEXT,
    corrects_id  INTEGER REFERENCES documents (id),
    reference    TEXT,
    payer_iban   TEXT,
    memo         TEXT,
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    UNIQUE (kind, number)
);
CREATE UNIQUE INDEX documents_external_id ON documents (kind, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX documents_customer ON documents (customer_id, kind, due_date);
CREATE INDEX documents_corrects ON documents (corrects_id) WHERE corrects_id IS NOT NULL;

CREATE TABLE document_lines (
    document_id INTEGER NOT NULL REFERENCES documents (id),
    line_no     INTEGER NOT NULL,
    description TEXT NOT NULL,
    quantity    TEXT NOT NULL,
    unit_price  TEXT NOT NULL,
    tax_rate    TEXT NOT NULL,
    net_minor   INTEGER NOT NULL,
    tax_minor   INTEGER NOT NULL,
    gross_minor INTEGER NOT NULL,
    PRIMARY KEY (document_id, line_no)
) WITHOUT ROWID;

-- Money of a reducing document (source) applied to a receivable (target).
CREATE TABLE allocations (
    id             INTEGER PRIMARY KEY,
    source_id      INTEGER NOT NULL REFERENCES documents (id),
    target_id      INTEGER NOT NULL REFERENCES documents (id),
    customer_id    INTEGER NOT NULL REFERENCES customers (id),
    amount_minor   INTEGER NOT NULL CHECK (amount_minor > 0),
    effective_date TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    created_by     TEXT NOT NULL
);
CREATE INDEX allocations_target ON allocations (target_id, effective_date, amount_minor);
CREATE INDEX allocations_source ON allocations (source_id, effective_date, amount_minor);

-- Unallocated money refunded to the customer or moved to another customer.
CREATE TABLE credit_operations (
    id                 INTEGER PRIMARY KEY,
    kind               TEXT NOT NULL CHECK (kind IN ('refund', 'transfer')),
    source_id          INTEGER NOT NULL REFERENCES documents (id),
    customer_id        INTEGER NOT NULL REFERENCES customers (id),
    amount_minor       INTEGER NOT NULL CHECK (amount_minor > 0),
    effective_date     TEXT NOT NULL,
    target_customer_id INTEGER REFERENCES customers (id),
    target_document_id INTEGER REFERENCES documents (id),
    note               TEXT,
    created_at         TEXT NOT NULL,
    created_by         TEXT NOT NULL
);
CREATE INDEX credit_operations_source ON credit_operations (source_id, effective_date, amount_minor);

-- Documents with money still open (receivables) or unallocated (payments, credit notes,
-- credit transfers). Derived from documents, allocations and credit operations and kept in
-- step with them in the same transaction, as an ERP keeps open items apart from cleared
-- ones: reports and allocation read the few open documents instead of the whole ledger.
CREATE TABLE open_documents (
    document_id INTEGER PRIMARY KEY REFERENCES documents (id),
    customer_id INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    currency    TEXT NOT NULL,
    issue_date  TEXT NOT NULL,
    due_date    TEXT,
    gross_minor INTEGER NOT NULL
);
CREATE INDEX open_documents_customer ON open_documents (customer_id);

-- When a document's open (or unallocated) amount reached zero: the latest effective date of
-- the allocations and credit operations that settled it. Reports as of an earlier date
-- still count the document.
CREATE TABLE document_clearings (
    document_id INTEGER PRIMARY KEY REFERENCES documents (id),
    cleared_on  TEXT NOT NULL
);
CREATE INDEX document_clearings_on ON document_clearings (cleared_on);

-- Issued documents, their lines, allocations and credit operations never change.
CREATE TRIGGER documents_no_update BEFORE UPDATE ON documents
BEGIN SELECT RAISE(ABORT, 'arrears: issued documents are immutable; book a correcting document instead'); END;
CREATE TRIGGER documents_no_delete BEFORE DELETE ON documents
BEGIN SELECT RAISE(ABORT, 'arrears: issued documents are immutable; book a correcting document instead'); END;
CREATE TRIGGER document_lines_no_update BEFORE UPDATE ON document_lines
BEGIN SELECT RAISE(ABORT, 'arrears: lines of issued documents are immutable; book a correcting document instead'); END;
CREATE TRIGGER document_lines_no_delete BEFORE DELETE ON document_lines
BEGIN SELECT RAISE(ABORT, 'arrears: lines of issued documents are immutable; book a correcting document instead'); END;
CREATE TRIGGER allocations_no_update BEFORE UPDATE ON allocations
BEGIN SELECT RAISE(ABORT, 'arrears: allocations are immutable'); END;
CREATE TRIGGER allocations_no_delete BEFORE DELETE ON allocations
BEGIN SELECT RAISE(ABORT, 'arrears: allocations are immutable'); END;
CREATE TRIGGER credit_operations_no_update BEFORE UPDATE ON credit_operations
BEGIN SELECT RAISE(ABORT, 'arrears: credit operations are immutable'); END;
CREATE TRIGGER credit_operations_no_delete BEFORE DELETE ON credit_operations
BEGIN SELECT RAISE(ABORT, 'arrears: credit operations are immutable'); END;
CREATE TRIGGER document_clearings_no_update BEFORE UPDATE ON document_clearings
BEGIN SELECT RAISE(ABORT, 'arrears: clearings are immutable'); END;
CREATE TRIGGER document_clearings_no_delete BEFORE DELETE ON document_clearings
BEGIN SELECT RAISE(ABORT, 'arrears: clearings are immutable'); END;

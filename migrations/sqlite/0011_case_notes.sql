-- Notes collectors write on a case (what a call or a letter from the customer said): kept
-- beside the case's history, never changed or deleted.
CREATE TABLE case_notes (
    id         INTEGER PRIMARY KEY,
    case_id    INTEGER NOT NULL REFERENCES cases (id),
    author     TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX case_notes_case ON case_notes (case_id, id);

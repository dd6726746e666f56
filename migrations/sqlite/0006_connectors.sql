-- Connectors (SQLite). Inbound webhook deliveries: one row per delivery a source sent and
-- arrears booked, written in the booking's transaction, so that the same delivery id sent
-- again (a replay) is refused and books nothing.

CREATE TABLE inbound_deliveries (
    source       TEXT NOT NULL,
    delivery_id  TEXT NOT NULL,
    resource     TEXT NOT NULL,
    items        INTEGER NOT NULL,
    body_sha256  TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    PRIMARY KEY (source, delivery_id)
);
CREATE INDEX inbound_deliveries_received ON inbound_deliveries (received_at);

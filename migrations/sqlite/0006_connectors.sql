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

-- Outbound webhook subscriptions: case events (rows of case_history, by kind) POSTed to a
-- URL, signed with the subscription's secret. Each subscription relays the history after
-- `last_history_id` (set to the newest row when it is created: no back-fill) into the
-- outbox (channel 'subscription', recipient = the subscription's id), whose dispatcher
-- retries with backoff and dead-letters; the outbox rows are the delivery log.
CREATE TABLE webhook_subscriptions (
    id              INTEGER PRIMARY KEY,
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,
    secret          TEXT NOT NULL,
    active          INTEGER NOT NULL,
    last_history_id INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    created_by      TEXT NOT NULL
);
CREATE INDEX outbox_subscription ON outbox (recipient, id) WHERE channel = 'subscription';

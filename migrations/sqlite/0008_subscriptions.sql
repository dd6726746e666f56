-- Outbound webhook subscriptions (SQLite). A subscription names a URL, the secret its
-- deliveries are signed with, and the event types it wants. An event is a case history entry
-- of a kind that `webhook_event_kinds` maps to an event type: a trigger on the history writes
-- one outbox message (channel `webhook`, recipient `subscription:<id>`) per active
-- subscription of that type, in the transaction that writes the history entry. The outbox's
-- dispatcher sends them (retries with backoff, dead letter after its limit), and every
-- attempt at a webhook goes into `webhook_attempts`, the delivery log.

CREATE TABLE webhook_subscriptions (
    id          INTEGER PRIMARY KEY,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    description TEXT,
    active      INTEGER NOT NULL DEFAULT 1,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    removed_at  TEXT
);

CREATE TABLE webhook_subscription_events (
    subscription_id INTEGER NOT NULL REFERENCES webhook_subscriptions (id),
    event_type      TEXT NOT NULL,
    PRIMARY KEY (event_type, subscription_id)
);

-- Which history entries are which events (data: engine::store::webhooks::EVENT_TYPES lists
-- the same, and a test checks that both agree).
CREATE TABLE webhook_event_kinds (
    history_kind TEXT PRIMARY KEY,
    event_type   TEXT NOT NULL
);
INSERT INTO webhook_event_kinds (history_kind, event_type) VALUES
    ('started', 'case.started'),
    ('goto', 'case.step'),
    ('paused', 'case.paused'),
    ('closed', 'case.closed'),
    ('payment', 'case.payment'),
    ('promise', 'case.promise'),
    ('dispute', 'case.dispute'),
    ('proof_uploaded', 'case.proof_uploaded'),
    ('handed_over', 'case.handed_over'),
    ('error', 'case.error'),
    ('task_created', 'task.created'),
    ('approval_requested', 'task.created'),
    ('task_completed', 'task.completed'),
    ('task_escalated', 'task.escalated'),
    ('fee_charged', 'document.issued'),
    ('interest_note_issued', 'document.issued'),
    ('queued', 'message.queued'),
    ('delivered', 'message.sent'),
    ('dead_letter', 'message.failed'),
    ('bounced', 'message.failed');

-- Webhook deliveries carry no case (case_id NULL): a closed case does not withdraw them, and
-- their own delivery writes no history (so no event about an event).
CREATE TRIGGER case_history_webhooks AFTER INSERT ON case_history
WHEN EXISTS (
    SELECT 1 FROM webhook_event_kinds k
    JOIN webhook_subscription_events e ON e.event_type = k.event_type
    JOIN webhook_subscriptions s ON s.id = e.subscription_id AND s.active = 1
    WHERE k.history_kind = NEW.kind)
BEGIN
    INSERT INTO outbox (case_id, idempotency_key, channel, template, recipient, payload, status,
                        next_attempt_at, created_at)
    SELECT NULL, 'webhook/' || s.id || '/evt_' || NEW.id, 'webhook', k.event_type,
           'subscription:' || s.id,
           json_object(
               'id', 'evt_' || NEW.id,
               'type', k.event_type,
               'occurred_at', strftime('%Y-%m-%dT%H:%M:%fZ', NEW.at),
               'data', json_object(
                   'case', NEW.case_id, 'scenario', c.scenario_id, 'subject', c.subject,
                   'customer', u.external_id, 'step', NEW.step, 'actor', NEW.actor,
                   'message', NEW.message, 'detail', json(NEW.detail))),
           'pending', NEW.at, NEW.at
    FROM webhook_event_kinds k
    JOIN webhook_subscription_events e ON e.event_type = k.event_type
    JOIN webhook_subscriptions s ON s.id = e.subscription_id AND s.active = 1
    JOIN cases c ON c.id = NEW.case_id
    JOIN customers u ON u.id = c.customer_id
    WHERE k.history_kind = NEW.kind
    ORDER BY s.id;
END;

-- The delivery log: every attempt at a webhook message (subscriptions' and `call` steps').
CREATE TABLE webhook_attempts (
    id              INTEGER PRIMARY KEY,
    outbox_id       INTEGER NOT NULL REFERENCES outbox (id),
    subscription_id INTEGER,
    attempt         INTEGER NOT NULL,
    attempted_at    TEXT NOT NULL,
    status_code     INTEGER,
    error           TEXT,
    duration_ms     INTEGER NOT NULL,
    outcome         TEXT NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead')),
    next_attempt_at TEXT
);
CREATE INDEX webhook_attempts_subscription ON webhook_attempts (subscription_id, id);
CREATE INDEX webhook_attempts_outbox ON webhook_attempts (outbox_id, id);

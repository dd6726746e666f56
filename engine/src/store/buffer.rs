//! Rows a buffering transaction appends: the engine's history entries, timers and outbox
//! messages, written with multi-row statements just before the commit. Many transitions
//! then share one commit and a few statements (group commit), and each transition is
//! still all-or-nothing: its rows are written with the transaction that decided them or not
//! at all.
//!
//! The buffer also knows, for the cases a batch loaded, which had pending timers, open
//! tasks or unsent messages in the database: cancelling what a case does not have costs no
//! statement.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{StoreError, Tx, on};

/// Rows per multi-row statement (SQLite binds at most 32,766 parameters).
const CHUNK: usize = 1000;

#[derive(Debug, Clone)]
pub struct HistoryInsert {
    pub case_id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    pub step: Option<String>,
    pub message: String,
    pub detail: String,
}

#[derive(Debug, Clone)]
pub struct TimerInsert {
    pub case_id: i64,
    pub kind: String,
    pub step: String,
    pub visit: i64,
    pub task_id: Option<i64>,
    pub due_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct OutboxInsert {
    pub case_id: i64,
    pub key: String,
    pub channel: String,
    pub template: Option<String>,
    pub language: Option<String>,
    pub recipient: Option<String>,
    pub payload: String,
    /// `pending`, or `held` until an approval.
    pub status: &'static str,
    pub at: DateTime<Utc>,
}

/// What the database held for the cases of a batch when it was loaded.
#[derive(Debug, Default)]
pub struct Known {
    pub cases: HashSet<i64>,
    pub timers: HashSet<i64>,
    pub tasks: HashSet<i64>,
    pub outbox: HashSet<i64>,
}

#[derive(Debug, Default)]
pub struct Buffer {
    pub history: Vec<HistoryInsert>,
    pub timers: Vec<TimerInsert>,
    pub outbox: Vec<OutboxInsert>,
    pub known: Known,
    /// Customers whose ledger this transaction changed after the batch loaded its ledger
    /// facts (a fee or an interest note a step booked): their facts are stale, so no further
    /// transition of theirs may run in this transaction.
    pub ledger_changed: HashSet<i64>,
}

impl Buffer {
    /// Whether the database may hold pending timers of the case (unknown cases: yes).
    pub fn may_have_timers(&self, case: i64) -> bool {
        !self.known.cases.contains(&case) || self.known.timers.contains(&case)
    }

    pub fn may_have_tasks(&self, case: i64) -> bool {
        !self.known.cases.contains(&case) || self.known.tasks.contains(&case)
    }

    /// Whether this transaction booked into the customer's ledger after loading its facts.
    pub fn ledger_changed(&self, customer: i64) -> bool {
        self.ledger_changed.contains(&customer)
    }

    pub fn may_have_outbox(&self, case: i64) -> bool {
        !self.known.cases.contains(&case) || self.known.outbox.contains(&case)
    }

    pub(super) async fn flush(&mut self, tx: &mut Tx) -> Result<(), StoreError> {
        if let super::Conn::Postgres(t) = &mut tx.conn {
            return self.flush_pg(t).await;
        }
        for chunk in self.timers.chunks(CHUNK) {
            on!(&mut *tx, c, DB, PG => {
                let mut q = sqlx::QueryBuilder::<DB>::new(
                    "INSERT INTO timers (case_id, kind, step, visit, task_id, due_at) ",
                );
                q.push_values(chunk, |mut b, t| {
                    b.push_bind(t.case_id)
                        .push_bind(t.kind.clone())
                        .push_bind(t.step.clone())
                        .push_bind(t.visit)
                        .push_bind(t.task_id)
                        .push_bind(t.due_at);
                });
                q.build().execute(&mut *c).await.map(|_| ())
            })?;
        }
        self.timers.clear();
        for chunk in self.outbox.chunks(CHUNK) {
            on!(&mut *tx, c, DB, PG => {
                let mut q = sqlx::QueryBuilder::<DB>::new(
                    "INSERT INTO outbox (case_id, idempotency_key, channel, template, language, recipient, \
                     payload, status, next_attempt_at, created_at) ",
                );
                q.push_values(chunk, |mut b, m| {
                    b.push_bind(m.case_id)
                        .push_bind(m.key.clone())
                        .push_bind(m.channel.clone())
                        .push_bind(m.template.clone())
                        .push_bind(m.language.clone())
                        .push_bind(m.recipient.clone())
                        .push_bind(m.payload.clone())
                        .push_bind(m.status)
                        .push_bind(m.at)
                        .push_bind(m.at);
                });
                q.push(" ON CONFLICT (idempotency_key) DO NOTHING");
                q.build().execute(&mut *c).await.map(|_| ())
            })?;
        }
        self.outbox.clear();
        for chunk in self.history.chunks(CHUNK) {
            on!(&mut *tx, c, DB, PG => {
                let mut q = sqlx::QueryBuilder::<DB>::new(
                    "INSERT INTO case_history (case_id, at, actor, kind, step, message, detail) ",
                );
                q.push_values(chunk, |mut b, h| {
                    b.push_bind(h.case_id)
                        .push_bind(h.at)
                        .push_bind(h.actor.clone())
                        .push_bind(h.kind.clone())
                        .push_bind(h.step.clone())
                        .push_bind(h.message.clone())
                        .push_bind(h.detail.clone());
                });
                q.build().execute(&mut *c).await.map(|_| ())
            })?;
        }
        self.history.clear();
        Ok(())
    }

    /// PostgreSQL: one statement per table, each column bound as an array and unpacked by
    /// `UNNEST` (a VALUES list of thousands of parameters costs more to parse than to insert).
    async fn flush_pg(&mut self, c: &mut sqlx::PgConnection) -> Result<(), StoreError> {
        if !self.timers.is_empty() {
            let t = std::mem::take(&mut self.timers);
            sqlx::query(
                "INSERT INTO timers (case_id, kind, step, visit, task_id, due_at) \
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::timestamptz[])",
            )
            .bind(t.iter().map(|x| x.case_id).collect::<Vec<_>>())
            .bind(t.iter().map(|x| x.kind.clone()).collect::<Vec<_>>())
            .bind(t.iter().map(|x| x.step.clone()).collect::<Vec<_>>())
            .bind(t.iter().map(|x| x.visit).collect::<Vec<_>>())
            .bind(t.iter().map(|x| x.task_id).collect::<Vec<_>>())
            .bind(t.iter().map(|x| x.due_at).collect::<Vec<_>>())
            .execute(&mut *c)
            .await?;
        }
        if !self.outbox.is_empty() {
            let m = std::mem::take(&mut self.outbox);
            sqlx::query(
                "INSERT INTO outbox (case_id, idempotency_key, channel, template, language, recipient, payload, \
                 status, next_attempt_at, created_at) \
                 SELECT u.case_id, u.k, u.ch, u.t, u.l, u.r, u.p, u.s, u.at, u.at \
                 FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                 $8::timestamptz[], $9::text[]) WITH ORDINALITY AS u (case_id, k, ch, t, l, r, p, at, s, n) ORDER BY u.n \
                 ON CONFLICT (idempotency_key) DO NOTHING",
            )
            .bind(m.iter().map(|x| x.case_id).collect::<Vec<_>>())
            .bind(m.iter().map(|x| x.key.clone()).collect::<Vec<_>>())
            .bind(m.iter().map(|x| x.channel.clone()).collect::<Vec<_>>())
            .bind(m.iter().map(|x| x.template.clone()).collect::<Vec<_>>())
            .bind(m.iter().map(|x| x.language.clone()).collect::<Vec<_>>())
            .bind(m.iter().map(|x| x.recipient.clone()).collect::<Vec<_>>())
            .bind(m.iter().map(|x| x.payload.clone()).collect::<Vec<_>>())
            .bind(m.iter().map(|x| x.at).collect::<Vec<_>>())
            .bind(m.iter().map(|x| x.status).collect::<Vec<_>>())
            .execute(&mut *c)
            .await?;
        }
        if !self.history.is_empty() {
            let h = std::mem::take(&mut self.history);
            sqlx::query(
                "INSERT INTO case_history (case_id, at, actor, kind, step, message, detail) \
                 SELECT u.case_id, u.at, u.actor, u.kind, u.step, u.message, u.detail \
                 FROM UNNEST($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) \
                 WITH ORDINALITY AS u (case_id, at, actor, kind, step, message, detail, n) ORDER BY u.n",
            )
            .bind(h.iter().map(|x| x.case_id).collect::<Vec<_>>())
            .bind(h.iter().map(|x| x.at).collect::<Vec<_>>())
            .bind(h.iter().map(|x| x.actor.clone()).collect::<Vec<_>>())
            .bind(h.iter().map(|x| x.kind.clone()).collect::<Vec<_>>())
            .bind(h.iter().map(|x| x.step.clone()).collect::<Vec<_>>())
            .bind(h.iter().map(|x| x.message.clone()).collect::<Vec<_>>())
            .bind(h.iter().map(|x| x.detail.clone()).collect::<Vec<_>>())
            .execute(&mut *c)
            .await?;
        }
        Ok(())
    }
}

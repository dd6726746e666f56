//! The documents table: preparing a document for each templated outbox message (rendered
//! text and, for letters and e-mail attachments, the PDF), its lifecycle with who and when,
//! the archive (search, content, duplicates, the day's print batch) and delivery reports.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::ids::{CaseId, CustomerId};
use crate::runtime::case::{history, ledger_facts};
use crate::scenario::Channel;
use crate::store::{Store, StoreError, Tx, on};

use super::render::{
    BalanceView, CaseView, CustomerView, DocumentView, OpenItemView, RenderContext,
};
use super::{Correspondence, letter};

/// Where a document is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatus {
    Prepared,
    Approved,
    Sent,
    Delivered,
    Bounced,
    Cancelled,
}

impl DocumentStatus {
    pub const ALL: [DocumentStatus; 6] = [
        DocumentStatus::Prepared,
        DocumentStatus::Approved,
        DocumentStatus::Sent,
        DocumentStatus::Delivered,
        DocumentStatus::Bounced,
        DocumentStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocumentStatus::Prepared => "prepared",
            DocumentStatus::Approved => "approved",
            DocumentStatus::Sent => "sent",
            DocumentStatus::Delivered => "delivered",
            DocumentStatus::Bounced => "bounced",
            DocumentStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<DocumentStatus> {
        DocumentStatus::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// A document's metadata: what, to whom, and its lifecycle.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DocumentMeta {
    pub id: i64,
    pub customer_id: i64,
    pub case_id: Option<i64>,
    pub outbox_id: Option<i64>,
    /// Set on a duplicate: the document it copies.
    pub duplicate_of: Option<i64>,
    pub template: String,
    pub channel: String,
    pub language: String,
    pub recipient: Option<String>,
    pub subject: Option<String>,
    /// prepared, approved, sent, delivered, bounced or cancelled.
    pub status: String,
    pub prepared_at: DateTime<Utc>,
    pub prepared_by: String,
    pub approved_at: Option<DateTime<Utc>>,
    pub approved_by: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub sent_by: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub bounced_at: Option<DateTime<Utc>>,
    /// Why it bounced, or what the gateway said.
    pub status_detail: Option<String>,
    /// The channel's id of the message (SMTP queue id, gateway message id).
    pub provider_id: Option<String>,
    /// Size of the PDF (0: no PDF).
    pub pdf_size: i64,
}

const META_COLUMNS: &str = "id, customer_id, case_id, outbox_id, duplicate_of, template, channel, language, \
    recipient, subject, status, prepared_at, prepared_by, approved_at, approved_by, sent_at, sent_by, \
    delivered_at, bounced_at, status_detail, provider_id, CAST(COALESCE(LENGTH(pdf), 0) AS BIGINT) AS pdf_size";

/// Which documents to list. Newest first.
#[derive(Debug, Clone, Default)]
pub struct DocumentFilter {
    pub customer_id: Option<i64>,
    pub case_id: Option<i64>,
    pub status: Option<DocumentStatus>,
    pub channel: Option<String>,
    /// Sent on this day (UTC).
    pub sent_on: Option<NaiveDate>,
    pub limit: Option<i64>,
}

/// A document as a channel sends it.
#[derive(Debug, Clone)]
pub struct Attached {
    pub document_id: i64,
    pub subject: Option<String>,
    pub body: String,
    pub pdf: Option<Vec<u8>>,
    /// A file name for the PDF: `<template>-<document id>.pdf`.
    pub file_name: String,
}

/// What the context column keeps: the render context and the letter text, so the PDF (and
/// a duplicate of it) can be laid out again exactly.
#[derive(Serialize, Deserialize)]
pub(super) struct Kept {
    pub context: RenderContext,
    pub letter: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Waiting {
    id: i64,
    case_id: Option<i64>,
    channel: String,
    template: Option<String>,
    language: Option<String>,
    recipient: Option<String>,
    payload: String,
    approved_by: Option<String>,
    approved_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
pub(super) struct CaseInfo {
    pub id: i64,
    pub customer_id: i64,
    pub scenario_id: String,
    pub step: String,
    pub deadline: Option<DateTime<Utc>>,
}

pub(super) struct NewDocument {
    pub outbox_id: Option<i64>,
    pub customer_id: i64,
    pub case_id: Option<i64>,
    pub template: String,
    pub channel: String,
    pub language: String,
    pub recipient: Option<String>,
    pub subject: Option<String>,
    pub body: String,
    pub pdf: Option<Vec<u8>>,
    pub context: String,
    pub status: &'static str,
    pub prepared_by: String,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    /// Set when the document went out as it was made (a printed invoice).
    pub sent_by: Option<String>,
}

/// How long a debtor link in a letter stays valid.
const PAY_LINK_DAYS: i64 = 180;

/// Prepares a document for every templated outbox message that has none yet (at most
/// `limit`): renders it against the ledger as it is now and keeps it. A message whose
/// template does not render is dead-lettered with the reason in the case history.
pub async fn prepare(
    store: &Store,
    corr: &Correspondence,
    limit: i64,
) -> Result<usize, StoreError> {
    let now = store.clock().now();
    let today = now.date_naive();
    let mut tx = store.read().await?;
    let waiting: Vec<Waiting> = on!(&mut tx, c, DB, PG => {
        sqlx::query_as(
            "SELECT o.id, o.case_id, o.channel, o.template, o.language, o.recipient, o.payload, \
             o.approved_by, o.approved_at FROM outbox o WHERE o.template IS NOT NULL AND o.case_id IS NOT NULL \
             AND o.status IN ('held', 'pending') AND NOT EXISTS (SELECT 1 FROM correspondence d WHERE d.outbox_id = o.id) \
             ORDER BY o.id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&mut *c)
        .await
    })?;
    if waiting.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let mut case_ids: Vec<i64> = waiting.iter().filter_map(|w| w.case_id).collect();
    case_ids.sort_unstable();
    case_ids.dedup();
    let cases: HashMap<i64, CaseInfo> = on!(&mut tx, c, DB, PG => {
        let sql = format!(
            "SELECT id, customer_id, scenario_id, step, deadline FROM cases WHERE {}",
            crate::store::Ids::sql_in(PG, "id", 1)
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(crate::store::List(case_ids))
            .fetch_all(&mut *c)
            .await
    })?
    .into_iter()
    .map(|c: CaseInfo| (c.id, c))
    .collect();
    let mut docs = Vec::new();
    let mut failed: Vec<(i64, i64, String)> = Vec::new();
    let mut links: HashMap<i64, String> = HashMap::new();
    let mut facts_cache = HashMap::new();
    for w in waiting {
        let Some(case) = w.case_id.and_then(|id| cases.get(&id)) else {
            continue;
        };
        let case_id = case.id;
        if let std::collections::hash_map::Entry::Vacant(e) = facts_cache.entry(case.customer_id) {
            e.insert(ledger_facts(&mut tx, CustomerId(case.customer_id), today).await?);
        }
        let Some(facts) = facts_cache.get(&case.customer_id) else {
            continue;
        };
        let token = links.entry(case_id).or_insert_with(new_token).clone();
        let mut ctx = context(facts, case, corr, today, Some(&token));
        let payload: serde_json::Value = serde_json::from_str(&w.payload).unwrap_or_default();
        let prepared_by = payload["prepared_by"]
            .as_str()
            .unwrap_or("system")
            .to_string();
        let template = w.template.clone().unwrap_or_default();
        match render(corr, &w, &template, &mut ctx) {
            Ok((rendered, pdf, kept)) => docs.push(NewDocument {
                outbox_id: Some(w.id),
                customer_id: case.customer_id,
                case_id: Some(case_id),
                template,
                channel: w.channel.clone(),
                language: rendered.language,
                recipient: w.recipient.clone(),
                subject: rendered.subject,
                body: rendered.body,
                pdf,
                context: serde_json::to_string(&kept).unwrap_or_default(),
                status: if w.approved_by.is_some() {
                    "approved"
                } else {
                    "prepared"
                },
                prepared_by,
                approved_by: w.approved_by.clone(),
                approved_at: w.approved_at,
                sent_by: None,
            }),
            Err(e) => failed.push((w.id, case_id, e)),
        }
    }
    tx.commit().await?;
    let mut tx = store.write().await?;
    let with_documents: std::collections::HashSet<i64> =
        docs.iter().filter_map(|d| d.case_id).collect();
    for (case_id, token) in &links {
        if !with_documents.contains(case_id) {
            continue;
        }
        insert_pay_link(&mut tx, *case_id, token, now).await?;
    }
    let mut n = 0;
    for d in &docs {
        n += usize::from(insert_document(&mut tx, d, now).await?.is_some());
    }
    for (outbox_id, case_id, error) in &failed {
        on!(&mut tx, c, DB, PG => {
            sqlx::query("UPDATE outbox SET status = 'dead', last_error = $2 WHERE id = $1 AND status IN ('held', 'pending')")
                .bind(outbox_id)
                .bind(error)
                .execute(&mut *c)
                .await
                .map(|_| ())
        })?;
        history(
            &mut tx,
            CaseId(*case_id),
            now,
            "system",
            "not_sent",
            None,
            &format!("the document could not be prepared: {error}"),
            json!({ "outbox_id": outbox_id }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(n)
}

/// Keeps a debtor link's token (hashed) for a case.
pub(super) async fn insert_pay_link(
    tx: &mut Tx,
    case_id: i64,
    token: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    crate::store::pay_links::insert_link_in(
        tx,
        CaseId(case_id),
        &crate::store::pay_links::token_hash(token),
        "system",
        now,
        now + Duration::days(PAY_LINK_DAYS),
    )
    .await?;
    Ok(())
}

/// Files a document and returns its id; one already filed for its outbox message is left as
/// it is (no id).
pub(super) async fn insert_document(
    tx: &mut Tx,
    d: &NewDocument,
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    let sent_at = d.sent_by.as_ref().map(|_| now);
    let id: Option<(i64,)> = on!(tx, c, DB, PG => {
        sqlx::query_as(
            "INSERT INTO correspondence (customer_id, case_id, outbox_id, template, channel, language, recipient, subject, \
             body, pdf, context, status, prepared_at, prepared_by, approved_at, approved_by, sent_at, sent_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
             ON CONFLICT (outbox_id) DO NOTHING RETURNING id",
        )
        .bind(d.customer_id)
        .bind(d.case_id)
        .bind(d.outbox_id)
        .bind(&d.template)
        .bind(&d.channel)
        .bind(&d.language)
        .bind(&d.recipient)
        .bind(&d.subject)
        .bind(&d.body)
        .bind(&d.pdf)
        .bind(&d.context)
        .bind(d.status)
        .bind(now)
        .bind(&d.prepared_by)
        .bind(d.approved_at)
        .bind(&d.approved_by)
        .bind(sent_at)
        .bind(&d.sent_by)
        .fetch_optional(&mut *c)
        .await
    })?;
    Ok(id.map(|r| r.0))
}

type RenderedDoc = (super::Rendered, Option<Vec<u8>>, Kept);

/// Renders one message: the text for its channel and, for letters (and e-mail whose template
/// also has a letter), the PDF.
fn render(
    corr: &Correspondence,
    w: &Waiting,
    template: &str,
    ctx: &mut RenderContext,
) -> Result<RenderedDoc, String> {
    let channel = Channel::parse(&w.channel)
        .ok_or_else(|| format!("`{}` is not a channel documents are written for", w.channel))?;
    let customer_lang = ctx.customer.language.clone();
    let mut preferred: Vec<&str> = Vec::new();
    if let Some(l) = w.language.as_deref() {
        preferred.push(l);
    }
    preferred.push(&customer_lang);
    let rendered = corr
        .renderer
        .render(template, channel, &preferred, ctx)
        .map_err(|e| e.to_string())?;
    let letter_body = match channel {
        Channel::Letter | Channel::RegisteredLetter | Channel::Fax => Some(rendered.body.clone()),
        Channel::Email
            if corr
                .renderer
                .has(template, Channel::Letter, &rendered.language) =>
        {
            let lang = rendered.language.clone();
            let letter = corr
                .renderer
                .render(template, Channel::Letter, &[lang.as_str()], ctx)
                .map_err(|e| e.to_string())?;
            Some(letter.body)
        }
        _ => None,
    };
    let pdf = match &letter_body {
        Some(body) => {
            Some(arrears_pdf::render(&[letter::letter(ctx, body)]).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    Ok((
        rendered,
        pdf,
        Kept {
            context: ctx.clone(),
            letter: letter_body,
        },
    ))
}

/// The render context of a case's document from the ledger as it is today.
pub(super) fn context(
    facts: &crate::runtime::case::LedgerFacts,
    case: &CaseInfo,
    corr: &Correspondence,
    today: NaiveDate,
    token: Option<&str>,
) -> RenderContext {
    use crate::ledger::customer::ContactKind;
    let c = &facts.customer;
    let (balance, open_items) = statement(facts, today);
    RenderContext {
        language: c.language.clone(),
        today,
        deadline: case
            .deadline
            .map(|d| d.date_naive())
            .unwrap_or(today + Duration::days(7)),
        customer: CustomerView {
            id: c.id.0,
            external_id: c.external_id.clone(),
            name: c.name.clone(),
            language: c.language.clone(),
            address: c
                .contact(ContactKind::Postal)
                .unwrap_or_default()
                .replace(", ", "\n"),
            tax_id: c.tax_id.clone().unwrap_or_default(),
            email: c
                .contact(ContactKind::Email)
                .unwrap_or_default()
                .to_string(),
            phone: c
                .contact(ContactKind::Phone)
                .unwrap_or_default()
                .to_string(),
        },
        balance,
        open_items,
        case: CaseView {
            id: case.id,
            reference: format!("CASE-{}", case.id),
            scenario: case.scenario_id.clone(),
            step: case.step.clone(),
        },
        company: corr.company.clone(),
        pay_url: token
            .map(|t| format!("{}/pay/{t}", corr.public_url))
            .unwrap_or_default(),
        document: DocumentView {
            channel: String::new(),
            registered: false,
            duplicate: false,
        },
        invoice: None,
    }
}

/// What the customer owes today: the balance and the open receivables, oldest due first.
/// Documents and the debtor page show the same statement.
pub fn statement(
    facts: &crate::runtime::case::LedgerFacts,
    today: NaiveDate,
) -> (BalanceView, Vec<OpenItemView>) {
    let cond = facts.context(today, None, None, Default::default());
    let mut open_items: Vec<OpenItemView> = cond
        .invoices
        .iter()
        .filter(|i| i.open > rust_decimal::Decimal::ZERO)
        .map(|i| OpenItemView {
            number: i.number.clone(),
            due: i.due.unwrap_or(today),
            days_overdue: i.days_overdue,
            gross: i.gross,
            open: i.open,
            currency: i.currency.clone(),
        })
        .collect();
    open_items.sort_by(|a, b| a.due.cmp(&b.due).then(a.number.cmp(&b.number)));
    let balance = BalanceView {
        total: cond.balance.total,
        overdue: cond.balance.overdue,
        currency: if cond.balance.currency.is_empty() {
            "PLN".into()
        } else {
            cond.balance.currency.clone()
        },
    };
    (balance, open_items)
}

pub(super) fn new_token() -> String {
    hex(&rand::random::<[u8; 24]>())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// outbox id, document id, template, subject, body, PDF
type AttachedRow = (i64, i64, String, Option<String>, String, Option<Vec<u8>>);

/// The documents of claimed outbox messages, by outbox id.
pub(crate) async fn attached(
    tx: &mut Tx,
    outbox_ids: &[i64],
) -> Result<HashMap<i64, Arc<Attached>>, StoreError> {
    let mut out = HashMap::new();
    for chunk in outbox_ids.chunks(500) {
        let rows: Vec<AttachedRow> = on!(tx, c, DB, PG => {
            let mut q = sqlx::QueryBuilder::<DB>::new(
                "SELECT outbox_id, id, template, subject, body, pdf FROM correspondence WHERE outbox_id IN (",
            );
            let mut sep = q.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            q.push(")");
            q.build_query_as().fetch_all(&mut *c).await
        })?;
        for (outbox_id, id, template, subject, body, pdf) in rows {
            out.insert(
                outbox_id,
                Arc::new(Attached {
                    document_id: id,
                    subject,
                    body,
                    pdf,
                    file_name: format!("{template}-{id}.pdf"),
                }),
            );
        }
    }
    Ok(out)
}

impl DocumentStatus {
    /// The states a document may be in when it moves to this one.
    fn predecessors(self) -> &'static str {
        match self {
            // Nothing becomes prepared again.
            DocumentStatus::Prepared => "NULL",
            DocumentStatus::Approved => "'prepared'",
            DocumentStatus::Sent | DocumentStatus::Cancelled => "'prepared', 'approved'",
            DocumentStatus::Bounced => "'prepared', 'approved', 'sent'",
            DocumentStatus::Delivered => "'sent', 'bounced'",
        }
    }

    /// The columns that say when and by whom a document got this status.
    fn stamps(self) -> (Option<&'static str>, Option<&'static str>) {
        match self {
            DocumentStatus::Prepared => (Some("prepared_at"), Some("prepared_by")),
            DocumentStatus::Approved => (Some("approved_at"), Some("approved_by")),
            DocumentStatus::Sent => (Some("sent_at"), Some("sent_by")),
            DocumentStatus::Delivered => (Some("delivered_at"), None),
            DocumentStatus::Bounced => (Some("bounced_at"), None),
            DocumentStatus::Cancelled => (None, None),
        }
    }
}

/// Moves the documents of these outbox messages (each with the provider's id of the message,
/// when the channel gave one) to `to`, when they are in a state that may precede it, and
/// stamps when, by whom and why. One statement per 500 messages.
async fn transition(
    tx: &mut Tx,
    to: DocumentStatus,
    messages: &[(i64, Option<String>)],
    by: &str,
    detail: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (at, who) = to.stamps();
    let from = to.predecessors();
    for chunk in messages.chunks(500) {
        on!(tx, c, DB, PG => {
            let mut q = sqlx::QueryBuilder::<DB>::new(format!("UPDATE correspondence SET status = '{}'", to.as_str()));
            if let Some(at) = at {
                q.push(format!(", {at} = ")).push_bind(now);
            }
            if let Some(who) = who {
                q.push(format!(", {who} = ")).push_bind(by);
            }
            if let Some(detail) = detail {
                q.push(", status_detail = ").push_bind(detail);
            }
            q.push(", provider_id = COALESCE(v.p, provider_id) FROM ");
            if PG {
                q.push("unnest(")
                    .push_bind(crate::store::List(chunk.iter().map(|m| m.0).collect::<Vec<i64>>()))
                    .push("::bigint[], ")
                    .push_bind(crate::store::List(chunk.iter().map(|m| m.1.clone()).collect::<Vec<Option<String>>>()))
                    .push("::text[]) AS v(o, p)");
            } else {
                q.push("(SELECT value ->> 0 AS o, value ->> 1 AS p FROM json_each(")
                    .push_bind(serde_json::to_string(chunk).unwrap_or_default())
                    .push(")) AS v");
            }
            q.push(format!(" WHERE correspondence.outbox_id = v.o AND correspondence.status IN ({from})"));
            q.build().execute(&mut *c).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// The documents of these outbox messages went out.
pub(crate) async fn mark_sent(
    tx: &mut Tx,
    sent: &[(i64, Option<String>)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    transition(tx, DocumentStatus::Sent, sent, "system", None, now).await
}

/// The document of this outbox message was refused for good (or given up on).
pub(crate) async fn mark_bounced(
    tx: &mut Tx,
    outbox_id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    transition(
        tx,
        DocumentStatus::Bounced,
        &[(outbox_id, None)],
        "system",
        Some(reason),
        now,
    )
    .await
}

/// Releases a case's held messages (all, or the given ones) after an approval by `actor`,
/// refusing when `actor` prepared any of their documents (four eyes).
pub(crate) async fn release(
    tx: &mut Tx,
    case_id: i64,
    only: Option<&[i64]>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let held: Vec<(i64,)> = on!(tx, c, DB, PG => {
        sqlx::query_as("SELECT id FROM outbox WHERE case_id = $1 AND status = 'held' ORDER BY id")
            .bind(case_id)
            .fetch_all(&mut *c)
            .await
    })?;
    let ids: Vec<i64> = held
        .into_iter()
        .map(|h| h.0)
        .filter(|id| only.is_none_or(|o| o.contains(id)))
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    let own: Option<(i64,)> = on!(tx, c, DB, PG => {
        let sql = format!(
            "SELECT id FROM correspondence WHERE {} AND prepared_by = $2 ORDER BY id LIMIT 1",
            crate::store::Ids::sql_in(PG, "outbox_id", 1)
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(crate::store::List(ids.clone()))
            .bind(actor)
            .fetch_optional(&mut *c)
            .await
    })?;
    if let Some((doc,)) = own {
        return Err(StoreError::Conflict(format!(
            "document {doc} was prepared by {actor}; someone else must approve it (four eyes)"
        )));
    }
    on!(tx, c, DB, PG => {
        let sql = format!(
            "UPDATE outbox SET status = 'pending', approved_by = $2, approved_at = $3, next_attempt_at = $3 WHERE {}",
            crate::store::Ids::sql_in(PG, "id", 1)
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(crate::store::List(ids.clone()))
            .bind(actor)
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|_| ())
    })?;
    let messages: Vec<(i64, Option<String>)> = ids.iter().map(|id| (*id, None)).collect();
    transition(tx, DocumentStatus::Approved, &messages, actor, None, now).await?;
    Ok(ids.len())
}

/// The documents of a case's messages that will not go out (a rejected approval, a closed
/// case) are cancelled.
pub(crate) async fn cancel_unsent(tx: &mut Tx, case_id: i64) -> Result<(), StoreError> {
    on!(tx, c, DB, PG => {
        sqlx::query(
            "UPDATE correspondence SET status = 'cancelled' WHERE case_id = $1 AND status IN ('prepared', 'approved') \
             AND outbox_id IN (SELECT id FROM outbox WHERE case_id = $1 AND status = 'cancelled')",
        )
        .bind(case_id)
        .execute(&mut *c)
        .await
        .map(|_| ())
    })?;
    Ok(())
}

/// A delivery report from a gateway or a mail server.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct DeliveryUpdate {
    /// The provider's message id, as it answered when the message was sent.
    pub provider_id: String,
    /// `delivered` or `bounced`.
    pub status: String,
    pub detail: Option<String>,
}

impl Store {
    pub async fn archive(&self, f: &DocumentFilter) -> Result<Vec<DocumentMeta>, StoreError> {
        let mut tx = self.read().await?;
        let rows = on!(&mut tx, c, DB, PG => {
            let mut q = sqlx::QueryBuilder::<DB>::new(format!("SELECT {META_COLUMNS} FROM correspondence WHERE 1 = 1"));
            if let Some(id) = f.customer_id {
                q.push(" AND customer_id = ").push_bind(id);
            }
            if let Some(id) = f.case_id {
                q.push(" AND case_id = ").push_bind(id);
            }
            if let Some(s) = f.status {
                q.push(" AND status = ").push_bind(s.as_str());
            }
            if let Some(ch) = &f.channel {
                q.push(" AND channel = ").push_bind(ch.clone());
            }
            if let Some(d) = f.sent_on {
                let start = crate::runtime::exec::start_of(d);
                q.push(" AND sent_at >= ").push_bind(start);
                q.push(" AND sent_at < ").push_bind(start + Duration::days(1));
            }
            q.push(" ORDER BY id DESC LIMIT ").push_bind(f.limit.unwrap_or(1000).clamp(1, 100_000));
            q.build_query_as::<DocumentMeta>().fetch_all(&mut *c).await
        })?;
        tx.commit().await?;
        Ok(rows)
    }

    pub async fn archived(&self, id: i64) -> Result<DocumentMeta, StoreError> {
        let mut tx = self.read().await?;
        let row = document_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// The document's text (and subject) as it was sent.
    pub async fn document_text(&self, id: i64) -> Result<(Option<String>, String), StoreError> {
        let mut tx = self.read().await?;
        let row: Option<(Option<String>, String)> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as("SELECT subject, body FROM correspondence WHERE id = $1").bind(id).fetch_optional(&mut *c).await
        })?;
        tx.commit().await?;
        row.ok_or_else(|| StoreError::NotFound(format!("document {id}")))
    }

    /// The document's PDF as it was sent (None: the document has no PDF, e.g. an SMS).
    pub async fn document_pdf(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let mut tx = self.read().await?;
        let row: Option<(Option<Vec<u8>>,)> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as("SELECT pdf FROM correspondence WHERE id = $1").bind(id).fetch_optional(&mut *c).await
        })?;
        tx.commit().await?;
        Ok(row
            .ok_or_else(|| StoreError::NotFound(format!("document {id}")))?
            .0)
    }

    /// Prints a duplicate of a document with a PDF: the same letter, marked as a duplicate,
    /// kept as a document of its own (sent by `actor` now).
    pub async fn duplicate_document(
        &self,
        id: i64,
        actor: &str,
    ) -> Result<DocumentMeta, StoreError> {
        let now = self.clock().now();
        let mut tx = self.write().await?;
        let original = document_in(&mut tx, id).await?;
        let (context, body): (String, String) = on!(&mut tx, c, DB, PG => {
            sqlx::query_as("SELECT context, body FROM correspondence WHERE id = $1").bind(id).fetch_one(&mut *c).await
        })?;
        let mut kept: Kept = serde_json::from_str(&context).map_err(|e| {
            StoreError::Conflict(format!("document {id} cannot be laid out again: {e}"))
        })?;
        let Some(letter_text) = kept.letter.clone() else {
            return Err(StoreError::Conflict(format!(
                "document {id} is a {} without a letter; only letters and e-mails with a PDF have duplicates",
                original.channel
            )));
        };
        kept.context.document.duplicate = true;
        let pdf = arrears_pdf::render(&[letter::letter(&kept.context, &letter_text)])
            .map_err(|e| StoreError::Conflict(format!("document {id}: {e}")))?;
        let new_id: (i64,) = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(
                "INSERT INTO correspondence (customer_id, case_id, duplicate_of, template, channel, language, recipient, subject, \
                 body, pdf, context, status, prepared_at, prepared_by, sent_at, sent_by) \
                 VALUES ($1, $2, $3, $4, 'letter', $5, $6, $7, $8, $9, $10, 'sent', $11, $12, $11, $12) RETURNING id",
            )
            .bind(original.customer_id)
            .bind(original.case_id)
            .bind(id)
            .bind(&original.template)
            .bind(&original.language)
            .bind(&original.recipient)
            .bind(&original.subject)
            .bind(&body)
            .bind(&pdf)
            .bind(serde_json::to_string(&kept).unwrap_or_default())
            .bind(now)
            .bind(actor)
            .fetch_one(&mut *c)
            .await
        })?;
        if let Some(case) = original.case_id {
            history(
                &mut tx,
                CaseId(case),
                now,
                actor,
                "duplicate",
                None,
                &format!("duplicate of document {id} printed"),
                json!({ "document": new_id.0, "duplicate_of": id }),
            )
            .await?;
        }
        let meta = document_in(&mut tx, new_id.0).await?;
        tx.commit().await?;
        Ok(meta)
    }

    /// Every letter sent on a day (registered letters and duplicates included), in order,
    /// as one PDF for the print room. None when there is none.
    pub async fn print_batch(
        &self,
        day: NaiveDate,
    ) -> Result<Option<(usize, Vec<u8>)>, StoreError> {
        let start = crate::runtime::exec::start_of(day);
        let mut tx = self.read().await?;
        let rows: Vec<(i64, String)> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(
                "SELECT id, context FROM correspondence WHERE channel IN ('letter', 'registered_letter') \
                 AND sent_at >= $1 AND sent_at < $2 AND pdf IS NOT NULL ORDER BY id",
            )
            .bind(start)
            .bind(start + Duration::days(1))
            .fetch_all(&mut *c)
            .await
        })?;
        tx.commit().await?;
        let mut letters = Vec::new();
        for (id, context) in rows {
            let kept: Kept = serde_json::from_str(&context).map_err(|e| {
                StoreError::Conflict(format!("document {id} cannot be laid out again: {e}"))
            })?;
            if let Some(text) = &kept.letter {
                letters.push(letter::letter(&kept.context, text));
            }
        }
        if letters.is_empty() {
            return Ok(None);
        }
        let pdf = arrears_pdf::render(&letters)
            .map_err(|e| StoreError::Conflict(format!("the print batch: {e}")))?;
        Ok(Some((letters.len(), pdf)))
    }

    /// Records a delivery report; the case history gets it too. Unknown ids are NotFound.
    pub async fn record_delivery(&self, u: &DeliveryUpdate) -> Result<DocumentMeta, StoreError> {
        let now = self.clock().now();
        let status = match u.status.as_str() {
            "delivered" => DocumentStatus::Delivered,
            "bounced" | "failed" | "undelivered" => DocumentStatus::Bounced,
            other => {
                return Err(StoreError::Rejected(vec![crate::store::Rejection::new(
                    0,
                    "status",
                    format!("`{other}` is not a delivery status; expected delivered or bounced"),
                )]));
            }
        };
        let mut tx = self.write().await?;
        let id: Option<(i64,)> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as("SELECT id FROM correspondence WHERE provider_id = $1 ORDER BY id DESC LIMIT 1")
                .bind(&u.provider_id)
                .fetch_optional(&mut *c)
                .await
        })?;
        let Some((id,)) = id else {
            return Err(StoreError::NotFound(format!(
                "document with provider id `{}`",
                u.provider_id
            )));
        };
        let (Some(column), _) = status.stamps() else {
            return Err(StoreError::Conflict(format!(
                "{} is not a delivery status",
                status.as_str()
            )));
        };
        on!(&mut tx, c, DB, PG => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE correspondence SET status = $2, {column} = $3, status_detail = COALESCE($4, status_detail) WHERE id = $1"
            )))
            .bind(id)
            .bind(status.as_str())
            .bind(now)
            .bind(&u.detail)
            .execute(&mut *c)
            .await
            .map(|_| ())
        })?;
        let meta = document_in(&mut tx, id).await?;
        if let Some(case) = meta.case_id {
            history(
                &mut tx,
                CaseId(case),
                now,
                "system",
                status.as_str(),
                None,
                &format!(
                    "{} by {} {}{}",
                    meta.template,
                    meta.channel,
                    status.as_str(),
                    u.detail
                        .as_deref()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                ),
                json!({ "document": id, "provider_id": u.provider_id }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(meta)
    }
}

pub(crate) async fn document_in(tx: &mut Tx, id: i64) -> Result<DocumentMeta, StoreError> {
    let row: Option<DocumentMeta> = on!(tx, c, DB, PG => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {META_COLUMNS} FROM correspondence WHERE id = $1")))
            .bind(id)
            .fetch_optional(&mut *c)
            .await
    })?;
    row.ok_or_else(|| StoreError::NotFound(format!("document {id}")))
}

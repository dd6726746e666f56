//! Requests to start a case (the intranet form): a member of staff asks collections to start
//! a case for a customer, or for one of its open invoices, with a reason. The request waits
//! as a task for the collections lead (role supervisor) until the lead accepts it, and the
//! case starts in the same transaction through the manual start's rules, or rejects it with a
//! reason the requester reads. A request has no case yet, so its task is one of the case-less
//! tasks the schema allows (`kind = 'request'`, `case_id` NULL, the customer set): the lead
//! finds it in the inbox beside the rest of the work, and completing it decides the request.
//! This module owns the request's life; it knows nothing of pages or HTTP.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::ids::{CaseId, CaseRequestId, CustomerId, TaskId};
use crate::scenario::CasePer;
use crate::store::{Store, StoreError, Tx, on};

use super::case::{LedgerFacts, history, ledger_facts};
use super::exec::Ctx;
use super::registry::Version;
use super::task::{self, NewTask, TaskRow};
use super::{Runtime, RuntimeError};

/// The longest reason a request or a rejection may give.
const REASON_LIMIT: usize = 2000;

/// What the requester typed: a customer number or an invoice number (or both), and why.
#[derive(Debug, Clone, Default)]
pub struct NewRequest {
    /// The customer's number (its external id).
    pub customer: Option<String>,
    /// The number of one of the customer's open invoices.
    pub invoice: Option<String>,
    pub reason: String,
}

/// The lead's answer to a request.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Start a case in this scenario, or (None) in the first deployed scenario, by priority,
    /// whose `applies_to` holds for the customer.
    Accept { scenario: Option<String> },
    /// Refuse, saying why: the requester reads it.
    Reject { reason: String },
}

/// A request as its requester and the lead see it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CaseRequest {
    pub id: CaseRequestId,
    /// Who asked (`user:<name>` or `api:<token name>`).
    pub requester: String,
    pub customer_id: CustomerId,
    /// The customer's number.
    pub customer: String,
    pub customer_name: String,
    pub invoice_number: Option<String>,
    pub reason: String,
    /// `pending`, `accepted` or `rejected`.
    pub status: String,
    /// The lead's task while the request waits.
    pub task_id: Option<TaskId>,
    /// The case the acceptance started.
    pub case_id: Option<CaseId>,
    pub decided_by: Option<String>,
    /// Why it was rejected.
    pub decision_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

const REQUEST_SELECT: &str = "SELECT r.id, r.requester, r.customer_id, u.external_id AS customer, u.name AS customer_name, \
    r.invoice_number, r.reason, r.status, r.task_id, r.case_id, r.decided_by, r.decision_reason, r.created_at, r.decided_at \
    FROM case_requests r JOIN customers u ON u.id = r.customer_id";

/// Which requests to list.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    /// Only this requester's.
    pub requester: Option<String>,
    /// Only `pending`, `accepted` or `rejected` ones.
    pub status: Option<String>,
}

/// Requests, newest first (pending ones oldest first: the lead works them in order).
pub async fn list(store: &Store, f: &RequestFilter) -> Result<Vec<CaseRequest>, StoreError> {
    let mut tx = store.read().await?;
    let order = if f.status.as_deref() == Some("pending") {
        "r.id"
    } else {
        "r.id DESC"
    };
    let sql = format!(
        "{REQUEST_SELECT} WHERE ($1 IS NULL OR r.requester = $1) AND ($2 IS NULL OR r.status = $2) ORDER BY {order}"
    );
    let rows = on!(&mut tx, c, DB, PG => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(f.requester.as_deref())
            .bind(f.status.as_deref())
            .fetch_all(&mut *c)
            .await
    })?;
    tx.commit().await?;
    Ok(rows)
}

async fn load(tx: &mut Tx, id: CaseRequestId) -> Result<CaseRequest, StoreError> {
    let row: Option<CaseRequest> = on!(tx, c, DB, PG => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{REQUEST_SELECT} WHERE r.id = $1")))
            .bind(id.0)
            .fetch_optional(&mut *c)
            .await
    })?;
    row.ok_or_else(|| StoreError::NotFound(format!("case request {id}")))
}

fn refused(pointer: &str, detail: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Refused(format!("{pointer}: {detail}"))
}

/// The reason, trimmed, or why it is refused.
fn reason_of(text: &str, pointer: &str, missing: &str) -> Result<String, RuntimeError> {
    let reason = text.trim();
    if reason.is_empty() {
        return Err(refused(pointer, missing));
    }
    if reason.chars().count() > REASON_LIMIT {
        return Err(refused(
            pointer,
            format!("at most {REASON_LIMIT} characters, please"),
        ));
    }
    Ok(reason.to_string())
}

/// Typed text, or None when the field was left empty.
fn given(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// An invoice by its number: (document id, customer id).
async fn invoice_by_number(tx: &mut Tx, number: &str) -> Result<Option<(i64, i64)>, StoreError> {
    Ok(on!(tx, c, DB, PG => {
        sqlx::query_as("SELECT id, customer_id FROM documents WHERE kind = 'invoice' AND number = $1")
            .bind(number)
            .fetch_optional(&mut *c)
            .await
    })?)
}

/// Whether the invoice with this document id is open in the customer's ledger facts.
fn is_open(facts: &LedgerFacts, document: i64) -> bool {
    facts.rows.iter().any(|r| {
        r.items
            .iter()
            .flatten()
            .any(|i| i.document_id.0 == document && i.open > rust_decimal::Decimal::ZERO)
    })
}

impl Runtime {
    /// Files a request: the customer exists, the invoice (when named) is the customer's and
    /// open, the reason is given. The request and the lead's task are written in one
    /// transaction; a refusal names the form field and writes nothing.
    pub async fn file_request(
        &self,
        r: &NewRequest,
        actor: &str,
    ) -> Result<CaseRequest, RuntimeError> {
        let reason = reason_of(
            &r.reason,
            "/reason",
            "required: say why collections should start a case",
        )?;
        let now = self.now();
        let mut tx = self.store.write().await?;
        let customer = match given(&r.customer) {
            Some(number) => Some(
                crate::store::customers::customer_by_external_id_in(&mut tx, number)
                    .await?
                    .ok_or_else(|| {
                        refused("/customer", format!("no customer numbered `{number}`"))
                    })?,
            ),
            None => None,
        };
        let invoice = match given(&r.invoice) {
            Some(number) => {
                let (document, owner) =
                    invoice_by_number(&mut tx, number).await?.ok_or_else(|| {
                        refused("/invoice", format!("no invoice numbered `{number}`"))
                    })?;
                if let Some(c) = &customer
                    && c.id.0 != owner
                {
                    return Err(refused(
                        "/invoice",
                        format!(
                            "invoice `{number}` is not customer {}'s; leave the customer empty or check the number",
                            c.external_id
                        ),
                    ));
                }
                Some((number.to_string(), document, CustomerId(owner)))
            }
            None => None,
        };
        let customer_id = match (&customer, &invoice) {
            (Some(c), _) => c.id,
            (None, Some((_, _, owner))) => *owner,
            (None, None) => {
                return Err(refused(
                    "/customer",
                    "give a customer number or an invoice number",
                ));
            }
        };
        let facts = ledger_facts(&mut tx, customer_id, now.date_naive()).await?;
        if let Some((number, document, _)) = &invoice
            && !is_open(&facts, *document)
        {
            return Err(refused(
                "/invoice",
                format!("invoice `{number}` has nothing open: it is paid or credited"),
            ));
        }
        let invoice_number = invoice.map(|i| i.0);
        let about = match &invoice_number {
            Some(n) => format!("{} ({n})", facts.customer.name),
            None => facts.customer.name.clone(),
        };
        let task_id = task::create_for_customer(
            &mut tx,
            customer_id,
            now,
            NewTask {
                kind: "request",
                title: format!("Start a case for {about}? Asked by {actor}: {reason}"),
                role: Some("supervisor".into()),
                assignee: None,
                outcomes: vec!["accept".into(), "reject".into()],
                form: json!([
                    { "name": "scenario", "kind": "text", "label": "Scenario (empty: the one that applies)" },
                    { "name": "reason", "kind": "text", "label": "Why not (when rejecting)" }
                ]),
                due_at: None,
                escalate_to: None,
            },
        )
        .await?;
        let id: i64 = on!(&mut tx, c, DB, PG => {
            sqlx::query_scalar(
                "INSERT INTO case_requests (requester, customer_id, invoice_number, reason, status, task_id, created_at) \
                 VALUES ($1, $2, $3, $4, 'pending', $5, $6) RETURNING id",
            )
            .bind(actor)
            .bind(customer_id.0)
            .bind(invoice_number.as_deref())
            .bind(&reason)
            .bind(task_id)
            .bind(now)
            .fetch_one(&mut *c)
            .await
        }).map_err(StoreError::from)?;
        let filed = load(&mut tx, CaseRequestId(id)).await?;
        tx.commit().await?;
        tracing::info!(request = id, %actor, customer = %filed.customer, "case request filed");
        Ok(filed)
    }

    /// Accepts (the case starts) or rejects (with a reason) a pending request, in one
    /// transaction, recording who and when; the lead's task is done with it. A request
    /// already decided is refused as a conflict and nothing changes.
    pub async fn decide_request(
        &self,
        id: CaseRequestId,
        decision: &Decision,
        actor: &str,
    ) -> Result<CaseRequest, RuntimeError> {
        let versions = match decision {
            Decision::Accept { .. } => self.registry.latest(&self.store).await?,
            Decision::Reject { .. } => Vec::new(),
        };
        let now = self.now();
        let mut tx = self.store.write().await?;
        let request = load(&mut tx, id).await?;
        if request.status != "pending" {
            return Err(already_decided(&request).into());
        }
        let (status, case, why, outcome) = match decision {
            Decision::Reject { reason } => {
                let reason = reason_of(
                    reason,
                    "/reason",
                    "required: say why, the requester reads it",
                )?;
                ("rejected", None, Some(reason), "reject")
            }
            Decision::Accept { scenario } => {
                let case = self
                    .start_requested(&mut tx, &request, &versions, scenario.as_deref(), actor)
                    .await?;
                ("accepted", Some(case), None, "accept")
            }
        };
        let changed = on!(&mut tx, c, DB, PG => {
            sqlx::query(
                "UPDATE case_requests SET status = $2, case_id = $3, decided_by = $4, decision_reason = $5, decided_at = $6 \
                 WHERE id = $1 AND status = 'pending'",
            )
            .bind(id.0)
            .bind(status)
            .bind(case.map(|c: CaseId| c.0))
            .bind(actor)
            .bind(why.as_deref())
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        }).map_err(StoreError::from)?;
        if changed == 0 {
            // Another lead decided it between our read and our write.
            let now_is = load(&mut tx, id).await?;
            return Err(already_decided(&now_is).into());
        }
        if let Some(t) = request.task_id {
            let data = json!({ "reason": why, "case": case.map(|c| c.0) });
            task::set_status(&mut tx, t.0, "done", Some(outcome), Some(&data), actor, now).await?;
        }
        let decided = load(&mut tx, id).await?;
        tx.commit().await?;
        tracing::info!(request = %id, %actor, status, "case request decided");
        Ok(decided)
    }

    /// Completing a request's task from the inbox decides the request: `accept` (the form's
    /// `scenario`, optional) or `reject` (the form's `reason`).
    pub(super) async fn decide_by_task(
        &self,
        t: &TaskRow,
        outcome: &str,
        data: &serde_json::Value,
        actor: &str,
    ) -> Result<(), RuntimeError> {
        let text = |name: &str| {
            data.get(name)
                .and_then(|v| v.as_str())
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
        };
        let decision = match outcome {
            "accept" => Decision::Accept {
                scenario: text("scenario"),
            },
            "reject" => Decision::Reject {
                reason: text("reason").unwrap_or_default(),
            },
            other => {
                return Err(refused(
                    "/outcome",
                    format!(
                        "`{other}` is not an outcome of task {}; expected one of: accept, reject",
                        t.id
                    ),
                ));
            }
        };
        let mut tx = self.store.read().await?;
        let id: Option<i64> = on!(&mut tx, c, DB, PG => {
            sqlx::query_scalar("SELECT id FROM case_requests WHERE task_id = $1")
                .bind(t.id)
                .fetch_optional(&mut *c)
                .await
        })
        .map_err(StoreError::from)?;
        tx.commit().await?;
        let id =
            id.ok_or_else(|| RuntimeError::NotFound(format!("the request of task {}", t.id)))?;
        self.decide_request(CaseRequestId(id), &decision, actor)
            .await
            .map(|_| ())
    }

    /// Starts the requested case inside the decision's transaction: in the named scenario,
    /// or the first one (by priority) that applies; one case per invoice when that scenario
    /// works per invoice and the request names one.
    async fn start_requested(
        &self,
        tx: &mut Tx,
        request: &CaseRequest,
        versions: &[Arc<Version>],
        scenario: Option<&str>,
        actor: &str,
    ) -> Result<CaseId, RuntimeError> {
        let now = self.now();
        let facts = ledger_facts(tx, request.customer_id, now.date_naive()).await?;
        let ctx = facts.context(now.date_naive(), None, None, BTreeMap::new());
        // A per-invoice scenario needs the request to name the invoice.
        let fits = |per: &CasePer| *per == CasePer::Customer || request.invoice_number.is_some();
        let version = match scenario.map(str::trim).filter(|s| !s.is_empty()) {
            Some(wanted) => {
                let Some(v) = versions.iter().find(|v| v.scenario.id == wanted) else {
                    let known: Vec<&str> =
                        versions.iter().map(|v| v.scenario.id.as_str()).collect();
                    return Err(refused(
                        "/scenario",
                        format!(
                            "no deployed scenario `{wanted}` (deployed: {})",
                            known.join(", ")
                        ),
                    ));
                };
                if !fits(&v.scenario.case_per) {
                    return Err(refused(
                        "/scenario",
                        format!(
                            "`{wanted}` runs one case per invoice and the request names no invoice"
                        ),
                    ));
                }
                if !self.holds(&v.scenario.applies_to, &ctx) {
                    return Err(refused(
                        "/scenario",
                        format!(
                            "`{wanted}` does not apply to customer {}: {} ({})",
                            facts.customer.external_id,
                            v.scenario.applies_to.source,
                            self.sandbox
                                .explain(&v.scenario.applies_to, &mut ctx.scope())
                        ),
                    ));
                }
                v.clone()
            }
            None => {
                let mut ordered: Vec<&Arc<Version>> = versions.iter().collect();
                ordered.sort_by(|a, b| {
                    b.scenario
                        .priority
                        .cmp(&a.scenario.priority)
                        .then(a.scenario.id.cmp(&b.scenario.id))
                });
                ordered
                    .into_iter()
                    .find(|v| {
                        fits(&v.scenario.case_per) && self.holds(&v.scenario.applies_to, &ctx)
                    })
                    .cloned()
                    .ok_or_else(|| {
                        refused(
                            "/scenario",
                            format!(
                                "no deployed scenario applies to customer {}; name one",
                                facts.customer.external_id
                            ),
                        )
                    })?
            }
        };
        let (invoice, subject) = match (&version.scenario.case_per, &request.invoice_number) {
            (CasePer::Invoice, Some(number)) => {
                let (document, _) = invoice_by_number(tx, number).await?.ok_or_else(|| {
                    refused("/invoice", format!("no invoice numbered `{number}`"))
                })?;
                (Some(document), format!("invoice:{number}"))
            }
            _ => (None, format!("customer:{}", facts.customer.external_id)),
        };
        let cx = Ctx {
            now,
            actor,
            version: &version,
            facts: &facts,
            sandbox: &self.sandbox,
        };
        let case = self
            .start_in(tx, &cx, invoice, &subject)
            .await?
            .ok_or_else(|| {
                refused(
                    "/scenario",
                    format!(
                        "{subject} already has an open case in `{}`",
                        version.scenario.id
                    ),
                )
            })?;
        history(
            tx,
            case.case_id(),
            now,
            actor,
            "requested",
            Some(&case.step),
            &format!(
                "started on request {} by {}: {}",
                request.id, request.requester, request.reason
            ),
            json!({ "request": request.id }),
        )
        .await?;
        Ok(case.case_id())
    }
}

fn already_decided(r: &CaseRequest) -> StoreError {
    StoreError::Conflict(format!(
        "case request {} was already {} by {} on {}; it cannot be decided again",
        r.id,
        r.status,
        r.decided_by.as_deref().unwrap_or("someone"),
        r.decided_at
            .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    ))
}

impl Runtime {
    /// The deployed scenarios (id, title) a lead may start a requested case in, the highest
    /// priority first: the order the automatic choice tries them in.
    pub async fn request_scenarios(&self) -> Result<Vec<(String, String)>, RuntimeError> {
        let mut versions = self.registry.latest(&self.store).await?;
        versions.sort_by(|a, b| {
            b.scenario
                .priority
                .cmp(&a.scenario.priority)
                .then(a.scenario.id.cmp(&b.scenario.id))
        });
        Ok(versions
            .iter()
            .map(|v| (v.scenario.id.clone(), v.scenario.title.clone()))
            .collect())
    }
}

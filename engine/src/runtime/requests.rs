//! Intranet requests to start a case: internal staff name a customer (and optionally an
//! invoice) and a reason; the request becomes a `request` task for the collections lead
//! (role supervisor), who accepts it (the case starts by hand in a scenario they choose)
//! or rejects it with a reason the requester then sees on their list.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::ids::{CustomerId, TaskId};
use crate::store::{StoreError, on};

use super::{Runtime, RuntimeError, task};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct CaseRequest {
    pub id: i64,
    pub requester: String,
    pub customer_id: i64,
    pub customer_name: String,
    pub invoice_number: Option<String>,
    pub reason: String,
    pub status: String,
    pub task_id: Option<i64>,
    pub case_id: Option<i64>,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

const REQUEST_COLUMNS: &str = "r.id, r.requester, r.customer_id, u.name AS customer_name, r.invoice_number, r.reason, r.status, \
     r.task_id, r.case_id, r.decided_by, r.decision_reason, r.created_at, r.decided_at";

/// How the lead decides.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Start a case in this scenario.
    Accept {
        scenario: String,
    },
    Reject {
        reason: String,
    },
}

impl Runtime {
    /// Files a request and its task for the collections lead, in one transaction.
    pub async fn file_request(
        &self,
        requester: &str,
        customer: CustomerId,
        invoice_number: Option<&str>,
        reason: &str,
    ) -> Result<i64, RuntimeError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(RuntimeError::Refused(
                "/reason: say why collections should start a case".into(),
            ));
        }
        let now = self.store().clock().now();
        let mut tx = self.store().write().await?;
        let name: Option<String> = on!(&mut tx, c, DB, PG => {
            sqlx::query_scalar("SELECT name FROM customers WHERE id = $1").bind(customer.0).fetch_optional(&mut *c).await
        })
        .map_err(StoreError::from)?;
        let Some(name) = name else {
            return Err(RuntimeError::Refused(format!(
                "/customer: no customer with id {customer}"
            )));
        };
        let id: i64 = on!(&mut tx, c, DB, PG => {
            sqlx::query_scalar(
                "INSERT INTO case_requests (requester, customer_id, invoice_number, reason, status, created_at) \
                 VALUES ($1, $2, $3, $4, 'pending', $5) RETURNING id",
            )
            .bind(requester)
            .bind(customer.0)
            .bind(invoice_number.map(str::trim).filter(|s| !s.is_empty()))
            .bind(reason)
            .bind(now)
            .fetch_one(&mut *c)
            .await
        })
        .map_err(StoreError::from)?;
        let task_id: i64 = on!(&mut tx, c, DB, PG => {
            sqlx::query_scalar(
                "INSERT INTO tasks (case_id, customer_id, kind, title, role, status, outcomes, form, created_at) \
                 VALUES (NULL, $1, 'request', $2, 'supervisor', 'open', $3, $4, $5) RETURNING id",
            )
            .bind(customer.0)
            .bind(format!("Request from {requester}: start a case for {name}"))
            .bind(json!(["accept", "reject"]).to_string())
            .bind(json!({ "request": id }).to_string())
            .bind(now)
            .fetch_one(&mut *c)
            .await
        })
        .map_err(StoreError::from)?;
        on!(&mut tx, c, DB, PG => {
            sqlx::query("UPDATE case_requests SET task_id = $2 WHERE id = $1").bind(id).bind(task_id).execute(&mut *c).await.map(|_| ())
        })
        .map_err(StoreError::from)?;
        tx.commit().await?;
        Ok(id)
    }

    /// Accepts (starting the case) or rejects a pending request; its task is done either way.
    pub async fn decide_request(
        &self,
        id: i64,
        decision: &Decision,
        actor: &str,
    ) -> Result<CaseRequest, RuntimeError> {
        let request = self.request(id).await?;
        if request.status != "pending" {
            return Err(RuntimeError::Store(StoreError::Conflict(format!(
                "request {id} was {} already",
                request.status
            ))));
        }
        let (status, case, reason, outcome) = match decision {
            Decision::Accept { scenario } => {
                let case = self
                    .start_manual(CustomerId(request.customer_id), scenario, actor)
                    .await?;
                ("accepted", Some(case.0), None, "accept")
            }
            Decision::Reject { reason } => {
                let reason = reason.trim();
                if reason.is_empty() {
                    return Err(RuntimeError::Refused(
                        "/reason: a rejection says why, for the requester".into(),
                    ));
                }
                ("rejected", None, Some(reason.to_string()), "reject")
            }
        };
        let now = self.store().clock().now();
        let mut tx = self.store().write().await?;
        on!(&mut tx, c, DB, PG => {
            sqlx::query(
                "UPDATE case_requests SET status = $2, case_id = $3, decided_by = $4, decision_reason = $5, decided_at = $6 \
                 WHERE id = $1 AND status = 'pending'",
            )
            .bind(id)
            .bind(status)
            .bind(case)
            .bind(actor)
            .bind(&reason)
            .bind(now)
            .execute(&mut *c)
            .await
            .map(|_| ())
        })
        .map_err(StoreError::from)?;
        if let Some(t) = request.task_id {
            let data = json!({ "case": case, "reason": reason });
            task::set_status(&mut tx, t, "done", Some(outcome), Some(&data), actor, now).await?;
        }
        tx.commit().await?;
        self.request(id).await
    }

    pub async fn request(&self, id: i64) -> Result<CaseRequest, RuntimeError> {
        let mut tx = self.store().read().await?;
        let row: Option<CaseRequest> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {REQUEST_COLUMNS} FROM case_requests r JOIN customers u ON u.id = r.customer_id WHERE r.id = $1"
            )))
            .bind(id)
            .fetch_optional(&mut *c)
            .await
        })
        .map_err(StoreError::from)?;
        tx.commit().await?;
        row.ok_or_else(|| RuntimeError::NotFound(format!("request {id}")))
    }

    /// The request a `request` task stands for.
    pub async fn request_of_task(&self, task: TaskId) -> Result<CaseRequest, RuntimeError> {
        let mut tx = self.store().read().await?;
        let id: Option<i64> = on!(&mut tx, c, DB, PG => {
            sqlx::query_scalar("SELECT id FROM case_requests WHERE task_id = $1").bind(task.0).fetch_optional(&mut *c).await
        })
        .map_err(StoreError::from)?;
        tx.commit().await?;
        match id {
            Some(id) => self.request(id).await,
            None => Err(RuntimeError::NotFound(format!("request of task {task}"))),
        }
    }

    /// Requests, newest first: one requester's, or all.
    pub async fn requests(
        &self,
        requester: Option<&str>,
    ) -> Result<Vec<CaseRequest>, RuntimeError> {
        let mut tx = self.store().read().await?;
        let rows: Vec<CaseRequest> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {REQUEST_COLUMNS} FROM case_requests r JOIN customers u ON u.id = r.customer_id \
                 WHERE (CAST($1 AS TEXT) IS NULL OR r.requester = $1) ORDER BY r.id DESC"
            )))
            .bind(requester)
            .fetch_all(&mut *c)
            .await
        })
        .map_err(StoreError::from)?;
        tx.commit().await?;
        Ok(rows)
    }
}

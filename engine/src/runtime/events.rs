//! Events are stored first, then applied, in id order: ledger changes (money allocated to a
//! customer with an open case: written by a database trigger in the booking's own
//! transaction), promises to pay, disputes, proofs of payment, custom events and manual
//! actions by authorised users.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::ids::{CaseId, CustomerId};
use crate::scenario::{Action, StepKind, Wait};
use crate::store::{StoreError, Tx, on};

use super::case::{CaseRow, CaseStatus, Promise, history};
use super::exec::{self, Ctx, add_timer, cancel_timers, start_of};
use super::task;

/// What can happen to a case from outside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// Money was allocated to the customer's receivables.
    LedgerChanged,
    PromiseToPay {
        date: NaiveDate,
        amount: Decimal,
    },
    Dispute {
        reason: String,
    },
    ProofUploaded {
        note: String,
    },
    Pause {
        reason: String,
    },
    Resume,
    Goto {
        step: String,
    },
    Close {
        reason: String,
    },
    Custom {
        name: String,
    },
}

impl Event {
    pub fn kind(&self) -> String {
        match self {
            Event::LedgerChanged => "ledger_changed".into(),
            Event::PromiseToPay { .. } => "promise_to_pay".into(),
            Event::Dispute { .. } => "dispute".into(),
            Event::ProofUploaded { .. } => "proof_uploaded".into(),
            Event::Pause { .. } => "pause".into(),
            Event::Resume => "resume".into(),
            Event::Goto { .. } => "goto".into(),
            Event::Close { .. } => "close".into(),
            Event::Custom { name } => name.clone(),
        }
    }
}

/// Stores an event for a case (or for every open case of a customer).
pub async fn store_event(
    tx: &mut Tx,
    customer: Option<CustomerId>,
    case: Option<CaseId>,
    event: &Event,
    actor: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<i64, StoreError> {
    let id: i64 = on!(tx, c, DB, PG => {
        sqlx::query_scalar(
            "INSERT INTO case_events (kind, customer_id, case_id, payload, actor, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(event.kind())
        .bind(customer.map(|c| c.0))
        .bind(case.map(|c| c.0))
        .bind(serde_json::to_string(event).unwrap_or_default())
        .bind(actor)
        .bind(now)
        .fetch_one(&mut *c)
        .await
    })?;
    Ok(id)
}

/// Applies one event to one open case; returns what it did, for the event's result.
pub async fn apply(
    tx: &mut Tx,
    cx: &Ctx<'_>,
    case: &mut CaseRow,
    event: &Event,
) -> Result<String, StoreError> {
    let sc = &cx.version.scenario;
    let id = case.case_id();
    let handler = sc.on.get(&event.kind()).cloned();
    match event {
        Event::LedgerChanged => {
            let overdue = cx.facts.overdue_total(case.invoice_id);
            if overdue <= Decimal::ZERO {
                let action = match handler.or_else(|| sc.on.get("paid").cloned()) {
                    Some(a @ (Action::Goto(_) | Action::Close(_))) => a,
                    _ => Action::Close("paid".into()),
                };
                exec::act(
                    tx,
                    cx,
                    case,
                    &action,
                    "a payment cleared the overdue balance (overdue = 0.00)",
                )
                .await?;
                return Ok("cleared".into());
            }
            // A partial payment: re-anchor a running wait from now.
            let step = sc.step(&case.step);
            let reanchored = if let (Some(StepKind::Wait(Wait::For(d))), "waiting") =
                (step.map(|s| &s.kind), case.status.as_str())
            {
                cancel_timers(tx, case, cx.now, Some("wait")).await?;
                case.step_entered_at = cx.now;
                let due = d.after(cx.now, &cx.version.calendar);
                add_timer(tx, case, "wait", due, None).await?;
                Some(due)
            } else {
                None
            };
            history(
                tx,
                id,
                cx.now,
                cx.actor,
                "payment",
                Some(&case.step),
                &format!(
                    "partial payment: overdue now {overdue}{}",
                    reanchored
                        .map(|d| format!("; wait re-anchored to {}", d.format("%Y-%m-%d")))
                        .unwrap_or_default()
                ),
                json!({ "overdue": overdue.to_string() }),
            )
            .await?;
            Ok("partial".into())
        }
        Event::PromiseToPay { date, amount } => {
            case.promise = Some(
                serde_json::to_string(&Promise {
                    date: *date,
                    amount: *amount,
                })
                .unwrap_or_default(),
            );
            history(
                tx,
                id,
                cx.now,
                cx.actor,
                "promise",
                Some(&case.step),
                &format!("promise to pay {amount} on {date}"),
                json!({ "date": date, "amount": amount.to_string() }),
            )
            .await?;
            match handler {
                Some(a @ (Action::Goto(_) | Action::Close(_))) => {
                    exec::act(tx, cx, case, &a, "promise to pay").await?
                }
                _ => {
                    // Pause until the day after the promised date, then run the current step again.
                    cancel_timers(tx, case, cx.now, None).await?;
                    case.status = CaseStatus::Waiting.as_str().into();
                    add_timer(
                        tx,
                        case,
                        "resume",
                        start_of(*date + chrono::Duration::days(1)),
                        None,
                    )
                    .await?;
                }
            }
            Ok("promise recorded".into())
        }
        Event::Dispute { reason } => {
            history(
                tx,
                id,
                cx.now,
                cx.actor,
                "dispute",
                Some(&case.step),
                &format!("dispute: {reason}"),
                json!({ "reason": reason }),
            )
            .await?;
            match handler {
                Some(a @ (Action::Goto(_) | Action::Close(_))) => {
                    exec::act(tx, cx, case, &a, "dispute").await?
                }
                _ => {
                    cancel_timers(tx, case, cx.now, None).await?;
                    case.status = CaseStatus::Paused.as_str().into();
                    collector_task(
                        tx,
                        cx,
                        case,
                        "dispute",
                        format!(
                            "Resolve the dispute of {}: {reason}",
                            cx.facts.customer.name
                        ),
                        ["resolved", "justified"],
                    )
                    .await?;
                }
            }
            Ok("dispute recorded".into())
        }
        Event::ProofUploaded { note } => {
            history(
                tx,
                id,
                cx.now,
                cx.actor,
                "proof_uploaded",
                Some(&case.step),
                &format!("proof of payment uploaded: {note}"),
                json!({}),
            )
            .await?;
            match handler {
                Some(a @ (Action::Goto(_) | Action::Close(_))) => {
                    exec::act(tx, cx, case, &a, "proof of payment uploaded").await?
                }
                _ => {
                    collector_task(
                        tx,
                        cx,
                        case,
                        "verification",
                        format!("Check the proof of payment of {}", cx.facts.customer.name),
                        ["confirmed", "not_found"],
                    )
                    .await?;
                }
            }
            Ok("verification requested".into())
        }
        Event::Pause { reason } => {
            exec::act(tx, cx, case, &Action::Pause, reason).await?;
            Ok("paused".into())
        }
        Event::Resume => {
            if case.status() != CaseStatus::Paused {
                return Ok(format!("not paused ({})", case.status));
            }
            let step = case.step.clone();
            exec::enter(tx, cx, case, &step, "resumed").await?;
            Ok("resumed".into())
        }
        Event::Goto { step } => {
            if sc.step(step).is_none() {
                return Err(StoreError::Conflict(format!(
                    "scenario {} has no step `{step}`",
                    sc.id
                )));
            }
            exec::enter(tx, cx, case, step, "moved by hand").await?;
            Ok(format!("moved to {step}"))
        }
        Event::Close { reason } => {
            exec::close(tx, cx, case, reason, "closed by hand").await?;
            Ok("closed".into())
        }
        Event::Custom { name } => match handler {
            Some(a) => {
                exec::act(tx, cx, case, &a, &format!("event {name}")).await?;
                Ok(format!("handled {name}"))
            }
            None => {
                history(
                    tx,
                    id,
                    cx.now,
                    cx.actor,
                    "event",
                    Some(&case.step),
                    &format!("event {name} (no handler)"),
                    json!({}),
                )
                .await?;
                Ok("no handler".into())
            }
        },
    }
}

/// A task for the customer's collector (or the collector role) that an event opens.
async fn collector_task(
    tx: &mut Tx,
    cx: &Ctx<'_>,
    case: &CaseRow,
    kind: &'static str,
    title: String,
    outcomes: [&str; 2],
) -> Result<i64, StoreError> {
    task::create(
        tx,
        case,
        cx.now,
        task::NewTask {
            kind,
            title,
            role: Some("collector".into()),
            assignee: cx.facts.customer.collector.clone(),
            outcomes: outcomes.iter().map(|o| o.to_string()).collect(),
            form: json!([]),
            due_at: None,
            escalate_to: None,
        },
    )
    .await
}

//! Step execution: what one step does when a case enters it, and where the case goes next.
//! Every function here works inside the caller's transaction: the caller loads the case,
//! calls in, saves the case and commits, so one transition is one transaction.

use chrono::{DateTime, Duration as ChronoDuration, NaiveTime, Utc};
use rust_decimal::Decimal;
use serde_json::json;

use crate::ids::CustomerId;
use crate::interest::RateTable;
use crate::ledger::Actor;
use crate::money::{Currency, Money};
use crate::scenario::{Action, Channel, StepKind, Value, Wait};
use crate::store::{
    FeeCharge, FeeOutcome, NoteSettings, StoreError, Tx, charge_fee_in, issue_interest_note_in, on,
};

use super::case::{CaseRow, CaseStatus, LedgerFacts, history};
use super::registry::Version;
use super::{RuntimeError, outbox, task};

/// What the runtime needs besides the transaction.
pub struct Ctx<'a> {
    pub now: DateTime<Utc>,
    pub actor: &'a str,
    pub version: &'a Version,
    pub facts: &'a LedgerFacts,
    pub sandbox: &'a crate::scenario::Sandbox,
}

impl Ctx<'_> {
    fn context(&self, case: &CaseRow) -> crate::scenario::ConditionContext {
        self.facts.context(
            self.now.date_naive(),
            case.invoice_id,
            Some(case),
            case.vars(),
        )
    }
}

pub async fn add_timer(
    tx: &mut Tx,
    case: &CaseRow,
    kind: &str,
    due: DateTime<Utc>,
    task_id: Option<i64>,
) -> Result<(), StoreError> {
    if let Some(b) = tx.buffer() {
        b.timers.push(crate::store::TimerInsert {
            case_id: case.id,
            kind: kind.to_string(),
            step: case.step.clone(),
            visit: case.visit,
            task_id,
            due_at: due,
        });
        return Ok(());
    }
    on!(tx, c, DB, PG => {
        sqlx::query(
            "INSERT INTO timers (case_id, kind, step, visit, task_id, due_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(case.id)
        .bind(kind)
        .bind(&case.step)
        .bind(case.visit)
        .bind(task_id)
        .bind(due)
        .execute(&mut *c)
        .await.map(|_| ())
    })?;
    Ok(())
}

/// Cancels the case's pending timers (they are marked fired without effect).
pub async fn cancel_timers(
    tx: &mut Tx,
    case: &CaseRow,
    now: DateTime<Utc>,
    kind: Option<&str>,
) -> Result<(), StoreError> {
    if let Some(b) = tx.buffer() {
        b.timers
            .retain(|t| t.case_id != case.id || kind.is_some_and(|k| k != t.kind));
        if !b.may_have_timers(case.id) {
            return Ok(());
        }
    }
    on!(tx, c, DB, PG => {
        sqlx::query(
            "UPDATE timers SET fired_at = $2 WHERE case_id = $1 AND fired_at IS NULL AND ($3 IS NULL OR kind = $3)",
        )
        .bind(case.id)
        .bind(now)
        .bind(kind)
        .execute(&mut *c)
        .await.map(|_| ())
    })?;
    Ok(())
}

/// Moves the case to `step` and schedules its execution now.
pub async fn enter(
    tx: &mut Tx,
    cx: &Ctx<'_>,
    case: &mut CaseRow,
    step: &str,
    why: &str,
) -> Result<(), StoreError> {
    cancel_timers(tx, case, cx.now, None).await?;
    task::cancel_open(tx, case, cx.now).await?;
    let from = std::mem::replace(&mut case.step, step.to_string());
    case.visit += 1;
    case.step_entered_at = cx.now;
    case.status = CaseStatus::Active.as_str().into();
    add_timer(tx, case, "step", cx.now, None).await?;
    history(
        tx,
        case.case_id(),
        cx.now,
        cx.actor,
        "goto",
        Some(step),
        &format!("{from} -> {step}: {why}"),
        json!({ "from": from, "to": step, "visit": case.visit }),
    )
    .await
}

/// Closes the case: open tasks cancelled, timers cancelled, unsent messages withdrawn.
pub async fn close(
    tx: &mut Tx,
    cx: &Ctx<'_>,
    case: &mut CaseRow,
    reason: &str,
    why: &str,
) -> Result<(), StoreError> {
    cancel_timers(tx, case, cx.now, None).await?;
    task::cancel_open(tx, case, cx.now).await?;
    outbox::withdraw(tx, case.id).await?;
    case.status = CaseStatus::Closed.as_str().into();
    case.close_reason = Some(reason.to_string());
    history(
        tx,
        case.case_id(),
        cx.now,
        cx.actor,
        "closed",
        Some(&case.step),
        &format!("closed ({reason}): {why}"),
        json!({ "reason": reason, "overdue": cx.facts.overdue_total(case.invoice_id).to_string() }),
    )
    .await
}

/// Carries out an event handler's or an outcome's action.
pub async fn act(
    tx: &mut Tx,
    cx: &Ctx<'_>,
    case: &mut CaseRow,
    action: &Action,
    why: &str,
) -> Result<(), StoreError> {
    match action {
        Action::Goto(step) => enter(tx, cx, case, step, why).await,
        Action::Close(reason) => close(tx, cx, case, reason, why).await,
        Action::Pause => {
            cancel_timers(tx, case, cx.now, None).await?;
            case.status = CaseStatus::Paused.as_str().into();
            history(
                tx,
                case.case_id(),
                cx.now,
                cx.actor,
                "paused",
                Some(&case.step),
                &format!("paused: {why}"),
                json!({}),
            )
            .await
        }
        Action::Ignore => {
            history(
                tx,
                case.case_id(),
                cx.now,
                cx.actor,
                "ignored",
                Some(&case.step),
                why,
                json!({}),
            )
            .await
        }
    }
}

/// Leaves the current step for its `next` (or ends the case when there is none).
pub async fn advance(
    tx: &mut Tx,
    cx: &Ctx<'_>,
    case: &mut CaseRow,
    why: &str,
) -> Result<(), StoreError> {
    let next = cx
        .version
        .scenario
        .step(&case.step)
        .and_then(|s| s.next.clone());
    match next {
        Some(n) => enter(tx, cx, case, &n, why).await,
        None => close(tx, cx, case, "ended", "the scenario has no further step").await,
    }
}

/// Steps one transition may chain before the rest is left to a timer (a loop of steps
/// with no wait between them cannot hold a batch forever).
pub const CHAIN_LIMIT: usize = 32;

/// Executes the case's steps while it is active, in the transaction that made it so: on a
/// buffering transaction the `step` timer `enter` left is taken back and its step runs now.
/// Returns the steps executed. (A transaction that does not buffer leaves the timer for the
/// next round of `fire_due`.)
///
/// The chain stops after a step that booked into the customer's ledger (a fee or an
/// interest note): the steps read `cx.facts`, loaded once at the start of the batch, and
/// those no longer count the new document. The next step's `step` timer then stays in the
/// buffer, is written at commit, and fires in the next round of `fire_due`, which loads the
/// facts again, so a letter after an interest note lists the note.
pub async fn settle(tx: &mut Tx, cx: &Ctx<'_>, case: &mut CaseRow) -> Result<usize, RuntimeError> {
    let mut steps = 0;
    while steps < CHAIN_LIMIT && case.status() == CaseStatus::Active {
        let Some(b) = tx.buffer() else {
            break;
        };
        if b.ledger_changed(case.customer_id) {
            break;
        }
        let before = b.timers.len();
        b.timers
            .retain(|t| !(t.case_id == case.id && t.kind == "step" && t.step == case.step));
        if b.timers.len() == before {
            break;
        }
        execute(tx, cx, case).await?;
        steps += 1;
    }
    Ok(steps)
}

/// Executes the case's current step (a `step` timer fired for it).
pub async fn execute(tx: &mut Tx, cx: &Ctx<'_>, case: &mut CaseRow) -> Result<(), RuntimeError> {
    let Some(step) = cx.version.scenario.step(&case.step).cloned() else {
        return Err(RuntimeError::Scenario(format!(
            "case {} is at step `{}`, which scenario {} version {} does not have",
            case.id, case.step, case.scenario_id, cx.version.version
        )));
    };
    let id = case.case_id();
    match &step.kind {
        StepKind::Send {
            template,
            channels,
            deadline,
            approve,
            when,
        } => {
            if let Some(cond) = when {
                let mut scope = cx.context(case).scope();
                let go = cx
                    .sandbox
                    .eval_bool(cond, &mut scope)
                    .map_err(RuntimeError::Scenario)?;
                if !go {
                    let why = format!("`when` is false ({})", cx.sandbox.explain(cond, &mut scope));
                    history(
                        tx,
                        id,
                        cx.now,
                        cx.actor,
                        "skipped",
                        Some(&step.id),
                        &why,
                        json!({}),
                    )
                    .await?;
                    advance(tx, cx, case, "message skipped").await?;
                    return Ok(());
                }
            }
            if let Some(role) = approve {
                // The documents are prepared now and held: the approver sees exactly what
                // goes out, and approving releases them.
                send_now(tx, cx, case, template, channels, deadline.as_ref(), true).await?;
                let title = format!(
                    "Approve `{template}` for {} ({})",
                    cx.facts.customer.name,
                    channels
                        .iter()
                        .map(Channel::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let t = task::create(
                    tx,
                    case,
                    cx.now,
                    task::NewTask {
                        kind: "approval",
                        title,
                        role: Some(role.clone()),
                        assignee: None,
                        outcomes: vec!["approve".into(), "reject".into()],
                        form: json!({}),
                        due_at: None,
                        escalate_to: None,
                    },
                )
                .await?;
                case.status = CaseStatus::Waiting.as_str().into();
                history(
                    tx,
                    id,
                    cx.now,
                    cx.actor,
                    "approval_requested",
                    Some(&step.id),
                    &format!("waiting for approval by {role}"),
                    json!({ "task": t }),
                )
                .await?;
                return Ok(());
            }
            send_now(tx, cx, case, template, channels, deadline.as_ref(), false).await?;
            advance(tx, cx, case, "sent").await?;
        }
        StepKind::Wait(w) => {
            let due = match w {
                Wait::For(d) => d.after(case.step_entered_at, &cx.version.calendar),
                Wait::Deadline => case.deadline.unwrap_or(cx.now),
                Wait::Promise => case
                    .promise()
                    .map(|p| start_of(p.date + ChronoDuration::days(1)))
                    .unwrap_or(cx.now),
                Wait::Date(d) => start_of(*d),
            };
            case.status = CaseStatus::Waiting.as_str().into();
            add_timer(tx, case, "wait", due, None).await?;
            history(
                tx,
                id,
                cx.now,
                cx.actor,
                "waiting",
                Some(&step.id),
                &format!("waiting until {}", due.format("%Y-%m-%d %H:%M")),
                json!({ "until": due }),
            )
            .await?;
        }
        StepKind::Task(spec) => {
            let title = crate::scenario::templates::render_title(&spec.title, &cx.context(case));
            let assignee = spec.assignee.clone().or_else(|| {
                (spec.role.as_deref() == Some("collector"))
                    .then(|| cx.facts.customer.collector.clone())
                    .flatten()
            });
            let due_at = spec.due.map(|d| d.after(cx.now, &cx.version.calendar));
            let t = task::create(
                tx,
                case,
                cx.now,
                task::NewTask {
                    kind: "task",
                    title: title.clone(),
                    role: spec.role.clone(),
                    assignee,
                    outcomes: spec.outcomes.keys().cloned().collect(),
                    form: serde_json::to_value(&spec.fields).unwrap_or_default(),
                    due_at,
                    escalate_to: spec.escalate.as_ref().map(|e| e.to.clone()),
                },
            )
            .await?;
            if let Some(e) = &spec.escalate {
                let from = due_at.unwrap_or(cx.now);
                add_timer(
                    tx,
                    case,
                    "escalate",
                    e.after.after(from, &cx.version.calendar),
                    Some(t),
                )
                .await?;
            }
            case.status = CaseStatus::Waiting.as_str().into();
            history(
                tx,
                id,
                cx.now,
                cx.actor,
                "task_created",
                Some(&step.id),
                &format!("task: {title}"),
                json!({ "task": t }),
            )
            .await?;
        }
        StepKind::Switch { branches, default } => {
            let mut scope = cx.context(case).scope();
            let mut chosen = None;
            for (i, b) in branches.iter().enumerate() {
                if cx
                    .sandbox
                    .eval_bool(&b.when, &mut scope)
                    .map_err(RuntimeError::Scenario)?
                {
                    chosen = Some((i, b));
                    break;
                }
            }
            let (target, why) = match chosen {
                Some((i, b)) => (
                    b.goto.clone(),
                    format!(
                        "switch took branch {} because {} ({})",
                        i + 1,
                        b.when.source,
                        cx.sandbox.explain(&b.when, &mut scope)
                    ),
                ),
                None => (
                    default.clone(),
                    format!(
                        "switch took the default: no condition held ({})",
                        branches
                            .iter()
                            .map(|b| cx.sandbox.explain(&b.when, &mut scope))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                ),
            };
            enter(tx, cx, case, &target, &why).await?;
        }
        StepKind::Set { assignments } => {
            let mut vars = case.vars();
            let mut shown = Vec::new();
            for (name, expr) in assignments {
                let mut scope = cx
                    .facts
                    .context(
                        cx.now.date_naive(),
                        case.invoice_id,
                        Some(case),
                        vars.clone(),
                    )
                    .scope();
                let v = cx
                    .sandbox
                    .eval(expr, &mut scope)
                    .map_err(RuntimeError::Scenario)?;
                let value = Value::from_dynamic(&v)
                    .map_err(|e| RuntimeError::Scenario(format!("`set {name}`: {e}")))?;
                shown.push(format!("{name} = {v}"));
                vars.insert(name.clone(), value);
            }
            case.vars = serde_json::to_string(&vars).unwrap_or_else(|_| "{}".into());
            history(
                tx,
                id,
                cx.now,
                cx.actor,
                "set",
                Some(&step.id),
                &shown.join(", "),
                json!({}),
            )
            .await?;
            advance(tx, cx, case, "variables set").await?;
        }
        StepKind::Fee { amount, reason } => {
            let ctx = cx.context(case);
            let v = cx
                .sandbox
                .eval(amount, &mut ctx.scope())
                .map_err(RuntimeError::Scenario)?;
            let amount = decimal_of(&v).ok_or_else(|| {
                RuntimeError::Scenario(format!(
                    "step `{}`: the fee amount `{}` gave {v} ({}), not an amount",
                    step.id,
                    amount.source,
                    v.type_name()
                ))
            })?;
            let currency = Currency::parse(&ctx.balance.currency).map_err(|_| {
                RuntimeError::Scenario(format!(
                    "step `{}`: the case has no balance, so the fee has no currency",
                    step.id
                ))
            })?;
            let money = Money::new(amount, currency).map_err(|e| {
                RuntimeError::Scenario(format!("step `{}`: fee {amount}: {e}", step.id))
            })?;
            let fee = FeeCharge {
                case_id: id,
                step: &step.id,
                customer: CustomerId(case.customer_id),
                amount: money,
                reason,
                issue_date: cx.now.date_naive(),
                payment_days: DOCUMENT_PAYMENT_DAYS,
            };
            let outcome = charge_fee_in(tx, &fee, &Actor(cx.actor.to_string()), cx.now)
                .await
                .map_err(|e| refused(&step.id, e))?;
            match outcome {
                FeeOutcome::Charged {
                    document_id,
                    number,
                } => {
                    booked(tx, case);
                    history(
                        tx,
                        id,
                        cx.now,
                        cx.actor,
                        "fee_charged",
                        Some(&step.id),
                        &format!("fee {number}: {money}, {reason}"),
                        json!({ "document": document_id, "number": number,
                                "amount": amount.to_string(), "currency": currency, "reason": reason }),
                    )
                    .await?;
                }
                FeeOutcome::AlreadyCharged { document_id } => {
                    history(
                        tx,
                        id,
                        cx.now,
                        cx.actor,
                        "fee_already_charged",
                        Some(&step.id),
                        &format!("fee already charged by this step of the case: {reason}"),
                        json!({ "document": document_id }),
                    )
                    .await?;
                }
            }
            advance(tx, cx, case, "fee step done").await?;
        }
        StepKind::InterestNote {
            rate_table,
            minimum,
        } => {
            let table = RateTable::shipped(rate_table).ok_or_else(|| {
                RuntimeError::Scenario(format!(
                    "step `{}`: no shipped rate table `{rate_table}`; expected one of {}",
                    step.id,
                    RateTable::shipped_names().join(", ")
                ))
            })?;
            let mut settings = NoteSettings::new(table);
            settings.payment_days = DOCUMENT_PAYMENT_DAYS;
            if let Some(m) = minimum {
                let v = cx
                    .sandbox
                    .eval(m, &mut cx.context(case).scope())
                    .map_err(RuntimeError::Scenario)?;
                settings.minimum = decimal_of(&v).ok_or_else(|| {
                    RuntimeError::Scenario(format!(
                        "step `{}`: the minimum `{}` gave {v} ({}), not an amount",
                        step.id,
                        m.source,
                        v.type_name()
                    ))
                })?;
            }
            let notes = issue_interest_note_in(
                tx,
                CustomerId(case.customer_id),
                cx.now.date_naive(),
                &settings,
                &Actor(cx.actor.to_string()),
                cx.now,
            )
            .await
            .map_err(|e| refused(&step.id, e))?;
            if notes.is_empty() {
                history(
                    tx,
                    id,
                    cx.now,
                    cx.actor,
                    "interest_note_skipped",
                    Some(&step.id),
                    &format!(
                        "no interest note: nothing due on rate table {rate_table}{}",
                        if settings.minimum > Decimal::ZERO {
                            format!(" at or above the minimum {}", settings.minimum)
                        } else {
                            String::new()
                        }
                    ),
                    json!({ "rate_table": rate_table, "minimum": settings.minimum.to_string() }),
                )
                .await?;
            } else {
                booked(tx, case);
                let shown: Vec<String> = notes
                    .iter()
                    .map(|n| format!("{} {} {}", n.number, n.total, n.currency))
                    .collect();
                history(
                    tx,
                    id,
                    cx.now,
                    cx.actor,
                    "interest_note_issued",
                    Some(&step.id),
                    &format!("interest note {} ({rate_table})", shown.join(", ")),
                    json!({ "notes": notes.iter().map(|n| json!({
                        "id": n.id, "document": n.document_id, "number": n.number,
                        "total": n.total.to_string(), "currency": n.currency,
                        "invoices": n.lines.iter().map(|l| l.invoice_number.clone()).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(), "rate_table": rate_table }),
                )
                .await?;
            }
            advance(tx, cx, case, "interest note step done").await?;
        }
        StepKind::Call {
            connector,
            action,
            payload,
        } => {
            let mut scope = cx.context(case).scope();
            let mut body = serde_json::Map::new();
            for (k, e) in payload {
                let v = cx
                    .sandbox
                    .eval(e, &mut scope)
                    .map_err(RuntimeError::Scenario)?;
                body.insert(k.clone(), json!(v.to_string()));
            }
            let key = outbox::key(case, &cx.facts.customer.external_id, "webhook");
            outbox::enqueue(
                tx,
                case,
                &key,
                "webhook",
                None,
                None,
                Some(connector),
                json!({
                    "connector": connector, "action": action, "payload": body,
                    "case": format!("{}/{}/{}", case.scenario_id, case.subject, case.opened_at.format("%Y%m%d")), "customer": cx.facts.customer.external_id,
                }),
                cx.now,
                false,
            )
            .await?;
            history(
                tx,
                id,
                cx.now,
                cx.actor,
                "call",
                Some(&step.id),
                &format!("{connector}.{action} queued"),
                json!({ "idempotency_key": key }),
            )
            .await?;
            advance(tx, cx, case, "call queued").await?;
        }
        StepKind::Handover { to, role, stages } => {
            if let Some(first) = stages.first() {
                task::create_stage(tx, cx, case, role, 0, first).await?;
            }
            case.status = CaseStatus::Waiting.as_str().into();
            history(
                tx,
                id,
                cx.now,
                cx.actor,
                "handed_over",
                Some(&step.id),
                &format!("handed over to {to} ({} stages)", stages.len()),
                json!({ "to": to }),
            )
            .await?;
        }
        StepKind::Close { reason } => {
            close(tx, cx, case, reason, "the scenario's close step").await?;
        }
    }
    Ok(())
}

/// Days from a fee's or interest note's issue date to its due date.
pub const DOCUMENT_PAYMENT_DAYS: u32 = 14;

/// An amount from a Rhai value: a decimal or a whole number.
fn decimal_of(v: &rhai::Dynamic) -> Option<Decimal> {
    v.as_decimal()
        .ok()
        .or_else(|| v.as_int().ok().map(Decimal::from))
}

/// A refusal by the ledger (a bad amount, a contractual rate that does not parse) is the
/// scenario's problem: the case pauses with the reason. Anything else is the store's.
fn refused(step: &str, e: StoreError) -> RuntimeError {
    match e {
        StoreError::Rejected(r) => RuntimeError::Scenario(format!(
            "step `{step}`: the ledger refused it: {}",
            r.iter()
                .map(|x| x.error.message.clone())
                .collect::<Vec<_>>()
                .join("; ")
        )),
        other => RuntimeError::Store(other),
    }
}

/// Marks the case's customer as booked into by this transaction: the ledger facts the batch
/// loaded no longer hold for them (see `settle`).
fn booked(tx: &mut Tx, case: &CaseRow) {
    if let Some(b) = tx.buffer() {
        b.ledger_changed.insert(case.customer_id);
    }
}

/// Enqueues the step's messages, one per channel, and sets the deadline. Held messages wait
/// for an approval (`approve:` on the step).
pub async fn send_now(
    tx: &mut Tx,
    cx: &Ctx<'_>,
    case: &mut CaseRow,
    template: &str,
    channels: &[Channel],
    deadline: Option<&crate::scenario::Duration>,
    held: bool,
) -> Result<(), StoreError> {
    let customer = &cx.facts.customer;
    let language = if cx.version.scenario.languages.contains(&customer.language) {
        customer.language.clone()
    } else {
        cx.version
            .scenario
            .languages
            .first()
            .cloned()
            .unwrap_or_else(|| "en".into())
    };
    if let Some(d) = deadline {
        case.deadline = Some(d.after(cx.now, &cx.version.calendar));
    }
    let context = cx.context(case);
    for ch in channels {
        use crate::ledger::customer::ContactKind;
        let recipient = match ch {
            Channel::Email => customer.contact(ContactKind::Email),
            Channel::Sms => customer.contact(ContactKind::Phone),
            Channel::Letter | Channel::RegisteredLetter => customer.contact(ContactKind::Postal),
            Channel::Fax => customer.contact(ContactKind::Fax),
        };
        let Some(recipient) = recipient else {
            history(
                tx,
                case.case_id(),
                cx.now,
                cx.actor,
                "not_sent",
                Some(&case.step),
                &format!(
                    "no {} contact for {}: {template} not sent by {}",
                    ch.as_str(),
                    customer.name,
                    ch.as_str()
                ),
                json!({}),
            )
            .await?;
            continue;
        };
        let key = outbox::key(case, &customer.external_id, ch.as_str());
        outbox::enqueue(tx, case, &key, ch.as_str(), Some(template), Some(&language), Some(recipient), json!({
            "customer": customer.external_id,
            "balance": { "total": context.balance.total.to_string(), "overdue": context.balance.overdue.to_string(), "currency": context.balance.currency },
            "deadline": case.deadline.map(|d| d.date_naive().to_string()),
            "open_items": context.invoices.iter().map(|i| json!({ "number": i.number, "due": i.due, "open": i.open.to_string(), "currency": i.currency, "days_overdue": i.days_overdue })).collect::<Vec<_>>(),
            "prepared_by": cx.actor,
        }), cx.now, held).await?;
        history(
            tx,
            case.case_id(),
            cx.now,
            cx.actor,
            "queued",
            Some(&case.step),
            &format!("{template} by {} to {recipient}", ch.as_str()),
            json!({ "idempotency_key": key }),
        )
        .await?;
    }
    Ok(())
}

/// Midnight UTC at the start of a day.
pub fn start_of(d: chrono::NaiveDate) -> DateTime<Utc> {
    d.and_time(NaiveTime::MIN).and_utc()
}

//! The durable runtime: cases started from the ledger by scenarios, advanced one step per
//! transaction by timers stored in the database, moved by events and human tasks, and
//! talking to the world only through the outbox. Any number of workers share the work
//! through the database (PostgreSQL: `FOR UPDATE SKIP LOCKED` with leases; SQLite: one
//! writer). Time comes from the store's clock, so the same code runs on a virtual clock.

pub mod case;
pub mod events;
pub mod exec;
pub mod outbox;
pub mod registry;
pub mod request;
pub mod task;
pub mod views;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::json;

use crate::clock::ManualClock;
use crate::ids::{CaseId, CustomerId, TaskId};
use crate::scenario::{Action, CasePer, Sandbox, Scenario, StepKind, Value};
use crate::store::{AgingQuery, Store, StoreError, Tx, on};

use case::{
    CASE_COLUMNS, CaseRow, CaseStatus, LedgerFacts, history, ledger_facts, load_case, save_case,
};
pub use events::Event;
use exec::Ctx;
pub use outbox::{Channels, Deliver, DispatchReport, LogChannel, Message};
use registry::{Registry, Version};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Scenario(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Refused(String),
}

/// What a round of work did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct WorkReport {
    pub started: usize,
    pub steps: usize,
    pub events: usize,
    pub sent: usize,
    pub failed: usize,
    /// Timer lag (fired - due) of every timer fired, in milliseconds.
    #[serde(skip)]
    pub lags_ms: Vec<i64>,
}

impl WorkReport {
    fn add(&mut self, o: WorkReport) {
        self.started += o.started;
        self.steps += o.steps;
        self.events += o.events;
        self.sent += o.sent;
        self.failed += o.failed;
        self.lags_ms.extend(o.lags_ms);
    }

    pub fn is_idle(&self) -> bool {
        self.started + self.steps + self.events + self.sent + self.failed == 0
    }
}

/// How many open cases a migration moves from one step to another.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MigrationMove {
    pub from_step: String,
    pub to_step: String,
    pub cases: usize,
}

#[derive(sqlx::FromRow)]
struct TimerRow {
    id: i64,
    case_id: i64,
    kind: String,
    step: String,
    visit: i64,
    task_id: Option<i64>,
    due_at: DateTime<Utc>,
}

pub struct Runtime {
    store: Store,
    registry: Registry,
    sandbox: Sandbox,
    channels: Channels,
    /// Renders templated messages into documents before they go out (None: messages go out
    /// as their payload, as in simulations).
    correspondence: Option<Arc<crate::correspondence::Correspondence>>,
    worker: String,
    /// Leases are about processes staying alive, so they run on the wall clock even when
    /// the cases run on a virtual one: a killed worker's claims expire in real seconds.
    lease_clock: Arc<dyn crate::clock::Clock>,
    lease: Duration,
}

/// A case to start: version, customer, invoice (per-invoice scenarios), subject.
type Start = (Arc<Version>, i64, Option<i64>, String);

/// How many timers, events or messages one claim takes.
const BATCH: i64 = 1000;
const LEASE_SECONDS: i64 = 300;

impl Runtime {
    pub fn new(store: Store, channels: Channels) -> Runtime {
        Runtime {
            store,
            registry: Registry::default(),
            sandbox: Sandbox::new(),
            channels,
            correspondence: None,
            worker: format!("{}-{}", std::process::id(), rand::random::<u32>()),
            lease_clock: Arc::new(crate::clock::SystemClock),
            lease: Duration::seconds(LEASE_SECONDS),
        }
    }

    /// How long a claim on a timer or a message holds before another worker may take it.
    pub fn with_lease(mut self, lease: Duration) -> Runtime {
        self.lease = lease;
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Templated messages become documents (rendered, kept, approved where the step asks)
    /// before they go out.
    pub fn with_correspondence(
        mut self,
        correspondence: Arc<crate::correspondence::Correspondence>,
    ) -> Runtime {
        self.correspondence = Some(correspondence);
        self
    }

    pub fn correspondence(&self) -> Option<&Arc<crate::correspondence::Correspondence>> {
        self.correspondence.as_ref()
    }

    pub async fn deploy(
        &self,
        scenario: &Scenario,
        actor: &str,
    ) -> Result<registry::Deployed, RuntimeError> {
        self.registry.deploy(&self.store, scenario, actor).await
    }

    fn now(&self) -> DateTime<Utc> {
        self.store.clock().now()
    }

    /// Starts a case for every customer (or overdue invoice) a deployed scenario's
    /// `applies_to` and `start_when` select, the highest priority first; a subject with an
    /// open case gets no second one.
    /// The report counts the cases started and the first steps they executed.
    pub async fn start_cases(&self) -> Result<WorkReport, RuntimeError> {
        let mut versions = self.registry.latest(&self.store).await?;
        versions.sort_by(|a, b| {
            b.scenario
                .priority
                .cmp(&a.scenario.priority)
                .then(a.scenario.id.cmp(&b.scenario.id))
        });
        if versions.is_empty() {
            return Ok(WorkReport::default());
        }
        let clock = std::time::Instant::now();
        let today = self.now().date_naive();
        let mut tx = self.store.read().await?;
        // A case closed today still counts as open for today's starts: the scan gives the same
        // answer whenever in the day it runs (a run resumed after a crash repeats the day).
        // Customers with an open case per customer start nothing: the database leaves them
        // out of the aging, so a scan over a portfolio where most customers are being worked
        // reads only the others.
        let since = exec::start_of(today);
        let report = crate::store::reports::aging_scoped(
            &mut tx,
            &AgingQuery {
                as_of: today,
                buckets: Default::default(),
                customer_id: None,
                detail: true,
            },
            &crate::store::reports::Scope::WithoutCustomerCaseSince(since),
        )
        .await?;
        let per_invoice = versions
            .iter()
            .any(|v| v.scenario.case_per == CasePer::Invoice);
        let busy_subjects: HashSet<String> = if per_invoice {
            on!(&mut tx, c, DB, PG => {
                sqlx::query_scalar(
                    "SELECT subject FROM cases WHERE subject LIKE 'invoice:%' AND (status <> 'closed' OR closed_at >= $1)",
                )
                .bind(since)
                .fetch_all(&mut *c)
                .await
            })
            .map_err(StoreError::from)?
            .into_iter()
            .collect()
        } else {
            HashSet::new()
        };
        // A debt a case has already worked through does not start another: a subject starts
        // again only for receivables that fell due after its last case opened. Only the
        // customers the aging found matter.
        let mut scanned_customers: Vec<i64> = report.rows.iter().map(|r| r.customer_id.0).collect();
        scanned_customers.sort_unstable();
        scanned_customers.dedup();
        let mut last: Vec<(String, String, DateTime<Utc>)> = Vec::new();
        for chunk in scanned_customers.chunks(10_000) {
            last.extend(on!(&mut tx, c, DB, PG => {
                let sql = format!(
                    "SELECT scenario_id, subject, MAX(opened_at) FROM cases WHERE {} GROUP BY scenario_id, subject",
                    crate::store::Ids::sql_in(PG, "customer_id", 1)
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(crate::store::List(chunk.to_vec()))
                    .fetch_all(&mut *c)
                    .await
            })
            .map_err(StoreError::from)?);
        }
        let last_opened: std::collections::HashMap<(String, String), NaiveDate> = last
            .into_iter()
            .map(|(s, sub, at)| ((s, sub), at.date_naive()))
            .collect();
        let mut by_customer: BTreeMap<i64, Vec<crate::aging::AgingRow>> = BTreeMap::new();
        for row in report.rows {
            by_customer.entry(row.customer_id.0).or_default().push(row);
        }
        let ids: Vec<i64> = by_customer.keys().copied().collect();
        let mut customers: std::collections::HashMap<i64, crate::ledger::customer::Customer> =
            crate::store::customers::customers_in(&mut tx, &ids)
                .await?
                .into_iter()
                .map(|c| (c.id.0, c))
                .collect();
        let mut starts: Vec<Start> = Vec::new();
        for (customer_id, rows) in by_customer {
            let Some(customer) = customers.remove(&customer_id) else {
                continue;
            };
            let facts = LedgerFacts { customer, rows };
            let ctx = facts.context(today, None, None, BTreeMap::new());
            for v in &versions {
                let sc = &v.scenario;
                if !self.holds(&sc.applies_to, &ctx) {
                    continue;
                }
                match sc.case_per {
                    CasePer::Customer => {
                        let subject = format!("customer:{}", facts.customer.external_id);
                        let newest_due = facts
                            .rows
                            .iter()
                            .flat_map(|r| r.items.iter().flatten())
                            .map(|i| i.due_date)
                            .max();
                        let worked = last_opened
                            .get(&(sc.id.clone(), subject))
                            .is_some_and(|opened| newest_due.is_none_or(|due| due <= *opened));
                        if !worked && self.holds(&sc.start_when, &ctx) {
                            starts.push((
                                v.clone(),
                                customer_id,
                                None,
                                format!("customer:{}", facts.customer.external_id),
                            ));
                            break;
                        }
                    }
                    CasePer::Invoice => {
                        let mut any = false;
                        for item in facts.rows.iter().flat_map(|r| r.items.iter().flatten()) {
                            let subject = format!("invoice:{}", item.number);
                            if busy_subjects.contains(&subject)
                                || item.open <= rust_decimal::Decimal::ZERO
                            {
                                continue;
                            }
                            let ctx = facts.context(
                                today,
                                Some(item.document_id.0),
                                None,
                                BTreeMap::new(),
                            );
                            if self.holds(&sc.start_when, &ctx) {
                                starts.push((
                                    v.clone(),
                                    customer_id,
                                    Some(item.document_id.0),
                                    subject,
                                ));
                                any = true;
                            }
                        }
                        if any {
                            break;
                        }
                    }
                }
            }
        }
        tx.commit().await?;
        let scanned = clock.elapsed();
        let mut report = WorkReport::default();
        for chunk in starts.chunks(BATCH as usize) {
            if let Some(r) = self.start_batch(chunk).await? {
                report.add(r);
                continue;
            }
            for (v, customer_id, invoice, subject) in chunk {
                match self
                    .start_case(v, CustomerId(*customer_id), *invoice, subject, "system")
                    .await
                {
                    Ok(Some(_)) => report.started += 1,
                    Ok(None) => {}
                    Err(RuntimeError::Scenario(e)) => {
                        tracing::warn!(scenario = %v.scenario.id, %subject, error = %e, "case not started")
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        tracing::debug!(
            started = report.started,
            steps = report.steps,
            scan_ms = scanned.as_millis() as u64,
            start_ms = (clock.elapsed() - scanned).as_millis() as u64,
            "start scan"
        );
        Ok(report)
    }

    /// Starts cases in one transaction, each running its first steps at once (see
    /// `fire_batch`); `None`, and nothing started, when a scenario failed on one of them.
    async fn start_batch(&self, starts: &[Start]) -> Result<Option<WorkReport>, RuntimeError> {
        let now = self.now();
        let mut tx = self.store.write().await?;
        tx.start_buffering();
        let customers: Vec<i64> = starts.iter().map(|s| s.1).collect();
        let facts = case::ledger_facts_many(&mut tx, &customers, now.date_naive()).await?;
        // Decide every case first (a failing `vars` expression sends the batch to the slow
        // path), insert them in one statement, then run their first steps.
        let mut new = Vec::new();
        for (v, customer_id, invoice, subject) in starts {
            let Some(facts) = facts.get(customer_id) else {
                continue;
            };
            let cx = Ctx {
                now,
                actor: "system",
                version: v,
                facts,
                sandbox: &self.sandbox,
            };
            match self.new_case(&cx, *invoice, subject) {
                Ok(n) => new.push((n, cx)),
                Err(RuntimeError::Scenario(_)) => {
                    tx.rollback().await?;
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
        let rows: Vec<&NewCase> = new.iter().map(|(n, _)| n).collect();
        let ids = insert_cases(&mut tx, &rows, "system").await?;
        let mut cases = Vec::new();
        let mut report = WorkReport::default();
        for (n, cx) in new {
            let Some(id) = ids.get(&(n.case.scenario_id.clone(), n.case.subject.clone())) else {
                continue;
            };
            let mut case = n.case;
            case.id = *id;
            let outcome = match self.opened(&mut tx, &cx, &case, &n.why).await {
                Ok(()) => exec::settle(&mut tx, &cx, &mut case).await,
                Err(e) => Err(e),
            };
            match outcome {
                Ok(steps) => {
                    report.started += 1;
                    report.steps += steps;
                    cases.push(case);
                }
                Err(RuntimeError::Scenario(_)) => {
                    tx.rollback().await?;
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
        let refs: Vec<&CaseRow> = cases.iter().collect();
        case::save_cases(&mut tx, &refs, now).await?;
        tx.commit().await?;
        Ok(Some(report))
    }

    fn holds(&self, expr: &crate::scenario::Expr, ctx: &crate::scenario::ConditionContext) -> bool {
        match self.sandbox.eval_bool(expr, &mut ctx.scope()) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, customer = %ctx.customer.external_id, "condition failed");
                false
            }
        }
    }

    /// Starts one case (automatically or by hand) in its own transaction. `None` when the
    /// subject already has an open case in this scenario.
    pub async fn start_case(
        &self,
        v: &Version,
        customer: CustomerId,
        invoice: Option<i64>,
        subject: &str,
        actor: &str,
    ) -> Result<Option<CaseId>, RuntimeError> {
        let now = self.now();
        let mut tx = self.store.write().await?;
        let facts = ledger_facts(&mut tx, customer, now.date_naive()).await?;
        let cx = Ctx {
            now,
            actor,
            version: v,
            facts: &facts,
            sandbox: &self.sandbox,
        };
        let Some(case) = self.start_in(&mut tx, &cx, invoice, subject).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        tx.commit().await?;
        Ok(Some(case.case_id()))
    }

    /// Opens the case at its first step, with a `step` timer due now, inside the caller's
    /// transaction. `None` when the subject already has an open case in this scenario.
    async fn start_in(
        &self,
        tx: &mut Tx,
        cx: &Ctx<'_>,
        invoice: Option<i64>,
        subject: &str,
    ) -> Result<Option<CaseRow>, RuntimeError> {
        let mut n = self.new_case(cx, invoice, subject)?;
        let ids = insert_cases(tx, &[&n], cx.actor).await?;
        let Some(id) = ids.get(&(n.case.scenario_id.clone(), n.case.subject.clone())) else {
            return Ok(None);
        };
        n.case.id = *id;
        self.opened(tx, cx, &n.case, &n.why).await?;
        Ok(Some(n.case))
    }

    /// A case about to be opened (its id not yet known): `vars` evaluated, the reason it
    /// starts explained.
    fn new_case(
        &self,
        cx: &Ctx<'_>,
        invoice: Option<i64>,
        subject: &str,
    ) -> Result<NewCase, RuntimeError> {
        let (now, v) = (cx.now, cx.version);
        let sc = &v.scenario;
        let ctx = cx
            .facts
            .context(now.date_naive(), invoice, None, BTreeMap::new());
        let mut vars = BTreeMap::new();
        for (name, expr) in &sc.vars {
            let d = self
                .sandbox
                .eval(expr, &mut ctx.scope())
                .map_err(RuntimeError::Scenario)?;
            vars.insert(
                name.clone(),
                Value::from_dynamic(&d).map_err(RuntimeError::Scenario)?,
            );
        }
        let first = sc.steps.first().map(|s| s.id.clone()).unwrap_or_default();
        let why = format!(
            "{} (version {}) started: {} ({})",
            sc.id,
            v.version,
            sc.start_when.source,
            self.sandbox.explain(&sc.start_when, &mut ctx.scope())
        );
        Ok(NewCase {
            case: CaseRow {
                id: 0,
                scenario_version_id: v.id,
                scenario_id: sc.id.clone(),
                customer_id: cx.facts.customer.id.0,
                invoice_id: invoice,
                subject: subject.to_string(),
                status: CaseStatus::Active.as_str().into(),
                step: first,
                step_entered_at: now,
                visit: 1,
                vars: serde_json::to_string(&vars).unwrap_or_else(|_| "{}".into()),
                deadline: None,
                last_outcome: None,
                promise: None,
                close_reason: None,
                opened_at: now,
            },
            token: debtor_token(),
            why,
        })
    }

    /// The history entry and the first `step` timer of a case just inserted.
    async fn opened(
        &self,
        tx: &mut Tx,
        cx: &Ctx<'_>,
        case: &CaseRow,
        why: &str,
    ) -> Result<(), RuntimeError> {
        if let Some(b) = tx.buffer() {
            // A new case has nothing pending in the database.
            b.known.cases.insert(case.id);
        }
        exec::add_timer(tx, case, "step", cx.now, None).await?;
        history(
            tx,
            case.case_id(),
            cx.now,
            cx.actor,
            "started",
            Some(&case.step),
            why,
            json!({ "version": cx.version.version }),
        )
        .await?;
        Ok(())
    }

    /// Starts a case by hand in the latest version of a scenario whose `applies_to` holds
    /// for the customer (its `start_when` is the person's call).
    pub async fn start_manual(
        &self,
        customer: CustomerId,
        scenario_id: &str,
        actor: &str,
    ) -> Result<CaseId, RuntimeError> {
        let versions = self.registry.latest(&self.store).await?;
        let Some(v) = versions.iter().find(|v| v.scenario.id == scenario_id) else {
            let known: Vec<&str> = versions.iter().map(|v| v.scenario.id.as_str()).collect();
            return Err(RuntimeError::Refused(format!(
                "/scenario: no deployed scenario `{scenario_id}` (deployed: {})",
                known.join(", ")
            )));
        };
        if v.scenario.case_per == CasePer::Invoice {
            return Err(RuntimeError::Refused(format!(
                "/scenario: `{scenario_id}` runs one case per invoice; its cases start from the ledger"
            )));
        }
        let mut tx = self.store.read().await?;
        let facts = ledger_facts(&mut tx, customer, self.now().date_naive()).await?;
        tx.commit().await?;
        let ctx = facts.context(self.now().date_naive(), None, None, BTreeMap::new());
        if !self.holds(&v.scenario.applies_to, &ctx) {
            return Err(RuntimeError::Refused(format!(
                "/scenario: `{scenario_id}` does not apply to customer {}: {} ({})",
                facts.customer.external_id,
                v.scenario.applies_to.source,
                self.sandbox
                    .explain(&v.scenario.applies_to, &mut ctx.scope())
            )));
        }
        let subject = format!("customer:{}", facts.customer.external_id);
        self.start_case(v, customer, None, &subject, actor)
            .await?
            .ok_or_else(|| {
                RuntimeError::Refused(format!(
                    "/customer: customer {} already has an open case in `{scenario_id}`",
                    facts.customer.external_id
                ))
            })
    }

    /// Moves the open cases of `scenario_id` from version `from` to version `to`, each at the
    /// step `map` names (by default the step of the same id). Refused, changing nothing, when
    /// a case would land on a step version `to` does not have. With `dry_run` it only
    /// reports what it would do.
    pub async fn migrate(
        &self,
        scenario_id: &str,
        from: i64,
        to: i64,
        map: &BTreeMap<String, String>,
        dry_run: bool,
        actor: &str,
    ) -> Result<Vec<MigrationMove>, RuntimeError> {
        let now = self.now();
        let mut tx = self.store.write().await?;
        let ids: Vec<(i64, i64)> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as("SELECT id, version FROM scenario_versions WHERE scenario_id = $1 AND version IN ($2, $3)")
                .bind(scenario_id)
                .bind(from)
                .bind(to)
                .fetch_all(&mut *c)
                .await
        }).map_err(StoreError::from)?;
        let id_of = |v: i64| ids.iter().find(|(_, n)| *n == v).map(|(id, _)| *id);
        let (Some(from_id), Some(to_id)) = (id_of(from), id_of(to)) else {
            return Err(RuntimeError::Refused(format!(
                "scenario `{scenario_id}` has no version {} deployed",
                if id_of(from).is_none() { from } else { to }
            )));
        };
        let target = self.registry.get(&self.store, to_id).await?;
        for (old, new) in map {
            if target.scenario.step(new).is_none() {
                return Err(RuntimeError::Refused(format!(
                    "--map {old}={new}: version {to} of `{scenario_id}` has no step `{new}`"
                )));
            }
        }
        let cases: Vec<CaseRow> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {CASE_COLUMNS} FROM cases WHERE scenario_version_id = $1 AND status <> 'closed' ORDER BY id"
            )))
            .bind(from_id)
            .fetch_all(&mut *c)
            .await
        }).map_err(StoreError::from)?;
        let mut moves: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut missing: BTreeMap<String, usize> = BTreeMap::new();
        for case in &cases {
            let step = map
                .get(&case.step)
                .cloned()
                .unwrap_or_else(|| case.step.clone());
            if target.scenario.step(&step).is_none() {
                *missing.entry(case.step.clone()).or_default() += 1;
            } else {
                *moves.entry((case.step.clone(), step)).or_default() += 1;
            }
        }
        if !missing.is_empty() {
            return Err(RuntimeError::Refused(format!(
                "version {to} of `{scenario_id}` has no step for {}: add --map OLD=NEW for each",
                missing
                    .iter()
                    .map(|(s, n)| format!("`{s}` ({n} case(s))"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if !dry_run {
            for mut case in cases {
                let step = map
                    .get(&case.step)
                    .cloned()
                    .unwrap_or_else(|| case.step.clone());
                let moved = step != case.step;
                let why = format!("migrated from version {from} to {to} by {actor}");
                case.scenario_version_id = to_id;
                if moved {
                    let facts =
                        ledger_facts(&mut tx, CustomerId(case.customer_id), now.date_naive())
                            .await?;
                    let cx = Ctx {
                        now,
                        actor,
                        version: &target,
                        facts: &facts,
                        sandbox: &self.sandbox,
                    };
                    exec::enter(&mut tx, &cx, &mut case, &step, &why).await?;
                } else {
                    history(
                        &mut tx,
                        case.case_id(),
                        now,
                        actor,
                        "migrated",
                        Some(&step),
                        &why,
                        json!({ "from": from, "to": to }),
                    )
                    .await?;
                }
                on!(&mut tx, c, DB, PG => {
                    sqlx::query("UPDATE cases SET scenario_version_id = $2 WHERE id = $1")
                        .bind(case.id)
                        .bind(to_id)
                        .execute(&mut *c)
                        .await
                        .map(|_| ())
                })
                .map_err(StoreError::from)?;
                save_case(&mut tx, &case, now).await?;
            }
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(moves
            .into_iter()
            .map(|((from_step, to_step), cases)| MigrationMove {
                from_step,
                to_step,
                cases,
            })
            .collect())
    }

    /// Claims due timers and fires them in batches: one transaction per batch, its
    /// transitions chained and their rows written in bulk (group commit). Should a scenario
    /// fail in a batch, the batch is rolled back and its timers fire one transaction each,
    /// so only the failing case is paused.
    pub async fn fire_due(&self) -> Result<WorkReport, RuntimeError> {
        let now = self.now();
        let mut tx = self.store.write().await?;
        let timers: Vec<TimerRow> = on!(&mut tx, c, DB, PG => {
            let lock = if PG { " FOR UPDATE SKIP LOCKED" } else { "" };
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE timers SET lease_owner = $1, lease_until = $2 WHERE id IN ( \
                   SELECT id FROM timers WHERE fired_at IS NULL AND due_at <= $3 \
                   AND (lease_until IS NULL OR lease_until < $5) ORDER BY due_at, id LIMIT $4{lock}) \
                 RETURNING id, case_id, kind, step, visit, task_id, due_at"
            )))
            .bind(&self.worker)
            .bind(self.lease_clock.now() + self.lease)
            .bind(now)
            .bind(BATCH)
            .bind(self.lease_clock.now())
            .fetch_all(&mut *c)
            .await
        }).map_err(StoreError::from)?;
        tx.commit().await?;
        let mut timers = timers;
        timers.sort_by_key(|t| (t.due_at, t.id));
        if let Some(report) = self.fire_batch(&timers).await? {
            return Ok(report);
        }
        let mut report = WorkReport::default();
        for t in timers {
            match self.fire(&t).await {
                Ok(Some(steps)) => {
                    report.steps += steps;
                    report
                        .lags_ms
                        .push((self.now() - t.due_at).num_milliseconds().max(0));
                }
                Ok(None) => {}
                Err(RuntimeError::Scenario(e)) => {
                    report.failed += 1;
                    self.pause_on_error(t.case_id, t.id, &e).await?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    /// Fires claimed timers in one transaction; `None` (and nothing changed) when a
    /// scenario failed on one of them.
    async fn fire_batch(&self, timers: &[TimerRow]) -> Result<Option<WorkReport>, RuntimeError> {
        let mut report = WorkReport::default();
        if timers.is_empty() {
            return Ok(Some(report));
        }
        let now = self.now();
        let mut tx = self.store.write().await?;
        tx.start_buffering();
        let ids: Vec<i64> = timers.iter().map(|t| t.id).collect();
        let taken: Vec<i64> = on!(&mut tx, c, DB, PG => {
            let sql = format!(
                "UPDATE timers SET fired_at = $2 WHERE {} AND fired_at IS NULL AND lease_owner = $3 RETURNING id",
                crate::store::Ids::sql_in(PG, "id", 1)
            );
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(crate::store::List(ids))
                .bind(now)
                .bind(&self.worker)
                .fetch_all(&mut *c)
                .await
        }).map_err(StoreError::from)?;
        let taken: HashSet<i64> = taken.into_iter().collect();
        let mut case_ids: Vec<i64> = timers
            .iter()
            .filter(|t| taken.contains(&t.id))
            .map(|t| t.case_id)
            .collect();
        case_ids.sort_unstable();
        case_ids.dedup();
        let mut cases = case::load_cases(&mut tx, &case_ids).await?;
        self.load_known(&mut tx, &case_ids).await?;
        let customers: Vec<i64> = cases.values().map(|c| c.customer_id).collect();
        let facts = case::ledger_facts_many(&mut tx, &customers, now.date_naive()).await?;
        let mut touched = std::collections::BTreeSet::new();
        let mut fired = Vec::new();
        for t in timers.iter().filter(|t| taken.contains(&t.id)) {
            let Some(case) = cases.get_mut(&t.case_id) else {
                continue;
            };
            if case.status() == CaseStatus::Closed || case.step != t.step || case.visit != t.visit {
                continue;
            }
            let Some(facts) = facts.get(&case.customer_id) else {
                continue;
            };
            // An earlier transition of this batch booked a fee or an interest note for this
            // customer, so `facts` no longer hold: the timer goes back (written at commit,
            // due now) and fires in the next round, which loads the facts again.
            if let Some(b) = tx.buffer()
                && b.ledger_changed(case.customer_id)
            {
                b.timers.push(crate::store::TimerInsert {
                    case_id: t.case_id,
                    kind: t.kind.clone(),
                    step: t.step.clone(),
                    visit: t.visit,
                    task_id: t.task_id,
                    due_at: t.due_at,
                });
                continue;
            }
            let version = self
                .registry
                .get(&self.store, case.scenario_version_id)
                .await?;
            let cx = Ctx {
                now,
                actor: "system",
                version: &version,
                facts,
                sandbox: &self.sandbox,
            };
            let steps = match self.transition(&mut tx, &cx, case, t).await {
                Ok(steps) => steps,
                Err(RuntimeError::Scenario(_)) => {
                    tx.rollback().await?;
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            let chained = match exec::settle(&mut tx, &cx, case).await {
                Ok(n) => n,
                Err(RuntimeError::Scenario(_)) => {
                    tx.rollback().await?;
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            report.steps += steps + chained;
            fired.push(t.due_at);
            touched.insert(case.id);
        }
        let changed: Vec<&CaseRow> = touched.iter().filter_map(|id| cases.get(id)).collect();
        case::save_cases(&mut tx, &changed, now).await?;
        tx.commit().await?;
        // A timer has fired when the transaction that fired it has committed.
        let done = self.now();
        report.lags_ms = fired
            .into_iter()
            .map(|due| (done - due).num_milliseconds().max(0))
            .collect();
        Ok(Some(report))
    }

    /// Tells a buffering transaction which of `cases` have pending timers, open tasks or
    /// unsent messages, so that cancelling what a case does not have costs nothing.
    async fn load_known(&self, tx: &mut Tx, cases: &[i64]) -> Result<(), StoreError> {
        let mut sets = Vec::new();
        for sql in [
            "SELECT DISTINCT case_id FROM timers WHERE fired_at IS NULL AND ",
            "SELECT DISTINCT case_id FROM tasks WHERE status IN ('open', 'claimed', 'snoozed') AND ",
            "SELECT DISTINCT case_id FROM outbox WHERE status = 'pending' AND ",
        ] {
            let ids: Vec<i64> = on!(&mut *tx, c, DB, PG => {
                let sql = format!("{sql}{}", crate::store::Ids::sql_in(PG, "case_id", 1));
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(crate::store::List(cases.to_vec()))
                    .fetch_all(&mut *c)
                    .await
            })?;
            sets.push(ids.into_iter().collect::<HashSet<i64>>());
        }
        if let Some(b) = tx.buffer() {
            b.known.outbox.extend(sets.pop().unwrap_or_default());
            b.known.tasks.extend(sets.pop().unwrap_or_default());
            b.known.timers.extend(sets.pop().unwrap_or_default());
            b.known.cases.extend(cases.iter().copied());
        }
        Ok(())
    }

    /// Fires one timer in its own transaction; `None` when it was not ours or no longer
    /// current, else the steps it executed.
    async fn fire(&self, t: &TimerRow) -> Result<Option<usize>, RuntimeError> {
        let now = self.now();
        let mut tx = self.store.write().await?;
        let taken = on!(&mut tx, c, DB, PG => {
            sqlx::query("UPDATE timers SET fired_at = $2 WHERE id = $1 AND fired_at IS NULL AND lease_owner = $3")
                .bind(t.id)
                .bind(now)
                .bind(&self.worker)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        }).map_err(StoreError::from)?;
        if taken == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let mut case = load_case(&mut tx, CaseId(t.case_id)).await?;
        let current =
            case.status() != CaseStatus::Closed && case.step == t.step && case.visit == t.visit;
        if !current {
            tx.commit().await?;
            return Ok(None);
        }
        let version = self
            .registry
            .get(&self.store, case.scenario_version_id)
            .await?;
        let facts = ledger_facts(&mut tx, CustomerId(case.customer_id), now.date_naive()).await?;
        let cx = Ctx {
            now,
            actor: "system",
            version: &version,
            facts: &facts,
            sandbox: &self.sandbox,
        };
        let steps = self.transition(&mut tx, &cx, &mut case, t).await?;
        save_case(&mut tx, &case, now).await?;
        tx.commit().await?;
        Ok(Some(steps))
    }

    /// What a fired timer does to its case; the steps it executed.
    async fn transition(
        &self,
        tx: &mut Tx,
        cx: &Ctx<'_>,
        case: &mut CaseRow,
        t: &TimerRow,
    ) -> Result<usize, RuntimeError> {
        match t.kind.as_str() {
            "step" if case.status() == CaseStatus::Active => {
                exec::execute(tx, cx, case).await?;
                return Ok(1);
            }
            "wait" => exec::advance(tx, cx, case, "the wait is over").await?,
            "resume" => {
                let step = case.step.clone();
                exec::enter(tx, cx, case, &step, "the promised date has passed").await?
            }
            "escalate" => self.escalate(tx, case, t, cx.now).await?,
            "reopen" => {
                if let Some(task_id) = t.task_id {
                    on!(&mut *tx, c, DB, PG => {
                        sqlx::query("UPDATE tasks SET status = 'open' WHERE id = $1 AND status = 'snoozed'")
                            .bind(task_id)
                            .execute(&mut *c)
                            .await.map(|_| ())
                    }).map_err(StoreError::from)?;
                    history(
                        tx,
                        case.case_id(),
                        cx.now,
                        "system",
                        "task_reopened",
                        Some(&case.step),
                        "a snoozed task re-opened: its next-contact date came",
                        json!({ "task": task_id }),
                    )
                    .await?;
                }
            }
            _ => {}
        }
        Ok(0)
    }

    async fn escalate(
        &self,
        tx: &mut Tx,
        case: &CaseRow,
        t: &TimerRow,
        now: DateTime<Utc>,
    ) -> Result<(), RuntimeError> {
        let Some(task_id) = t.task_id else {
            return Ok(());
        };
        let task = task::load(tx, TaskId(task_id)).await?;
        if !matches!(task.status.as_str(), "open" | "claimed" | "snoozed") {
            return Ok(());
        }
        let to = task
            .escalate_to
            .clone()
            .unwrap_or_else(|| "supervisor".into());
        on!(tx, c, DB, PG => {
            sqlx::query("UPDATE tasks SET role = $2, assignee = NULL, status = 'open', escalated_at = $3 WHERE id = $1")
                .bind(task_id)
                .bind(&to)
                .bind(now)
                .execute(&mut *c)
                .await.map(|_| ())
        }).map_err(StoreError::from)?;
        task::note(
            tx,
            task_id,
            now,
            "system",
            "escalated",
            &format!("overdue: escalated to {to}"),
        )
        .await?;
        history(
            tx,
            case.case_id(),
            now,
            "system",
            "task_escalated",
            Some(&case.step),
            &format!("task `{}` is overdue: escalated to {to}", task.title),
            json!({ "task": task_id, "to": to }),
        )
        .await?;
        Ok(())
    }

    /// A scenario that fails at run time (a condition errs) pauses its case with the reason,
    /// rather than failing again on every tick.
    async fn pause_on_error(
        &self,
        case_id: i64,
        timer: i64,
        error: &str,
    ) -> Result<(), RuntimeError> {
        let now = self.now();
        let mut tx = self.store.write().await?;
        on!(&mut tx, c, DB, PG => {
            sqlx::query("UPDATE timers SET fired_at = $2 WHERE id = $1")
                .bind(timer)
                .bind(now)
                .execute(&mut *c)
                .await.map(|_| ())
        })
        .map_err(StoreError::from)?;
        let mut case = load_case(&mut tx, CaseId(case_id)).await?;
        case.status = CaseStatus::Paused.as_str().into();
        save_case(&mut tx, &case, now).await?;
        history(
            &mut tx,
            case.case_id(),
            now,
            "system",
            "error",
            Some(&case.step),
            &format!("paused: {error}"),
            json!({ "error": error }),
        )
        .await?;
        tx.commit().await?;
        tracing::warn!(case = case_id, %error, "case paused on a scenario error");
        Ok(())
    }

    /// Stores an event for a case, or for all open cases of a customer.
    pub async fn post_event(
        &self,
        customer: Option<CustomerId>,
        case: Option<CaseId>,
        event: &Event,
        actor: &str,
    ) -> Result<i64, RuntimeError> {
        if customer.is_none() && case.is_none() {
            return Err(RuntimeError::Refused(
                "an event names a case or a customer".into(),
            ));
        }
        let mut tx = self.store.write().await?;
        let id = events::store_event(&mut tx, customer, case, event, actor, self.now()).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Applies pending events in id order, each in its own transaction.
    pub async fn apply_events(&self) -> Result<usize, RuntimeError> {
        let mut tx = self.store.read().await?;
        let pending: Vec<PendingEvent> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as("SELECT id, customer_id, case_id, payload, actor FROM case_events WHERE applied_at IS NULL ORDER BY id LIMIT $1")
                .bind(BATCH)
                .fetch_all(&mut *c)
                .await
        }).map_err(StoreError::from)?;
        tx.commit().await?;
        let mut applied = 0;
        for (id, customer, case, payload, actor) in pending {
            let now = self.now();
            let mut tx = self.store.write().await?;
            let claimed = on!(&mut tx, c, DB, PG => {
                sqlx::query("UPDATE case_events SET applied_at = $2 WHERE id = $1 AND applied_at IS NULL")
                    .bind(id)
                    .bind(now)
                    .execute(&mut *c)
                    .await
                    .map(|r| r.rows_affected())
            }).map_err(StoreError::from)?;
            if claimed == 0 {
                tx.rollback().await?;
                continue;
            }
            let event: Event = match serde_json::from_str(&payload) {
                Ok(e) => e,
                Err(e) => {
                    set_result(&mut tx, id, &format!("unreadable event: {e}")).await?;
                    tx.commit().await?;
                    continue;
                }
            };
            let ids: Vec<i64> = match (case, customer) {
                (Some(c), _) => vec![c],
                (None, Some(cust)) => on!(&mut tx, c, DB, PG => {
                    sqlx::query_scalar("SELECT id FROM cases WHERE customer_id = $1 AND status <> 'closed' ORDER BY id")
                        .bind(cust)
                        .fetch_all(&mut *c)
                        .await
                }).map_err(StoreError::from)?,
                (None, None) => Vec::new(),
            };
            let mut results = Vec::new();
            for case_id in ids {
                let mut case = load_case(&mut tx, CaseId(case_id)).await?;
                if case.status() == CaseStatus::Closed {
                    results.push(format!("case {case_id}: already closed"));
                    continue;
                }
                let version = self
                    .registry
                    .get(&self.store, case.scenario_version_id)
                    .await?;
                let facts =
                    ledger_facts(&mut tx, CustomerId(case.customer_id), now.date_naive()).await?;
                let cx = Ctx {
                    now,
                    actor: &actor,
                    version: &version,
                    facts: &facts,
                    sandbox: &self.sandbox,
                };
                match events::apply(&mut tx, &cx, &mut case, &event).await {
                    Ok(r) => results.push(format!("case {case_id}: {r}")),
                    Err(StoreError::Conflict(m)) => {
                        results.push(format!("case {case_id}: refused: {m}"))
                    }
                    Err(e) => return Err(e.into()),
                }
                save_case(&mut tx, &case, now).await?;
            }
            set_result(&mut tx, id, &results.join("; ")).await?;
            tx.commit().await?;
            applied += 1;
        }
        Ok(applied)
    }

    /// Completes a task with an outcome and form data, and moves its case on, in one
    /// transaction (the completion is stored as an event of the case).
    pub async fn complete_task(
        &self,
        task_id: TaskId,
        outcome: &str,
        data: &serde_json::Value,
        actor: &str,
    ) -> Result<(), RuntimeError> {
        let now = self.now();
        let mut tx = self.store.write().await?;
        let t = task::load(&mut tx, task_id).await?;
        task::open_or_conflict(&t)?;
        if t.kind == "request" {
            tx.rollback().await?;
            return self.decide_by_task(&t, outcome, data, actor).await;
        }
        if !t.outcomes().iter().any(|o| o == outcome) {
            return Err(RuntimeError::Refused(format!(
                "/outcome: `{outcome}` is not an outcome of task {task_id}; expected one of: {}",
                t.outcomes().join(", ")
            )));
        }
        let Some(case_id) = t.case_id else {
            task::set_status(&mut tx, t.id, "done", Some(outcome), Some(data), actor, now).await?;
            tx.commit().await?;
            return Ok(());
        };
        let mut case = load_case(&mut tx, CaseId(case_id)).await?;
        let form = task::form_vars(&t.form, data).map_err(RuntimeError::Refused)?;
        task::set_status(&mut tx, t.id, "done", Some(outcome), Some(data), actor, now).await?;
        let event_id = events::store_event(
            &mut tx,
            None,
            Some(case.case_id()),
            &Event::Custom {
                name: "task_completed".into(),
            },
            actor,
            now,
        )
        .await?;
        set_result(
            &mut tx,
            event_id,
            &format!("task {} completed: {outcome}", t.id),
        )
        .await?;
        on!(&mut tx, c, DB, PG => {
            sqlx::query("UPDATE case_events SET applied_at = $2 WHERE id = $1").bind(event_id).bind(now).execute(&mut *c).await.map(|_| ())
        }).map_err(StoreError::from)?;
        history(
            &mut tx,
            case.case_id(),
            now,
            actor,
            "task_completed",
            t.step.as_deref(),
            &format!("task `{}`: {outcome}", t.title),
            json!({ "task": t.id, "outcome": outcome, "data": data }),
        )
        .await?;
        let still_here = t.step.as_deref() == Some(case.step.as_str())
            && t.visit == Some(case.visit)
            && case.status() != CaseStatus::Closed;
        if still_here {
            let version = self
                .registry
                .get(&self.store, case.scenario_version_id)
                .await?;
            let facts =
                ledger_facts(&mut tx, CustomerId(case.customer_id), now.date_naive()).await?;
            let cx = Ctx {
                now,
                actor,
                version: &version,
                facts: &facts,
                sandbox: &self.sandbox,
            };
            let step = version.scenario.step(&case.step).cloned();
            match (t.kind.as_str(), step.map(|s| s.kind)) {
                ("task", Some(StepKind::Task(spec))) => {
                    let mut vars = case.vars();
                    vars.extend(form);
                    case.vars = serde_json::to_string(&vars).unwrap_or_else(|_| "{}".into());
                    case.last_outcome = Some(outcome.to_string());
                    if outcome == "promise_to_pay" {
                        // The call's promise is the case's promise, as if the debtor had
                        // sent a promise_to_pay event: `wait: until promise` then waits for it.
                        if let Some(p) = promise_of_form(&spec.fields, data) {
                            case.promise = serde_json::to_string(&p).ok();
                        }
                    }
                    let action = spec
                        .outcomes
                        .get(outcome)
                        .cloned()
                        .unwrap_or(Action::Ignore);
                    exec::act(
                        &mut tx,
                        &cx,
                        &mut case,
                        &action,
                        &format!("task outcome `{outcome}`"),
                    )
                    .await?;
                }
                ("approval", Some(StepKind::Send { deadline, .. })) => {
                    if outcome == "approve" {
                        // The held documents go out; their deadline runs from the approval.
                        crate::correspondence::documents::release(
                            &mut tx, case.id, None, actor, now,
                        )
                        .await?;
                        if let Some(d) = deadline.as_ref() {
                            case.deadline = Some(d.after(now, &version.calendar));
                        }
                        exec::advance(&mut tx, &cx, &mut case, &format!("approved by {actor}"))
                            .await?;
                    } else {
                        outbox::withdraw(&mut tx, case.id).await?;
                        exec::advance(
                            &mut tx,
                            &cx,
                            &mut case,
                            &format!("rejected by {actor}: not sent"),
                        )
                        .await?;
                    }
                }
                ("stage", Some(StepKind::Handover { role, stages, .. })) => {
                    let form: serde_json::Value = serde_json::from_str(&t.form).unwrap_or_default();
                    let next = form.get("stage").and_then(|s| s.as_u64()).unwrap_or(0) as usize + 1;
                    match stages.get(next) {
                        Some(stage) => {
                            task::create_stage(&mut tx, &cx, &case, &role, next, stage).await?;
                        }
                        None => {
                            exec::advance(&mut tx, &cx, &mut case, "the last stage is done").await?
                        }
                    }
                }
                ("dispute", _) => {
                    if outcome == "justified" {
                        exec::close(
                            &mut tx,
                            &cx,
                            &mut case,
                            "disputed",
                            "the dispute was justified",
                        )
                        .await?;
                    } else {
                        let step = case.step.clone();
                        exec::enter(&mut tx, &cx, &mut case, &step, "the dispute was resolved")
                            .await?;
                    }
                }
                ("verification", _) if outcome == "confirmed" => {
                    exec::close(
                        &mut tx,
                        &cx,
                        &mut case,
                        "paid",
                        "the proof of payment was confirmed",
                    )
                    .await?;
                }
                _ => {}
            }
            save_case(&mut tx, &case, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Claims a task, forwards it or snoozes it: small changes a person makes.
    pub async fn claim_task(&self, task_id: TaskId, user: &str) -> Result<(), RuntimeError> {
        let mut tx = self.store.write().await?;
        let t = task::load(&mut tx, task_id).await?;
        task::claim(&mut tx, &t, user, self.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn forward_task(
        &self,
        task_id: TaskId,
        to: &str,
        comment: &str,
        actor: &str,
    ) -> Result<(), RuntimeError> {
        let mut tx = self.store.write().await?;
        let t = task::load(&mut tx, task_id).await?;
        task::forward(&mut tx, &t, to, comment, actor, self.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn snooze_task(
        &self,
        task_id: TaskId,
        until: NaiveDate,
        actor: &str,
    ) -> Result<(), RuntimeError> {
        let mut tx = self.store.write().await?;
        let t = task::load(&mut tx, task_id).await?;
        let case_id = t
            .case_id
            .ok_or_else(|| RuntimeError::Refused(format!("task {task_id} has no case")))?;
        let case = load_case(&mut tx, CaseId(case_id)).await?;
        task::snooze(&mut tx, &case, &t, until, actor, self.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn dispatch(&self) -> Result<DispatchReport, RuntimeError> {
        if let Some(corr) = &self.correspondence {
            crate::correspondence::prepare(&self.store, corr, BATCH).await?;
        }
        Ok(outbox::dispatch(
            &self.store,
            &self.channels,
            &self.worker,
            BATCH,
            self.lease_clock.now(),
            self.lease,
            self.correspondence.is_some(),
        )
        .await?)
    }

    /// Approves prepared documents (four eyes: nobody approves what they prepared). All or
    /// nothing: a list with any document that cannot be approved approves none, and the
    /// error names each (`/ids/N`). A document of a step waiting for approval completes the
    /// approval task (every document of the step is released, the case moves on); a
    /// document prepared by hand is released alone.
    pub async fn approve_documents(&self, ids: &[i64], actor: &str) -> Result<usize, RuntimeError> {
        use crate::correspondence::documents::document_in;
        let mut tx = self.store.read().await?;
        let mut problems = Vec::new();
        let mut docs = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            match document_in(&mut tx, *id).await {
                Ok(d) if d.status != "prepared" => problems.push(crate::store::Rejection::new(
                    i,
                    "ids",
                    format!("document {id} is {}, not prepared", d.status),
                )),
                Ok(d) if d.prepared_by == actor => problems.push(crate::store::Rejection::new(
                    i,
                    "ids",
                    format!("document {id} was prepared by {actor}; someone else must approve it (four eyes)"),
                )),
                Ok(d) => docs.push(d),
                Err(StoreError::NotFound(_)) => problems.push(crate::store::Rejection::new(
                    i,
                    "ids",
                    format!("document {id} does not exist"),
                )),
                Err(e) => return Err(e.into()),
            }
        }
        // The open approval task of each document's case, if the case waits at a send step.
        let mut tasks: Vec<(i64, Option<i64>)> = Vec::new();
        for d in &docs {
            let Some(case) = d.case_id else { continue };
            if tasks.iter().any(|t| t.0 == case) {
                continue;
            }
            let task: Option<(i64,)> = on!(&mut tx, c, DB, PG => {
                sqlx::query_as(
                    "SELECT t.id FROM tasks t JOIN cases k ON k.id = t.case_id WHERE t.case_id = $1 AND t.kind = 'approval' \
                     AND t.status IN ('open', 'claimed', 'snoozed') AND t.step = k.step AND t.visit = k.visit ORDER BY t.id DESC LIMIT 1",
                )
                .bind(case)
                .fetch_optional(&mut *c)
                .await
            })
            .map_err(StoreError::from)?;
            tasks.push((case, task.map(|t| t.0)));
        }
        tx.commit().await?;
        if !problems.is_empty() {
            return Err(StoreError::Rejected(problems).into());
        }
        for (case, task) in &tasks {
            match task {
                Some(task) => {
                    self.complete_task(TaskId(*task), "approve", &json!({}), actor)
                        .await?
                }
                None => {
                    let outbox: Vec<i64> = docs
                        .iter()
                        .filter(|d| d.case_id == Some(*case))
                        .filter_map(|d| d.outbox_id)
                        .collect();
                    let now = self.now();
                    let mut tx = self.store.write().await?;
                    crate::correspondence::documents::release(
                        &mut tx,
                        *case,
                        Some(&outbox),
                        actor,
                        now,
                    )
                    .await?;
                    history(
                        &mut tx,
                        CaseId(*case),
                        now,
                        actor,
                        "approved",
                        None,
                        &format!("documents approved by {actor}"),
                        json!({ "outbox": outbox }),
                    )
                    .await?;
                    tx.commit().await?;
                }
            }
        }
        Ok(docs.len())
    }

    /// Prints a receivable with the customer's balance and open items (and, with
    /// `with_request`, a payment request after it), filed as letters sent by `actor`.
    pub async fn print_receivable(
        &self,
        id: crate::ids::DocumentId,
        with_request: bool,
        actor: &str,
    ) -> Result<crate::correspondence::Printed, RuntimeError> {
        let Some(corr) = &self.correspondence else {
            return Err(RuntimeError::Refused(
                "nothing can be printed: this process has no templates (correspondence is off)"
                    .into(),
            ));
        };
        Ok(self
            .store
            .print_receivable(corr, id, with_request, actor)
            .await?)
    }

    /// A document written by hand for a case (outside its scenario's steps): rendered at
    /// once and held until someone other than `actor` approves it. Returns its id.
    pub async fn prepare_document(
        &self,
        case_id: i64,
        template: &str,
        channel: crate::scenario::Channel,
        actor: &str,
    ) -> Result<i64, RuntimeError> {
        use crate::ledger::customer::ContactKind;
        let Some(corr) = &self.correspondence else {
            return Err(RuntimeError::Refused(
                "documents cannot be prepared: this process has no templates (correspondence is off)".into(),
            ));
        };
        let now = self.now();
        let mut tx = self.store.write().await?;
        let case = load_case(&mut tx, CaseId(case_id)).await?;
        let customer =
            crate::store::customers::customer_in(&mut tx, CustomerId(case.customer_id)).await?;
        let kind = match channel {
            crate::scenario::Channel::Email => ContactKind::Email,
            crate::scenario::Channel::Sms => ContactKind::Phone,
            crate::scenario::Channel::Fax => ContactKind::Fax,
            _ => ContactKind::Postal,
        };
        let Some(recipient) = customer.contact(kind) else {
            return Err(RuntimeError::Refused(format!(
                "/channel: {} has no {} contact",
                customer.name,
                kind.as_str()
            )));
        };
        if corr
            .renderer
            .language_for(template, channel, &[customer.language.as_str()])
            .is_none()
        {
            return Err(RuntimeError::Refused(format!(
                "/template: there is no template `{template}` for {}",
                channel.as_str()
            )));
        }
        let key = format!(
            "manual/{case_id}/{template}/{}/{}",
            channel.as_str(),
            now.timestamp_micros()
        );
        outbox::enqueue(
            &mut tx,
            &case,
            &key,
            channel.as_str(),
            Some(template),
            Some(&customer.language),
            Some(recipient),
            json!({ "customer": customer.external_id, "prepared_by": actor }),
            now,
            true,
        )
        .await?;
        history(
            &mut tx,
            CaseId(case_id),
            now,
            actor,
            "prepared",
            None,
            &format!(
                "{template} by {} prepared, waiting for approval",
                channel.as_str()
            ),
            json!({ "idempotency_key": key }),
        )
        .await?;
        tx.commit().await?;
        crate::correspondence::prepare(&self.store, corr, BATCH).await?;
        let mut tx = self.store.read().await?;
        let id: Option<(i64,)> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as("SELECT d.id FROM correspondence d JOIN outbox o ON o.id = d.outbox_id WHERE o.idempotency_key = $1")
                .bind(&key)
                .fetch_optional(&mut *c)
                .await
        })
        .map_err(StoreError::from)?;
        tx.commit().await?;
        id.map(|i| i.0).ok_or_else(|| {
            RuntimeError::Refused(format!(
                "/template: `{template}` could not be rendered for case {case_id} (see the case history)"
            ))
        })
    }

    /// Works until nothing is left to do now: events, case starts, due timers, the outbox.
    pub async fn run_until_idle(&self, start_cases: bool) -> Result<WorkReport, RuntimeError> {
        let mut total = WorkReport::default();
        let mut scanned = !start_cases;
        loop {
            let t = std::time::Instant::now();
            let mut round = WorkReport {
                events: self.apply_events().await?,
                ..Default::default()
            };
            let events = t.elapsed();
            if !scanned {
                round.add(self.start_cases().await?);
                scanned = true;
            }
            let starts = t.elapsed();
            round.add(self.fire_due().await?);
            let fired = t.elapsed();
            let d = self.dispatch().await?;
            round.sent += d.sent;
            round.failed += d.dead;
            tracing::debug!(
                events = round.events,
                started = round.started,
                steps = round.steps,
                sent = d.sent,
                events_ms = events.as_millis() as u64,
                starts_ms = (starts - events).as_millis() as u64,
                timers_ms = (fired - starts).as_millis() as u64,
                dispatch_ms = (t.elapsed() - fired).as_millis() as u64,
                "engine round"
            );
            let idle = round.is_idle();
            total.add(round);
            if idle {
                return Ok(total);
            }
        }
    }

    /// Advances the engine day by day on a virtual clock from `from` for `days` days. The
    /// clock's position is stored after every day, so the same call after a crash resumes
    /// at the day the killed run was in.
    pub async fn run_virtual(
        &self,
        clock: &ManualClock,
        from: NaiveDate,
        days: u32,
        mut progress: impl FnMut(NaiveDate, &WorkReport),
    ) -> Result<WorkReport, RuntimeError> {
        let until = exec::start_of(from + Duration::days(i64::from(days)));
        let mut tx = self.store.write().await?;
        // A new run (another end date) starts at `from`; the same run, started again after a
        // crash or by another process, joins the stored day.
        on!(&mut tx, c, DB, PG => {
            sqlx::query("INSERT INTO engine_clock (id, now, run_until) VALUES (1, $1, $2) \
                         ON CONFLICT (id) DO UPDATE SET now = excluded.now, run_until = excluded.run_until, \
                         scanned_on = NULL, scan_done = 0, scan_lease_until = NULL \
                         WHERE engine_clock.run_until <> excluded.run_until OR engine_clock.now < $1")
                .bind(exec::start_of(from))
                .bind(until)
                .execute(&mut *c)
                .await.map(|_| ())
        }).map_err(StoreError::from)?;
        tx.commit().await?;
        let mut total = WorkReport::default();
        let mut report = WorkReport::default();
        loop {
            let mut tx = self.store.write().await?;
            let (day_start, scanned_on, scan_done): (DateTime<Utc>, Option<DateTime<Utc>>, i64) = on!(&mut tx, c, DB, PG => {
                sqlx::query_as("SELECT now, scanned_on, scan_done FROM engine_clock WHERE id = 1").fetch_one(&mut *c).await
            }).map_err(StoreError::from)?;
            tx.commit().await?;
            if day_start >= until {
                break;
            }
            let day = day_start.date_naive();
            // The working day starts at 06:00 UTC: letters of the day go out then.
            clock.set(day_start + Duration::hours(6));
            // One worker starts the day's new cases; should it die, its lease runs out and
            // another starts them (starting is idempotent).
            if scanned_on != Some(day_start) || scan_done == 0 {
                let wall = self.lease_clock.now();
                let mut tx = self.store.write().await?;
                let claimed = on!(&mut tx, c, DB, PG => {
                    sqlx::query("UPDATE engine_clock SET scanned_on = $1, scan_done = 0, scan_lease_until = $2 \
                                 WHERE id = 1 AND now = $1 AND (scanned_on IS NULL OR scanned_on < $1 \
                                 OR (scan_done = 0 AND scan_lease_until < $3))")
                        .bind(day_start)
                        .bind(wall + self.lease)
                        .bind(wall)
                        .execute(&mut *c)
                        .await
                        .map(|r| r.rows_affected())
                }).map_err(StoreError::from)?;
                tx.commit().await?;
                if claimed == 1 {
                    report.add(self.start_cases().await?);
                    let mut tx = self.store.write().await?;
                    on!(&mut tx, c, DB, PG => {
                        sqlx::query("UPDATE engine_clock SET scan_done = 1 WHERE id = 1 AND scanned_on = $1")
                            .bind(day_start)
                            .execute(&mut *c)
                            .await
                            .map(|_| ())
                    }).map_err(StoreError::from)?;
                    tx.commit().await?;
                }
            }
            report.add(self.run_until_idle(false).await?);
            // The day ends when its cases are started and nothing due is left, including work
            // another worker claimed (if it died, its lease runs out and this one takes over).
            let scanned: i64 = {
                let mut tx = self.store.read().await?;
                let v = on!(&mut tx, c, DB, PG => {
                    sqlx::query_scalar("SELECT scan_done FROM engine_clock WHERE id = 1 AND scanned_on = $1")
                        .bind(day_start)
                        .fetch_optional(&mut *c)
                        .await
                }).map_err(StoreError::from)?;
                tx.commit().await?;
                v.unwrap_or(0)
            };
            if scanned == 1 && self.due_left().await? == 0 {
                let mut tx = self.store.write().await?;
                let advanced = on!(&mut tx, c, DB, PG => {
                    sqlx::query("UPDATE engine_clock SET now = $2 WHERE id = 1 AND now = $1")
                        .bind(day_start)
                        .bind(exec::start_of(day + Duration::days(1)))
                        .execute(&mut *c)
                        .await
                        .map(|r| r.rows_affected())
                })
                .map_err(StoreError::from)?;
                tx.commit().await?;
                let done = std::mem::take(&mut report);
                if advanced == 1 {
                    progress(day, &done);
                }
                total.add(done);
            } else {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        total.add(report);
        Ok(total)
    }
}

/// id, customer, case, payload, actor
type PendingEvent = (i64, Option<i64>, Option<i64>, String, String);

impl Runtime {
    /// When the next pending timer or message falls due (already due ones included).
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, RuntimeError> {
        let mut tx = self.store.read().await?;
        let next: (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(
                "SELECT (SELECT MIN(due_at) FROM timers WHERE fired_at IS NULL), \
                        (SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending')",
            )
            .fetch_one(&mut *c)
            .await
        })
        .map_err(StoreError::from)?;
        tx.commit().await?;
        Ok(match next {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// Timers and messages due now and not done, whoever holds them.
    async fn due_left(&self) -> Result<i64, RuntimeError> {
        let now = self.now();
        let mut tx = self.store.read().await?;
        let n: i64 = on!(&mut tx, c, DB, PG => {
            sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM timers WHERE fired_at IS NULL AND due_at <= $1) \
                      + (SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1)",
            )
            .bind(now)
            .fetch_one(&mut *c)
            .await
        }).map_err(StoreError::from)?;
        tx.commit().await?;
        Ok(n)
    }
}

async fn set_result(tx: &mut Tx, event: i64, result: &str) -> Result<(), StoreError> {
    on!(tx, c, DB, PG => {
        sqlx::query("UPDATE case_events SET result = $2 WHERE id = $1").bind(event).bind(result).execute(&mut *c).await.map(|_| ())
    })?;
    Ok(())
}

/// A case decided but not yet inserted.
struct NewCase {
    case: CaseRow,
    token: String,
    why: String,
}

/// Inserts cases in one statement; the ids of those inserted by (scenario, subject). A
/// subject that already has an open case in the scenario is left out.
async fn insert_cases(
    tx: &mut Tx,
    rows: &[&NewCase],
    actor: &str,
) -> Result<std::collections::HashMap<(String, String), i64>, StoreError> {
    let mut ids = std::collections::HashMap::new();
    for chunk in rows.chunks(1000) {
        let inserted: Vec<(i64, String, String)> = on!(&mut *tx, c, DB, PG => {
            let mut q = sqlx::QueryBuilder::<DB>::new(
                "INSERT INTO cases (scenario_version_id, scenario_id, customer_id, invoice_id, subject, status, step, \
                 step_entered_at, visit, vars, debtor_token, started_by, opened_at, updated_at) ",
            );
            q.push_values(chunk, |mut b, n| {
                let k = &n.case;
                b.push_bind(k.scenario_version_id)
                    .push_bind(k.scenario_id.clone())
                    .push_bind(k.customer_id)
                    .push_bind(k.invoice_id)
                    .push_bind(k.subject.clone())
                    .push_bind(k.status.clone())
                    .push_bind(k.step.clone())
                    .push_bind(k.step_entered_at)
                    .push_bind(k.visit)
                    .push_bind(k.vars.clone())
                    .push_bind(n.token.clone())
                    .push_bind(actor.to_string())
                    .push_bind(k.opened_at)
                    .push_bind(k.opened_at);
            });
            q.push(
                " ON CONFLICT (scenario_id, subject) WHERE status <> 'closed' DO NOTHING \
                 RETURNING id, scenario_id, subject",
            );
            q.build_query_as().fetch_all(&mut *c).await
        })?;
        ids.extend(inserted.into_iter().map(|(id, sc, sub)| ((sc, sub), id)));
    }
    Ok(ids)
}

/// The promise a task's form records: its first date field and its first amount field,
/// when both are filled in.
fn promise_of_form(
    fields: &[crate::scenario::Field],
    data: &serde_json::Value,
) -> Option<case::Promise> {
    use crate::scenario::FieldKind;
    let value = |kind: FieldKind| {
        fields
            .iter()
            .find(|f| f.kind == kind)
            .and_then(|f| data.get(&f.name))
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
    };
    let date = NaiveDate::parse_from_str(&value(FieldKind::Date)?, "%Y-%m-%d").ok()?;
    let amount = value(FieldKind::Amount)?.parse().ok()?;
    Some(case::Promise { date, amount })
}

/// An unguessable token for the debtor's page of a case.
fn debtor_token() -> String {
    use sha2::Digest;
    let seed: [u8; 32] = rand::random();
    registry::hex(&sha2::Sha256::digest(seed))[..32].to_string()
}

//! Pull connectors in the store: where each connector's pass over its source stands, the
//! log of its runs, and the booking of one page. A page's documents (or customers) are
//! booked through the path inbound webhooks use (the same content again is unchanged; an
//! issued document with other content is refused), and the connector's new position and the
//! run's counters are written in the same transaction: a run that fails after page 1 leaves
//! page 1 booked and the position at page 2, and the next run books the rest exactly once.
//! Fetching, mapping and schedules belong to the connectors crate.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::customers::{parse_customers, save_in};
use super::ledger::{book_in, prepare_all};
use super::{Rejection, Store, StoreError, Tx, on};
use crate::ledger::{Actor, CustomerInput, DocumentInput};

/// Where a connector's pass stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullState {
    /// The incremental value the pass in progress asks from.
    pub pass_since: Option<String>,
    /// The request that continues the pass in progress (JSON the connector understands);
    /// `None` when no pass is in progress.
    pub resume: Option<String>,
    /// The largest incremental value booked in the pass in progress.
    pub high_water: Option<String>,
    /// Where the next pass starts.
    pub next_since: Option<String>,
}

/// An item the connector could not book, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ItemRefusal {
    /// The item's place in its page (0-based).
    pub item: usize,
    pub external_id: Option<String>,
    /// Where in the source's response (a JSON pointer) or the item the problem is.
    pub pointer: String,
    pub message: String,
}

/// The items of one page, each with its place in the page.
#[derive(Debug, Clone)]
pub enum PageItems {
    Documents(Vec<(usize, DocumentInput)>),
    Customers(Vec<(usize, CustomerInput)>),
}

/// What one page came to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PageOutcome {
    pub booked: usize,
    pub unchanged: usize,
    pub refused: Vec<ItemRefusal>,
}

/// One run of a connector.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct PullRun {
    pub id: i64,
    pub connector: String,
    pub started_by: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// running, succeeded or failed.
    pub status: String,
    /// Whether it went on with a pass an earlier run left unfinished.
    pub resumed: bool,
    pub pages: i64,
    pub booked: i64,
    pub unchanged: i64,
    pub refused: i64,
    pub error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct StateRow {
    pass_since: Option<String>,
    resume: Option<String>,
    high_water: Option<String>,
    next_since: Option<String>,
}

/// How many times a page is booked again without the items the ledger refused.
const REBOOKS: usize = 8;

impl Store {
    /// The connector's position (the default when it never ran).
    pub async fn pull_state(&self, connector: &str) -> Result<PullState, StoreError> {
        let mut tx = self.read().await?;
        let row: Option<StateRow> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as("SELECT pass_since, resume, high_water, next_since FROM connector_state WHERE name = $1")
                .bind(connector)
                .fetch_optional(&mut *c)
                .await
        })?;
        tx.commit().await?;
        Ok(row
            .map(|r| PullState {
                pass_since: r.pass_since,
                resume: r.resume,
                high_water: r.high_water,
                next_since: r.next_since,
            })
            .unwrap_or_default())
    }

    /// Starts a run: takes the connector's lease (`None` when another run holds it) and
    /// logs the run. `lease` is wall time, so a killed process's lease expires.
    pub async fn start_pull_run(
        &self,
        connector: &str,
        started_by: &str,
        worker: &str,
        wall_now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Option<(i64, PullState)>, StoreError> {
        let now = self.clock.now();
        let mut tx = self.write().await?;
        let taken: u64 = on!(&mut tx, c, DB, PG => {
            sqlx::query(
                "INSERT INTO connector_state (name, updated_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            )
            .bind(connector)
            .bind(now)
            .execute(&mut *c)
            .await?;
            sqlx::query(
                "UPDATE connector_state SET lease_owner = $2, lease_until = $3 \
                 WHERE name = $1 AND (lease_until IS NULL OR lease_until < $4 OR lease_owner = $2)",
            )
            .bind(connector)
            .bind(worker)
            .bind(wall_now + lease)
            .bind(wall_now)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
        })?;
        if taken == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let row: StateRow = on!(&mut tx, c, DB, PG => {
            sqlx::query_as("SELECT pass_since, resume, high_water, next_since FROM connector_state WHERE name = $1")
                .bind(connector)
                .fetch_one(&mut *c)
                .await
        })?;
        let state = PullState {
            pass_since: row.pass_since,
            resume: row.resume,
            high_water: row.high_water,
            next_since: row.next_since,
        };
        let id: i64 = on!(&mut tx, c, DB, PG => {
            sqlx::query_scalar(
                "INSERT INTO connector_runs (connector, started_by, started_at, status, resumed) \
                 VALUES ($1, $2, $3, 'running', $4) RETURNING id",
            )
            .bind(connector)
            .bind(started_by)
            .bind(now)
            .bind(state.resume.is_some())
            .fetch_one(&mut *c)
            .await
        })?;
        tx.commit().await?;
        Ok(Some((id, state)))
    }

    /// Books one page and moves the connector to `state`, in one transaction. Items the
    /// ledger refuses (an issued document that changed, an unknown customer) are left out
    /// and reported with the `refused` the mapping found; the rest is booked.
    #[allow(clippy::too_many_arguments)]
    pub async fn commit_pull_page(
        &self,
        run: i64,
        connector: &str,
        page: i64,
        items: PageItems,
        mut refused: Vec<ItemRefusal>,
        state: &PullState,
        actor: &Actor,
    ) -> Result<PageOutcome, StoreError> {
        let mut items = items;
        for _ in 0..REBOOKS {
            let now = self.clock.now();
            let empty = match &items {
                PageItems::Documents(d) => d.is_empty(),
                PageItems::Customers(c) => c.is_empty(),
            };
            let attempt = match &items {
                _ if empty => Ok((self.write().await?, 0, 0)),
                PageItems::Documents(docs) => {
                    let inputs: Vec<DocumentInput> = docs.iter().map(|(_, d)| d.clone()).collect();
                    match prepare_all(&inputs) {
                        Err(StoreError::Rejected(r)) => Err(r),
                        Err(e) => return Err(e),
                        Ok(prepared) => {
                            let mut tx = self.write().await?;
                            match book_in(&mut tx, &prepared, actor, now).await {
                                Ok(o) => Ok((tx, o.booked.len(), o.unchanged.len())),
                                Err(StoreError::Rejected(r)) => {
                                    tx.rollback().await?;
                                    Err(r)
                                }
                                Err(e) => return Err(e),
                            }
                        }
                    }
                }
                PageItems::Customers(cs) => {
                    let inputs: Vec<CustomerInput> = cs.iter().map(|(_, c)| c.clone()).collect();
                    match parse_customers(&inputs) {
                        Err(StoreError::Rejected(r)) => Err(r),
                        Err(e) => return Err(e),
                        Ok(parsed) => {
                            let mut tx = self.write().await?;
                            match save_in(&mut tx, &parsed, now).await {
                                Ok(o) => {
                                    Ok((tx, o.created.len() + o.updated.len(), o.unchanged.len()))
                                }
                                Err(StoreError::Rejected(r)) => {
                                    tx.rollback().await?;
                                    Err(r)
                                }
                                Err(e) => return Err(e),
                            }
                        }
                    }
                }
            };
            match attempt {
                Ok((mut tx, booked, unchanged)) => {
                    refused.sort_by_key(|r| r.item);
                    let outcome = PageOutcome {
                        booked,
                        unchanged,
                        refused,
                    };
                    record_page(&mut tx, run, connector, page, &outcome, Some(state), now).await?;
                    tx.commit().await?;
                    return Ok(outcome);
                }
                Err(rejections) => {
                    if rejections.is_empty() {
                        return Err(StoreError::Rejected(rejections));
                    }
                    items = without(items, &rejections, &mut refused);
                }
            }
        }
        Err(StoreError::Conflict(format!(
            "page {page} of connector {connector}: the ledger kept refusing items after {REBOOKS} tries"
        )))
    }

    /// Counts a page (or a dropped file) booked by other means in the run's log.
    pub async fn count_pull_page(
        &self,
        run: i64,
        connector: &str,
        page: i64,
        booked: usize,
        unchanged: usize,
        refused: &[ItemRefusal],
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut tx = self.write().await?;
        let outcome = PageOutcome {
            booked,
            unchanged,
            refused: refused.to_vec(),
        };
        record_page(&mut tx, run, connector, page, &outcome, None, now).await?;
        tx.commit().await
    }

    /// Ends a run: its status, its error, and the lease given back.
    pub async fn finish_pull_run(
        &self,
        run: i64,
        connector: &str,
        error: Option<&str>,
    ) -> Result<PullRun, StoreError> {
        let now = self.clock.now();
        let mut tx = self.write().await?;
        on!(&mut tx, c, DB, PG => {
            sqlx::query("UPDATE connector_runs SET status = $2, error = $3, finished_at = $4 WHERE id = $1")
                .bind(run)
                .bind(if error.is_some() { "failed" } else { "succeeded" })
                .bind(error)
                .bind(now)
                .execute(&mut *c)
                .await?;
            sqlx::query("UPDATE connector_state SET lease_owner = NULL, lease_until = NULL WHERE name = $1")
                .bind(connector)
                .execute(&mut *c)
                .await
                .map(|_| ())
        })?;
        let r = run_row(&mut tx, run).await?;
        tx.commit().await?;
        Ok(r)
    }

    /// A connector's runs, newest first (all connectors' without a name).
    pub async fn pull_runs(
        &self,
        connector: Option<&str>,
        limit: u32,
    ) -> Result<Vec<PullRun>, StoreError> {
        let mut tx = self.read().await?;
        let rows = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(
                "SELECT id, connector, started_by, started_at, finished_at, status, resumed, pages, booked, unchanged, refused, error \
                 FROM connector_runs WHERE ($1 IS NULL OR connector = $1) ORDER BY id DESC LIMIT $2",
            )
            .bind(connector)
            .bind(i64::from(limit))
            .fetch_all(&mut *c)
            .await
        })?;
        tx.commit().await?;
        Ok(rows)
    }

    /// The items a run refused, by page and place.
    pub async fn pull_refusals(&self, run: i64) -> Result<Vec<(i64, ItemRefusal)>, StoreError> {
        let mut tx = self.read().await?;
        let rows: Vec<(i64, i64, Option<String>, String, String)> = on!(&mut tx, c, DB, PG => {
            sqlx::query_as(
                "SELECT page, item, external_id, pointer, message FROM connector_refusals WHERE run_id = $1 ORDER BY id",
            )
            .bind(run)
            .fetch_all(&mut *c)
            .await
        })?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|(page, item, external_id, pointer, message)| {
                (
                    page,
                    ItemRefusal {
                        item: usize::try_from(item).unwrap_or(0),
                        external_id,
                        pointer,
                        message,
                    },
                )
            })
            .collect())
    }
}

/// The page without the items `rejections` name (indices into the page's remaining items),
/// each added to `refused`.
fn without(
    items: PageItems,
    rejections: &[Rejection],
    refused: &mut Vec<ItemRefusal>,
) -> PageItems {
    fn split<T>(
        list: Vec<(usize, T)>,
        rejections: &[Rejection],
        refused: &mut Vec<ItemRefusal>,
        external_id: impl Fn(&T) -> Option<String>,
    ) -> Vec<(usize, T)> {
        let mut keep = Vec::with_capacity(list.len());
        for (i, (item, t)) in list.into_iter().enumerate() {
            let mine: Vec<&Rejection> = rejections.iter().filter(|r| r.item == i).collect();
            if mine.is_empty() {
                keep.push((item, t));
                continue;
            }
            for r in mine {
                refused.push(ItemRefusal {
                    item,
                    external_id: external_id(&t),
                    pointer: r.error.pointer(),
                    message: r.error.message.clone(),
                });
            }
        }
        keep
    }
    match items {
        PageItems::Documents(d) => PageItems::Documents(split(d, rejections, refused, |d| {
            d.external_id.clone().or_else(|| Some(d.number.clone()))
        })),
        PageItems::Customers(c) => PageItems::Customers(split(c, rejections, refused, |c| {
            Some(c.external_id.clone())
        })),
    }
}

async fn record_page(
    tx: &mut Tx,
    run: i64,
    connector: &str,
    page: i64,
    outcome: &PageOutcome,
    state: Option<&PullState>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let n = |x: usize| i64::try_from(x).unwrap_or(i64::MAX);
    if let Some(state) = state {
        on!(&mut *tx, c, DB, PG => {
            sqlx::query(
            "UPDATE connector_state SET pass_since = $2, resume = $3, high_water = $4, next_since = $5, updated_at = $6 \
             WHERE name = $1",
        )
        .bind(connector)
        .bind(&state.pass_since)
        .bind(&state.resume)
        .bind(&state.high_water)
        .bind(&state.next_since)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|_| ())
        })?;
    }
    on!(&mut *tx, c, DB, PG => {
        sqlx::query(
            "UPDATE connector_runs SET pages = pages + 1, booked = booked + $2, unchanged = unchanged + $3, \
             refused = refused + $4 WHERE id = $1",
        )
        .bind(run)
        .bind(n(outcome.booked))
        .bind(n(outcome.unchanged))
        .bind(n(outcome.refused.len()))
        .execute(&mut *c)
        .await?;
        for r in &outcome.refused {
            sqlx::query(
                "INSERT INTO connector_refusals (run_id, page, item, external_id, pointer, message) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(run)
            .bind(page)
            .bind(n(r.item))
            .bind(&r.external_id)
            .bind(&r.pointer)
            .bind(&r.message)
            .execute(&mut *c)
            .await?;
        }
        Ok::<(), sqlx::Error>(())
    })?;
    Ok(())
}

async fn run_row(tx: &mut Tx, run: i64) -> Result<PullRun, StoreError> {
    let row: Option<PullRun> = on!(&mut *tx, c, DB, PG => {
        sqlx::query_as(
            "SELECT id, connector, started_by, started_at, finished_at, status, resumed, pages, booked, unchanged, refused, error \
             FROM connector_runs WHERE id = $1",
        )
        .bind(run)
        .fetch_optional(&mut *c)
        .await
    })?;
    row.ok_or_else(|| StoreError::NotFound(format!("connector run {run}")))
}

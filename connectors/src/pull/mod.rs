//! Pull connectors: arrears fetches customers, invoices, credit notes or payments from a
//! source on a schedule (or when `arrears connector run NAME` says so), from a generic
//! REST/JSON API described by a mapping in the connectors file, or from CSV files dropped in
//! a folder.
//!
//! A REST run goes page by page. Each page is booked through the path inbound webhooks use
//! (the same content again is unchanged; an issued document with other content is refused
//! and reported, the rest of the page booked) together with the connector's new position, in
//! one transaction (engine::store::pull). A run that fails in the middle leaves what it
//! booked and where it stopped; the next run goes on from there. When a pass reaches its last
//! page, the largest incremental value it booked is where the next pass asks from.
//!
//! A CSV drop imports every `*.csv` in its folder with `arrears import`'s all-or-nothing path,
//! then moves it to `done/`, or to `failed/` beside a `.errors.txt` saying why.

pub mod config;
pub mod rest;
pub mod schedule;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use serde::Serialize;

use arrears_engine::ledger::{Actor, CustomerInput, DocumentInput};
use arrears_engine::store::pull::{ItemRefusal, PageItems, PageOutcome, PullRun, PullState};
use arrears_engine::store::{Store, StoreError};

use crate::items::{Entity, parse_items, prepare_document};
use crate::ledger_csv::{self, FileKind};
pub use config::{Connector, ConnectorsFile, Source};
use rest::{PageRequest, later};

/// Why a run did not happen or stopped.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("connector {0} is running elsewhere (its lease has not expired)")]
    Busy(String),
    #[error("connector {connector}: {message}")]
    Failed { connector: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one page (or one dropped file) came to, for progress output.
#[derive(Debug, Clone, Serialize)]
pub struct PageReport {
    pub page: i64,
    pub source: String,
    pub items: usize,
    pub booked: usize,
    pub unchanged: usize,
    pub refused: Vec<ItemRefusal>,
}

/// What a connector run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run: PullRun,
    pub pages: Vec<PageReport>,
}

/// How a run is started and told about.
pub struct RunOptions<'a> {
    /// Who started it: `cli`, `schedule`, ...
    pub started_by: &'a str,
    /// This process's name for the lease.
    pub worker: &'a str,
    /// How long a killed run blocks the next (wall time).
    pub lease: chrono::Duration,
    pub progress: &'a (dyn Fn(&PageReport) + Send + Sync),
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("arrears/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// Runs one connector now. A run that fails is logged with its error (and returned as
/// `PullError::Failed`); what it booked before the failure stays booked.
pub async fn run(
    store: &Store,
    connector: &Connector,
    opts: &RunOptions<'_>,
) -> Result<RunSummary, PullError> {
    let Some((run_id, state)) = store
        .start_pull_run(
            &connector.name,
            opts.started_by,
            opts.worker,
            Utc::now(),
            opts.lease,
        )
        .await?
    else {
        return Err(PullError::Busy(connector.name.clone()));
    };
    let mut pages = Vec::new();
    let result = match &connector.source {
        Source::Rest(src) => run_rest(store, connector, src, run_id, state, opts, &mut pages).await,
        Source::CsvDrop { folder } => {
            run_csv(store, connector, folder, run_id, opts, &mut pages).await
        }
    };
    let error = result.as_ref().err().map(|e| e.to_string());
    if let Some(e) = &error {
        tracing::warn!(connector = %connector.name, run = run_id, error = %e, "connector run failed");
    }
    let run = store
        .finish_pull_run(run_id, &connector.name, error.as_deref())
        .await?;
    match error {
        Some(message) => Err(PullError::Failed {
            connector: connector.name.clone(),
            message,
        }),
        None => Ok(RunSummary { run, pages }),
    }
}

async fn run_rest(
    store: &Store,
    connector: &Connector,
    src: &config::RestSource,
    run_id: i64,
    state: PullState,
    opts: &RunOptions<'_>,
    pages: &mut Vec<PageReport>,
) -> Result<(), String> {
    let http = http_client();
    let actor = Actor(format!("connector:{}", connector.name));
    let resumed = state.resume.is_some();
    let (mut request, pass_since, mut high_water) = match &state.resume {
        Some(json) => (
            serde_json::from_str::<PageRequest>(json)
                .map_err(|e| format!("the stored position {json:?} is unreadable: {e}"))?,
            state.pass_since.clone(),
            state.high_water.clone(),
        ),
        None => (PageRequest::First, state.next_since.clone(), None),
    };
    if resumed {
        tracing::info!(connector = %connector.name, position = ?request, "resuming an unfinished pass");
    }
    let since = src
        .incremental
        .as_ref()
        .zip(pass_since.as_deref())
        .map(|(i, v)| (i.param.as_str(), v));
    let mut page_no: i64 = 0;
    loop {
        page_no += 1;
        // A link from the source carries the incremental parameter of its first request.
        let since_here = if matches!(request, PageRequest::Url(_)) {
            None
        } else {
            since
        };
        let page = rest::fetch(&http, src, &request, since_here)
            .await
            .map_err(|e| e.to_string())?;
        let items_pointer = src.items.clone();
        let mut refused = Vec::new();
        let mut mapped = Vec::with_capacity(page.items.len());
        let mut places = Vec::with_capacity(page.items.len());
        for (i, item) in page.items.iter().enumerate() {
            if let Some(inc) = &src.incremental {
                high_water = later(high_water, rest::incremental_value(item, &inc.field));
            }
            match rest::map_item(src, item) {
                Ok(v) => {
                    mapped.push(v);
                    places.push(i);
                }
                Err((pointer, message)) => refused.push(ItemRefusal {
                    item: i,
                    external_id: None,
                    pointer: format!("{items_pointer}/{i}{pointer}"),
                    message,
                }),
            }
        }
        let external_ids: Vec<Option<String>> = mapped
            .iter()
            .map(|v| {
                v.get("external_id")
                    .and_then(|x| x.as_str())
                    .map(String::from)
            })
            .collect();
        let items = match connector.entity {
            Entity::Customers => {
                let (ok, problems) = parse_items::<CustomerInput>(mapped, |_| Ok(()));
                note_problems(
                    src,
                    &items_pointer,
                    &places,
                    &external_ids,
                    problems,
                    &mut refused,
                );
                PageItems::Customers(ok.into_iter().map(|(i, c)| (places[i], c)).collect())
            }
            entity => {
                let (ok, problems) =
                    parse_items::<DocumentInput>(mapped, |v| prepare_document(entity, v));
                note_problems(
                    src,
                    &items_pointer,
                    &places,
                    &external_ids,
                    problems,
                    &mut refused,
                );
                PageItems::Documents(ok.into_iter().map(|(i, d)| (places[i], d)).collect())
            }
        };
        let next = page.next.clone();
        let new_state = match &next {
            Some(n) => PullState {
                pass_since: pass_since.clone(),
                resume: Some(serde_json::to_string(n).map_err(|e| e.to_string())?),
                high_water: high_water.clone(),
                next_since: state.next_since.clone(),
            },
            // The pass is complete: the next one asks from its high water.
            None => PullState {
                pass_since: None,
                resume: None,
                high_water: None,
                next_since: later(state.next_since.clone(), high_water.clone()),
            },
        };
        let outcome: PageOutcome = store
            .commit_pull_page(
                run_id,
                &connector.name,
                page_no,
                items,
                refused,
                &new_state,
                &actor,
            )
            .await
            .map_err(|e| format!("booking page {page_no} ({}): {e}", page.url))?;
        let report = PageReport {
            page: page_no,
            source: page.url.clone(),
            items: page.items.len(),
            booked: outcome.booked,
            unchanged: outcome.unchanged,
            refused: outcome.refused,
        };
        (opts.progress)(&report);
        pages.push(report);
        match next {
            Some(n) => request = n,
            None => return Ok(()),
        }
    }
}

/// Problems found in our shape, reported by the pointer in the source's response.
fn note_problems(
    src: &config::RestSource,
    items_pointer: &str,
    places: &[usize],
    external_ids: &[Option<String>],
    problems: Vec<crate::items::ItemProblem>,
    refused: &mut Vec<ItemRefusal>,
) {
    for p in problems {
        let place = places.get(p.item).copied().unwrap_or(p.item);
        let field = p.pointer.trim_start_matches('/').to_string();
        refused.push(ItemRefusal {
            item: place,
            external_id: external_ids.get(p.item).cloned().flatten(),
            pointer: format!(
                "{items_pointer}/{place}{}",
                rest::source_pointer(src, &p.pointer)
            ),
            message: if field.is_empty() {
                p.message
            } else {
                format!("{} (our field `{field}`)", p.message)
            },
        });
    }
}

async fn run_csv(
    store: &Store,
    connector: &Connector,
    folder: &Path,
    run_id: i64,
    opts: &RunOptions<'_>,
    pages: &mut Vec<PageReport>,
) -> Result<(), String> {
    let kind = match connector.entity {
        Entity::Customers => FileKind::Customers,
        Entity::Invoices | Entity::CreditNotes => FileKind::Invoices,
        Entity::Payments => FileKind::Payments,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(|e| format!("cannot read the drop folder {}: {e}", folder.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv")))
        .collect();
    files.sort();
    let done = folder.join("done");
    let failed = folder.join("failed");
    for dir in [&done, &failed] {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let actor = Actor(format!("connector:{}", connector.name));
    for (n, file) in files.iter().enumerate() {
        let name = file
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default();
        let bytes =
            std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let page = i64::try_from(n + 1).unwrap_or(i64::MAX);
        let result = ledger_csv::import(store, kind, &name, &bytes, false, &actor).await;
        let (report, target) = match result {
            Ok(r) => (
                PageReport {
                    page,
                    source: name.clone(),
                    items: r.rows,
                    booked: r.created + r.updated,
                    unchanged: r.unchanged,
                    refused: Vec::new(),
                },
                done.join(&name),
            ),
            Err(ledger_csv::ImportError::Store(e)) if !matches!(e, StoreError::Rejected(_)) => {
                // The database failed, not the file: leave it for the next run.
                return Err(format!("importing {name}: {e}"));
            }
            Err(e) => {
                let text = e.to_string();
                let errors = failed.join(format!("{name}.errors.txt"));
                std::fs::write(&errors, format!("{text}\n"))
                    .map_err(|e| format!("cannot write {}: {e}", errors.display()))?;
                (
                    PageReport {
                        page,
                        source: name.clone(),
                        items: 0,
                        booked: 0,
                        unchanged: 0,
                        refused: vec![ItemRefusal {
                            item: 0,
                            external_id: None,
                            pointer: name.clone(),
                            message: text,
                        }],
                    },
                    failed.join(&name),
                )
            }
        };
        std::fs::rename(file, &target).map_err(|e| {
            format!(
                "cannot move {} to {}: {e}",
                file.display(),
                target.display()
            )
        })?;
        store
            .count_pull_page(
                run_id,
                &connector.name,
                page,
                report.booked,
                report.unchanged,
                &report.refused,
            )
            .await
            .map_err(|e| e.to_string())?;
        (opts.progress)(&report);
        pages.push(report);
    }
    Ok(())
}

/// Runs the file's scheduled connectors when they fall due, until `stop` resolves. The next
/// run of each is computed from the store's clock; a run that fails is logged and the
/// connector waits for its next time.
pub async fn run_schedules(
    store: Store,
    file: Arc<ConnectorsFile>,
    worker: String,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let clock = store.clock().clone();
    let mut next: Vec<(usize, Option<chrono::DateTime<Utc>>)> = file
        .connectors
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                i,
                c.schedule.as_ref().and_then(|s| s.next_after(clock.now())),
            )
        })
        .collect();
    for (i, at) in &next {
        if let (Some(at), Some(c)) = (at, file.connectors.get(*i)) {
            tracing::info!(connector = %c.name, next = %at.to_rfc3339(), "connector scheduled");
        }
    }
    loop {
        let now = clock.now();
        for (i, at) in next.iter_mut() {
            let Some(c) = file.connectors.get(*i) else {
                continue;
            };
            if at.is_some_and(|t| t <= now) {
                let opts = RunOptions {
                    started_by: "schedule",
                    worker: &worker,
                    lease: chrono::Duration::minutes(30),
                    progress: &|_| {},
                };
                match run(&store, c, &opts).await {
                    Ok(s) => tracing::info!(
                        connector = %c.name, pages = s.run.pages, booked = s.run.booked,
                        unchanged = s.run.unchanged, refused = s.run.refused, "connector run finished"
                    ),
                    Err(e) => {
                        tracing::warn!(connector = %c.name, error = %e, "connector run failed")
                    }
                }
                *at = c.schedule.as_ref().and_then(|s| s.next_after(clock.now()));
            }
        }
        let now = clock.now();
        let wait = next
            .iter()
            .filter_map(|(_, t)| *t)
            .min()
            .map(|t| (t - now).to_std().unwrap_or_default())
            .unwrap_or(std::time::Duration::from_secs(1))
            // At most a second: a clock that jumps (a virtual one, or the system's after a
            // suspend) is noticed soon.
            .clamp(
                std::time::Duration::from_millis(50),
                std::time::Duration::from_secs(1),
            );
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

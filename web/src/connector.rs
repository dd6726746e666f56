//! `arrears connector run|list|runs`: pull connectors from the command line, and the
//! connectors file `arrears serve` and `arrears engine run` schedule.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Subcommand;

use arrears_connectors::pull::{self, ConnectorsFile, PageReport, PullError, RunOptions, Source};
use arrears_engine::store::Store;

use crate::cli::Refused;
use crate::output::{Format, Table};

/// The connectors file when none is named.
pub const DEFAULT_FILE: &str = "./connectors.yaml";

#[derive(Debug, Subcommand)]
pub enum ConnectorCommand {
    /// Run one connector now, with progress and a summary.
    Run {
        name: String,
        /// The connectors file.
        #[arg(long, env = "ARREARS_CONNECTORS", default_value = DEFAULT_FILE)]
        config: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Check the connectors file and list its connectors with their next scheduled run.
    List {
        #[arg(long, env = "ARREARS_CONNECTORS", default_value = DEFAULT_FILE)]
        config: PathBuf,
    },
    /// Past runs, newest first: pages, items booked, unchanged and refused, errors.
    Runs {
        /// Only this connector's.
        name: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// Reads and checks a connectors file; its problems are the user's to fix (exit code 1).
pub fn load(path: &Path) -> anyhow::Result<ConnectorsFile> {
    pull::config::load(path).map_err(|e| Refused(e.to_string()).into())
}

fn worker() -> String {
    format!("{}-{}", std::process::id(), rand::random::<u32>())
}

pub async fn run(store: &Store, command: ConnectorCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        ConnectorCommand::Run {
            name,
            config,
            format,
        } => {
            let file = load(&config)?;
            let Some(connector) = file.get(&name) else {
                let names: Vec<&str> = file.connectors.iter().map(|c| c.name.as_str()).collect();
                return Err(Refused(format!(
                    "{}: no connector {name:?} (there are: {})",
                    config.display(),
                    names.join(", ")
                ))
                .into());
            };
            let progress = |p: &PageReport| {
                eprintln!(
                    "page {} ({}): {} items, {} booked, {} unchanged, {} refused",
                    p.page,
                    p.source,
                    p.items,
                    p.booked,
                    p.unchanged,
                    p.refused.len()
                );
                for r in &p.refused {
                    eprintln!("  refused {}: {}", r.pointer, r.message);
                }
            };
            let worker = worker();
            let opts = RunOptions {
                started_by: "cli",
                worker: &worker,
                lease: chrono::Duration::minutes(30),
                progress: &progress,
            };
            match pull::run(store, connector, &opts).await {
                Ok(summary) => {
                    if format == Format::Json {
                        writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?;
                    } else {
                        let r = &summary.run;
                        writeln!(
                            out,
                            "{}: run {} {}{}: {} pages, {} booked, {} unchanged, {} refused",
                            r.connector,
                            r.id,
                            r.status,
                            if r.resumed {
                                " (resumed an unfinished pass)"
                            } else {
                                ""
                            },
                            r.pages,
                            r.booked,
                            r.unchanged,
                            r.refused
                        )?;
                    }
                    Ok(())
                }
                Err(e @ (PullError::Failed { .. } | PullError::Busy(_))) => Err(Refused(format!(
                    "{e}; what was booked before stays booked, and the next run goes on from there"
                ))
                .into()),
                Err(e) => Err(e.into()),
            }
        }
        ConnectorCommand::List { config } => {
            let file = load(&config)?;
            let now = store.clock().now();
            let mut t = Table::new(&["name", "kind", "entity", "schedule", "next run", "source"]);
            for c in &file.connectors {
                let (kind, source) = match &c.source {
                    Source::Rest(r) => ("rest", r.url.clone()),
                    Source::CsvDrop { folder } => ("csv_drop", folder.display().to_string()),
                };
                t.push(vec![
                    c.name.clone(),
                    kind.into(),
                    c.entity.as_str().into(),
                    c.schedule
                        .as_ref()
                        .map(|s| format!("{} ({})", s.pattern, s.time_zone))
                        .unwrap_or_else(|| "by hand".into()),
                    c.schedule
                        .as_ref()
                        .and_then(|s| s.next_after(now))
                        .map(|d| d.to_rfc3339())
                        .unwrap_or_default(),
                    source,
                ]);
            }
            t.print_text(&mut out)?;
            Ok(())
        }
        ConnectorCommand::Runs {
            name,
            limit,
            format,
        } => {
            let runs = store
                .pull_runs(name.as_deref(), limit.clamp(1, 1000))
                .await?;
            if format == Format::Json {
                writeln!(out, "{}", serde_json::to_string_pretty(&runs)?)?;
                return Ok(());
            }
            let mut t = Table::new(&[
                "id",
                "connector",
                "started_at",
                "by",
                "status",
                "resumed",
                "pages",
                "booked",
                "unchanged",
                "refused",
                "error",
            ]);
            for r in &runs {
                t.push(vec![
                    r.id.to_string(),
                    r.connector.clone(),
                    r.started_at.to_rfc3339(),
                    r.started_by.clone(),
                    r.status.clone(),
                    r.resumed.to_string(),
                    r.pages.to_string(),
                    r.booked.to_string(),
                    r.unchanged.to_string(),
                    r.refused.to_string(),
                    r.error.clone().unwrap_or_default(),
                ]);
            }
            match format {
                Format::Csv => t.print_csv(&mut out)?,
                _ => t.print_text(&mut out)?,
            }
            Ok(())
        }
    }
}

/// The scheduler of the connectors file `path`, when it exists, until `stop` resolves.
/// A file named explicitly must exist; the default one may be absent.
pub async fn schedule(
    store: Store,
    path: Option<PathBuf>,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let explicit = path.is_some();
    let path = path.unwrap_or_else(|| PathBuf::from(DEFAULT_FILE));
    if !explicit && !path.exists() {
        stop.await;
        return Ok(());
    }
    let file = Arc::new(load(&path)?);
    tracing::info!(file = %path.display(), connectors = file.connectors.len(), "pull connectors loaded");
    pull::run_schedules(store, file, worker(), stop).await;
    Ok(())
}

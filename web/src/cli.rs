//! The `arrears` command line: the names scripts rely on (DESIGN.md, "Command-line
//! contract"). Exit code 0 = done, 1 = the input or the data was refused (the message says
//! why), 2 = usage error.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use arrears_connectors::bank;
use arrears_connectors::ledger_csv::{self, ExportFormat, FileKind, ImportError};
use arrears_engine::aging::{AgingReport, Buckets};
use arrears_engine::ledger::Actor;
use arrears_engine::store::{AgingQuery, Store, StoreError};
use arrears_engine::{Clock, SystemClock};

use crate::output::{Format, Table};

const DEFAULT_DB: &str = "./arrears.db";

#[derive(Debug, Parser)]
#[command(name = "arrears", version, about = "Receivables ledger and collection engine", long_about = None)]
pub struct Cli {
    /// Database: a SQLite file path (default ./arrears.db) or a postgres:// URL.
    #[arg(long, global = true, env = "ARREARS_DATABASE_URL")]
    db: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (API, UI) with the engine's workers.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Load the demo portfolio first when the database is empty.
        #[arg(long)]
        demo: bool,
        /// Seed of the demo portfolio.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Sources allowed to push inbound webhooks, each `SOURCE=SECRET` (the HMAC-SHA256
        /// key, at least 16 characters); repeat the option or separate with commas.
        #[arg(
            long = "inbound-webhook",
            env = "ARREARS_INBOUND_WEBHOOKS",
            value_delimiter = ',',
            hide_env_values = true
        )]
        inbound_webhooks: Vec<String>,
        /// The pull connectors file whose schedules run beside the server (default
        /// ./connectors.yaml when it exists).
        #[arg(long, env = "ARREARS_CONNECTORS")]
        connectors: Option<PathBuf>,
        /// The base URL debtors reach this server at; letters link to
        /// `<public-url>/pay/<token>` (default http://<listen>).
        #[arg(long, env = "ARREARS_PUBLIC_URL")]
        public_url: Option<String>,
    },
    /// Load a realistic demo portfolio into an empty database.
    Demo {
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long, default_value_t = 240)]
        customers: usize,
        /// The last day of the portfolio's history (default: today).
        #[arg(long)]
        as_of: Option<NaiveDate>,
    },
    /// Import a CSV file of customers, invoices or payments (all of it, or nothing), or a bank
    /// statement (MT940, camt.053, camt.054, CSV): payments booked and matched to invoices.
    Import {
        kind: ImportKind,
        file: PathBuf,
        /// Check everything and report what would be booked, without booking it.
        #[arg(long)]
        dry_run: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// The bank statement's format (default: recognised from the content).
        #[arg(long, value_enum)]
        bank_format: Option<BankFormat>,
    },
    /// Bank credits that matched nothing: list them, match them by hand.
    Bank {
        #[command(subcommand)]
        command: BankCommand,
    },
    /// Reports over the ledger.
    Report {
        #[command(subcommand)]
        report: ReportKind,
    },
    /// Export data (CSV in the import's shape, or JSON lines).
    Export {
        kind: ExportKind,
        #[arg(long, value_enum, default_value_t = ExportFileFormat::Csv)]
        format: ExportFileFormat,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Collection scenarios: check them like a compiler, show their steps.
    Scenario {
        #[command(subcommand)]
        command: ScenarioCommand,
    },
    /// The collection engine: advance cases, fire timers, send the outbox.
    Engine {
        #[command(subcommand)]
        command: EngineCommand,
    },
    /// Late-payment interest: calculate it, issue interest notes, list and approve them.
    Interest {
        #[command(subcommand)]
        command: crate::interest::InterestCommand,
    },
    /// Pull connectors: run one now, list them, see their runs.
    Connector {
        #[command(subcommand)]
        command: crate::connector::ConnectorCommand,
    },
    /// Outbound webhooks: subscribe URLs to events, read their delivery log.
    Webhook {
        #[command(subcommand)]
        command: crate::webhook::WebhookCommand,
    },
    /// Correspondence: the archive of letters, e-mails and SMS; approval, duplicates, the
    /// day's print batch.
    Documents {
        #[command(subcommand)]
        command: crate::documents::DocumentsCommand,
    },
    /// Users who sign in to the web UI: add, list, change passwords, disable.
    User {
        #[command(subcommand)]
        command: crate::access::cli::UserCommand,
    },
    /// API tokens for integrators: add (printed once), list, revoke.
    Token {
        #[command(subcommand)]
        command: crate::access::cli::TokenCommand,
    },
    /// Benchmarks whose numbers go into the README.
    Bench {
        #[command(subcommand)]
        bench: BenchKind,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ImportKind {
    Customers,
    Invoices,
    Payments,
    /// A bank statement file.
    Bank,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BankFormat {
    Mt940,
    Camt053,
    Camt054,
    Csv,
}

impl BankFormat {
    fn format(self) -> bank::Format {
        match self {
            BankFormat::Mt940 => bank::Format::Mt940,
            BankFormat::Camt053 => bank::Format::Camt053,
            BankFormat::Camt054 => bank::Format::Camt054,
            BankFormat::Csv => bank::Format::Csv,
        }
    }
}

#[derive(Debug, Subcommand)]
enum BankCommand {
    /// The credits waiting for manual matching.
    Queue {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Match a queued credit by hand: book its payment for the customer and allocate it to the
    /// invoices named (oldest due first when none are).
    Match {
        /// The queue item's id.
        item: i64,
        /// The customer's external id.
        #[arg(long)]
        customer: String,
        /// Invoice numbers to allocate to, in this order (repeat for several).
        #[arg(long = "invoice", value_name = "NUMBER")]
        invoices: Vec<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ExportKind {
    Customers,
    Invoices,
    Payments,
    /// Cases with their state (JSON lines).
    Cases,
    /// The history of every case (JSON lines).
    History,
    /// Every outbound message with its idempotency key (JSON lines).
    Outbox,
    /// Every document in the correspondence archive with its lifecycle (JSON lines).
    Documents,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportFileFormat {
    Csv,
    Jsonl,
}

#[derive(Debug, Subcommand)]
enum ReportKind {
    /// Open receivables by days overdue, per customer and in total.
    Aging {
        /// Accounting date of the report (default: today).
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// Upper bounds of the overdue buckets in days: 30,60,90 gives current, 1-30, 31-60,
        /// 61-90 and 91+.
        #[arg(long, default_value = "30,60,90")]
        buckets: String,
        /// Only the customer with this external id.
        #[arg(long)]
        customer: Option<String>,
        /// List the documents behind every amount.
        #[arg(long)]
        detail: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
enum EngineCommand {
    /// Run the engine: on the real clock until Ctrl-C, or through simulated days.
    Run {
        /// Advance a virtual clock day by day, as fast as possible; resumable after a crash.
        #[arg(long, requires = "from")]
        virtual_clock: bool,
        /// First simulated day.
        #[arg(long)]
        from: Option<NaiveDate>,
        /// Number of simulated days.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// On the real clock, the pull connectors file whose schedules run beside the
        /// engine (default ./connectors.yaml when it exists).
        #[arg(long, env = "ARREARS_CONNECTORS")]
        connectors: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ScenarioCommand {
    /// Check scenario files (default: the scenarios/ directory); exits 1 on any error.
    Check { paths: Vec<PathBuf> },
    /// Check and deploy scenario files as new versions (default: the scenarios/ directory).
    Deploy { paths: Vec<PathBuf> },
    /// Run scenarios (default: scenarios/; or a changed draft) over a copy of the portfolio on
    /// the virtual clock and report, per step, the messages, tasks, closures and costs they
    /// would cause. Nothing is sent and the database is only read.
    Simulate {
        paths: Vec<PathBuf>,
        #[arg(long)]
        from: NaiveDate,
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// CHANNEL=AMOUNT: the cost of one message (defaults: email 0.00, sms 0.15, letter 3.50,
        /// registered_letter 12.00).
        #[arg(long = "cost", value_name = "CHANNEL=AMOUNT")]
        costs: Vec<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Move the open cases of a scenario from one deployed version to another.
    Migrate {
        /// The scenario's id.
        scenario: String,
        #[arg(long)]
        from: i64,
        #[arg(long)]
        to: i64,
        /// OLD=NEW: cases at step OLD continue at step NEW (repeat for several).
        #[arg(long = "map", value_name = "OLD=NEW")]
        map: Vec<String>,
        /// Show what would move, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Show a scenario's steps and transitions.
    Show {
        id: String,
        /// Directory of the scenario files.
        #[arg(long, default_value_os_t = crate::scenario::default_dir())]
        dir: PathBuf,
        #[arg(long, value_enum, default_value_t = crate::scenario::ShowFormat::Text)]
        format: crate::scenario::ShowFormat,
    },
}

#[derive(Debug, Subcommand)]
enum BenchKind {
    /// Generate open invoices and a camt.053 paying them, then import and match it.
    Import {
        #[arg(long, default_value_t = 100_000)]
        entries: usize,
    },
    /// Load invoices and payments with allocation, then time the aging report.
    Ledger {
        #[arg(long, default_value_t = 1_000_000)]
        invoices: usize,
        #[arg(long, default_value_t = 800_000)]
        payments: usize,
        #[arg(long, default_value_t = 100_000)]
        customers: usize,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Cases through a five-step scenario on the virtual clock: steps per second.
    Engine {
        #[arg(long, default_value_t = 100_000)]
        cases: usize,
    },
    /// Timer lag under real-time load: waits falling due at a steady rate while the engine
    /// runs on the wall clock; p50, p99 and max lag.
    Timers {
        #[arg(long, default_value_t = 20_000)]
        timers: usize,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
    },
    /// Evaluate the shipped scenarios' conditions with cached ASTs: conditions per second.
    Conditions {
        #[arg(long, default_value_t = 2_000_000)]
        evaluations: usize,
        #[arg(long, default_value_os_t = crate::scenario::default_dir())]
        dir: PathBuf,
    },
    /// The HTTP server under load from concurrent clients (wrk): the inbox page and an API
    /// read, requests per second and latency percentiles.
    Web {
        #[arg(long, default_value_t = 240)]
        customers: usize,
        #[arg(long, default_value_t = 50)]
        connections: u32,
        /// Seconds of load per target.
        #[arg(long, default_value_t = 10)]
        seconds: u32,
    },
    /// Render letters from the shipped reminder template to PDF: documents per second.
    Documents {
        #[arg(long, default_value_t = 2_000)]
        count: usize,
        /// The scenarios directory with templates/.
        #[arg(long, default_value_os_t = crate::scenario::default_dir())]
        dir: PathBuf,
    },
}

/// The id of the customer a `--customer EXTERNAL_ID` option names, if given.
pub(crate) async fn customer_option(
    store: &Store,
    external_id: Option<&str>,
) -> anyhow::Result<Option<arrears_engine::ids::CustomerId>> {
    let Some(ext) = external_id else {
        return Ok(None);
    };
    let customer = store.customer_by_external_id(ext).await?.ok_or_else(|| {
        Refused(format!(
            "--customer: no customer has the external id {ext:?}"
        ))
    })?;
    Ok(Some(customer.id))
}

/// An error the user can act on: exit code 1 and the message, nothing else.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = !matches!(cli.command, Command::Serve { .. });
    init_tracing(if quiet { "warn" } else { "info" });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ARREARS_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(default))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

pub(crate) async fn open(db: &str) -> anyhow::Result<Store> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    Store::open(db, clock).await.map_err(anyhow::Error::from)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let db = cli.db.clone().unwrap_or_else(|| DEFAULT_DB.to_string());
    match cli.command {
        Command::Serve {
            listen,
            demo,
            seed,
            inbound_webhooks,
            connectors,
            public_url,
        } => {
            if let Some(path) = &connectors {
                crate::connector::load(path)?;
            }
            let mut inbound = arrears_connectors::inbound::InboundSources::new();
            for (i, entry) in inbound_webhooks.iter().enumerate() {
                inbound
                    .add_entry(entry)
                    .map_err(|e| Refused(format!("inbound webhook source {}: {e}", i + 1)))?;
            }
            let store = open(&db).await?;
            if demo {
                if store.customers(&Default::default()).await?.is_empty() {
                    load_demo(&store, seed, 240, store.clock().today()).await?;
                } else {
                    tracing::info!(
                        "the database has data already; the demo portfolio is not loaded again"
                    );
                }
            }
            if demo {
                crate::access::cli::add_demo_users(&store).await?;
                let dir = crate::scenario::default_dir();
                if dir.is_dir() {
                    crate::worker::deploy(&store, &[], &mut std::io::stderr()).await?;
                } else {
                    tracing::warn!(dir = %dir.display(), "no scenario directory: the demo runs without collection scenarios (set ARREARS_SCENARIOS)");
                }
            }
            let mut outbound = crate::worker::Outbound::from_env();
            outbound.public_url = public_url.unwrap_or_else(|| format!("http://{listen}"));
            let settings = crate::server::Settings {
                inbound,
                connectors,
                secure_cookies: crate::server::secure_cookies_for(listen, &outbound.public_url),
                outbound,
                debtor_page: crate::pay::DebtorPage::from_env().map_err(anyhow::Error::msg)?,
            };
            crate::server::serve(store, listen, &db, settings).await
        }
        Command::Demo {
            seed,
            customers,
            as_of,
        } => {
            let store = open(&db).await?;
            let existing = store
                .customers(&arrears_engine::store::CustomerFilter {
                    limit: Some(1),
                    ..Default::default()
                })
                .await?;
            if !existing.is_empty() {
                return Err(Refused(format!(
                    "{} already holds customers; the demo loads into an empty database (use --db to name another)",
                    arrears_engine::store::redact(&db)
                ))
                .into());
            }
            let as_of = as_of.unwrap_or_else(|| store.clock().today());
            load_demo(&store, seed, customers, as_of).await?;
            crate::access::cli::add_demo_users(&store).await
        }
        Command::Import {
            kind,
            file,
            dry_run,
            format,
            bank_format,
        } => {
            let store = open(&db).await?;
            if kind == ImportKind::Bank {
                return crate::bank::import(
                    &store,
                    &file,
                    bank_format.map(BankFormat::format),
                    dry_run,
                    format,
                )
                .await;
            }
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let kind = match kind {
                ImportKind::Customers => FileKind::Customers,
                ImportKind::Invoices => FileKind::Invoices,
                ImportKind::Payments | ImportKind::Bank => FileKind::Payments,
            };
            let name = file.display().to_string();
            let spinner = spinner(&format!("importing {name}"));
            let result = ledger_csv::import(
                &store,
                kind,
                &name,
                &bytes,
                dry_run,
                &Actor(format!("import:{}", file_name(&file))),
            )
            .await;
            spinner.finish_and_clear();
            match result {
                Ok(report) => {
                    match format {
                        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
                        _ => println!("{report}"),
                    }
                    Ok(())
                }
                Err(ImportError::Rows(rows)) => {
                    if format == Format::Json {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(
                                &serde_json::json!({"file": name, "errors": rows})
                            )?
                        );
                    }
                    Err(Refused(ImportError::Rows(rows).to_string()).into())
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Report {
            report:
                ReportKind::Aging {
                    as_of,
                    buckets,
                    customer,
                    detail,
                    format,
                },
        } => {
            let buckets =
                Buckets::parse(&buckets).map_err(|e| Refused(format!("--buckets: {e}")))?;
            let store = open(&db).await?;
            let customer_id = customer_option(&store, customer.as_deref()).await?;
            let as_of = as_of.unwrap_or_else(|| store.clock().today());
            let started = std::time::Instant::now();
            let report = store
                .aging(&AgingQuery {
                    as_of,
                    buckets,
                    customer_id,
                    detail,
                })
                .await?;
            tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                rows = report.rows.len(),
                "aging computed"
            );
            print_aging(&report, detail, format)
        }
        Command::Export {
            kind,
            format,
            output,
        } => {
            let store = open(&db).await?;
            if let ExportKind::Documents = kind {
                if format != ExportFileFormat::Jsonl {
                    return Err(Refused(
                        "documents export as JSON lines: add --format jsonl".into(),
                    )
                    .into());
                }
                let mut out = output_writer(output.as_deref())?;
                let n = crate::documents::export(&store, out.as_mut()).await?;
                out.flush()?;
                if let Some(p) = output {
                    eprintln!("exported {n} records to {}", p.display());
                }
                return Ok(());
            }
            let runtime_kind = match kind {
                ExportKind::Cases => Some(crate::worker::RuntimeExport::Cases),
                ExportKind::History => Some(crate::worker::RuntimeExport::History),
                ExportKind::Outbox => Some(crate::worker::RuntimeExport::Outbox),
                _ => None,
            };
            if let Some(kind) = runtime_kind {
                if format != ExportFileFormat::Jsonl {
                    return Err(Refused(
                        "cases, history and outbox export as JSON lines: add --format jsonl".into(),
                    )
                    .into());
                }
                let mut out = output_writer(output.as_deref())?;
                let n = crate::worker::export(&store, kind, out.as_mut()).await?;
                out.flush()?;
                if let Some(p) = output {
                    eprintln!("exported {n} records to {}", p.display());
                }
                return Ok(());
            }
            let kind = match kind {
                ExportKind::Customers => FileKind::Customers,
                ExportKind::Invoices => FileKind::Invoices,
                _ => FileKind::Payments,
            };
            let format = match format {
                ExportFileFormat::Csv => ExportFormat::Csv,
                ExportFileFormat::Jsonl => ExportFormat::Jsonl,
            };
            let mut out = output_writer(output.as_deref())?;
            let n = ledger_csv::export(&store, kind, format, out.as_mut()).await?;
            out.flush()?;
            if let Some(p) = output {
                eprintln!("exported {n} records to {}", p.display());
            }
            Ok(())
        }
        Command::Bench {
            bench:
                BenchKind::Ledger {
                    invoices,
                    payments,
                    customers,
                    format,
                },
        } => crate::bench::ledger(cli.db.as_deref(), invoices, payments, customers, format).await,
        Command::Bench {
            bench: BenchKind::Import { entries },
        } => crate::bank::bench(cli.db.as_deref(), entries).await,
        Command::Bank { command } => {
            let store = open(&db).await?;
            match command {
                BankCommand::Queue { format } => crate::bank::queue(&store, format).await,
                BankCommand::Match {
                    item,
                    customer,
                    invoices,
                    format,
                } => crate::bank::resolve(&store, item, &customer, &invoices, format).await,
            }
        }
        Command::Bench {
            bench: BenchKind::Engine { cases },
        } => {
            crate::bench_engine::engine(cli.db.as_deref(), cases, &mut std::io::stdout().lock())
                .await
        }
        Command::Bench {
            bench: BenchKind::Timers { timers, seconds },
        } => {
            crate::bench_engine::timers(
                cli.db.as_deref(),
                timers,
                seconds,
                &mut std::io::stdout().lock(),
            )
            .await
        }
        Command::Bench {
            bench: BenchKind::Conditions { evaluations, dir },
        } => crate::scenario::bench_conditions(&dir, evaluations, &mut std::io::stdout().lock()),
        Command::Bench {
            bench:
                BenchKind::Web {
                    customers,
                    connections,
                    seconds,
                },
        } => {
            crate::bench_web::web(
                cli.db.as_deref(),
                customers,
                connections,
                seconds,
                &mut std::io::stdout().lock(),
            )
            .await
        }
        Command::Bench {
            bench: BenchKind::Documents { count, dir },
        } => crate::documents::bench(&dir, count, &mut std::io::stdout().lock()),
        Command::Documents { command } => {
            let store = open(&db).await?;
            crate::documents::run(&store, command, &mut std::io::stdout().lock()).await
        }
        Command::Engine {
            command:
                EngineCommand::Run {
                    virtual_clock,
                    from,
                    days,
                    connectors,
                },
        } => {
            if virtual_clock {
                let from =
                    from.ok_or_else(|| Refused("--virtual-clock needs --from DATE".into()))?;
                crate::worker::run_virtual(&db, from, days, &mut std::io::stdout().lock()).await
            } else {
                let store = open(&db).await?;
                eprintln!(
                    "the engine is running on {} (Ctrl-C stops it)",
                    store.backend_name()
                );
                if let Some(path) = &connectors {
                    crate::connector::load(path)?;
                }
                let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
                let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
                    let _ = rx.changed().await;
                };
                let scheduler = tokio::spawn(crate::connector::schedule(
                    store.clone(),
                    connectors,
                    stopped(stop_rx.clone()),
                ));
                let engine = crate::worker::run_real_time(store, stopped(stop_rx));
                let signal = async {
                    let _ = tokio::signal::ctrl_c().await;
                    let _ = stop_tx.send(true);
                };
                let (result, ()) = tokio::join!(engine, signal);
                scheduler.await??;
                result
            }
        }
        Command::Interest { command } => crate::interest::run(command, &db).await,
        Command::Connector { command } => {
            let store = open(&db).await?;
            crate::connector::run(&store, command).await
        }
        Command::Webhook { command } => {
            let store = open(&db).await?;
            crate::webhook::run(&store, command).await
        }
        Command::User { command } => {
            let store = open(&db).await?;
            crate::access::cli::run_user(&store, command).await
        }
        Command::Token { command } => {
            let store = open(&db).await?;
            crate::access::cli::run_token(&store, command).await
        }
        Command::Scenario { command } => {
            let mut out = std::io::stdout().lock();
            match command {
                ScenarioCommand::Check { paths } => crate::scenario::check(&paths, &mut out),
                ScenarioCommand::Simulate {
                    paths,
                    from,
                    days,
                    costs,
                    format,
                } => {
                    let store = open(&db).await?;
                    crate::simulate::simulate(&store, &paths, from, days, &costs, format, &mut out)
                        .await
                }
                ScenarioCommand::Migrate {
                    scenario,
                    from,
                    to,
                    map,
                    dry_run,
                } => {
                    let mut steps = std::collections::BTreeMap::new();
                    for m in &map {
                        let (old, new) = m.split_once('=').ok_or_else(|| {
                            Refused(format!(
                                "--map {m}: expected OLD=NEW, e.g. --map wait_1=wait_first"
                            ))
                        })?;
                        steps.insert(old.trim().to_string(), new.trim().to_string());
                    }
                    let store = open(&db).await?;
                    let rt = crate::worker::runtime(store);
                    let moves = rt
                        .migrate(&scenario, from, to, &steps, dry_run, "cli")
                        .await
                        .map_err(|e| Refused(e.to_string()))?;
                    let total: usize = moves.iter().map(|m| m.cases).sum();
                    for m in &moves {
                        writeln!(
                            out,
                            "{:>6} case(s)  {} -> {}",
                            m.cases, m.from_step, m.to_step
                        )?;
                    }
                    writeln!(
                        out,
                        "{total} open case(s) of {scenario} {} from version {from} to {to}",
                        if dry_run { "would move" } else { "moved" }
                    )?;
                    Ok(())
                }
                ScenarioCommand::Deploy { paths } => {
                    let store = open(&db).await?;
                    crate::worker::deploy(&store, &paths, &mut out).await
                }
                ScenarioCommand::Show { id, dir, format } => {
                    crate::scenario::show(&id, &dir, format, &mut out)
                }
            }
        }
    }
}

/// Where an export goes: the named file, or standard output.
fn output_writer(output: Option<&std::path::Path>) -> anyhow::Result<Box<dyn Write>> {
    Ok(match output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    })
}

fn file_name(p: &std::path::Path) -> String {
    p.file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default()
}

pub(crate) fn spinner(message: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_message(message.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

pub(crate) fn progress_bar(total: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {what} [{{bar:40}}] {{pos}}/{{len}} ({{per_sec}}, {{eta}} left)"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb
}

pub(crate) async fn load_demo(
    store: &Store,
    seed: u64,
    customers: usize,
    as_of: NaiveDate,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let portfolio = arrears_engine::demo::generate(seed, customers, as_of);
    let pb = progress_bar(portfolio.document_count() as u64, "demo documents");
    arrears_engine::demo::load(store, &portfolio, |done, _| pb.set_position(done as u64))
        .await
        .map_err(demo_error)?;
    pb.finish_and_clear();
    let report = store
        .aging(&AgingQuery {
            as_of,
            buckets: Buckets::default(),
            customer_id: None,
            detail: false,
        })
        .await?;
    eprintln!(
        "demo portfolio (seed {seed}) loaded in {:.1} s: {} customers, {} documents, as of {as_of}",
        started.elapsed().as_secs_f64(),
        portfolio.customers.len(),
        portfolio.document_count()
    );
    for t in &report.totals {
        eprintln!(
            "  {}: open {} (overdue {}), unapplied credit {}, {} customers with a balance",
            t.currency, t.open, t.overdue, t.unapplied_credit, t.customers
        );
    }
    Ok(())
}

fn demo_error(e: StoreError) -> anyhow::Error {
    anyhow::anyhow!("loading the demo failed: {e}")
}

fn print_aging(report: &AgingReport, detail: bool, format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut out, report)?;
        writeln!(out)?;
        return Ok(());
    }
    let mut header: Vec<&str> = vec!["customer", "name", "category", "currency"];
    header.extend(report.buckets.iter().map(String::as_str));
    header.extend(["open", "unapplied", "balance", "days"]);
    let mut table = Table::new(&header);
    for r in &report.rows {
        let mut row = vec![
            r.external_id.clone(),
            r.name.clone(),
            r.category.clone(),
            r.currency.to_string(),
        ];
        row.extend(r.amounts.iter().map(|a| a.to_string()));
        row.extend([
            r.open.to_string(),
            r.unapplied_credit.to_string(),
            r.balance.to_string(),
            r.days_overdue.to_string(),
        ]);
        table.push(row);
    }
    for t in &report.totals {
        let mut row = vec![
            "TOTAL".to_string(),
            format!("{} customers", t.customers),
            String::new(),
            t.currency.to_string(),
        ];
        row.extend(t.amounts.iter().map(|a| a.to_string()));
        row.extend([
            t.open.to_string(),
            t.unapplied_credit.to_string(),
            t.balance.to_string(),
            String::new(),
        ]);
        table.push(row);
    }
    match format {
        Format::Csv if detail => {
            let mut items = Table::new(&[
                "customer",
                "currency",
                "document",
                "kind",
                "issue_date",
                "due_date",
                "days_overdue",
                "bucket",
                "gross",
                "open",
            ]);
            for r in &report.rows {
                for i in r.items.iter().flatten() {
                    items.push(vec![
                        r.external_id.clone(),
                        r.currency.to_string(),
                        i.number.clone(),
                        i.kind.to_string(),
                        i.issue_date.to_string(),
                        i.due_date.to_string(),
                        i.days_overdue.to_string(),
                        report.buckets.get(i.bucket).cloned().unwrap_or_default(),
                        i.gross.to_string(),
                        i.open.to_string(),
                    ]);
                }
            }
            items.print_csv(&mut out)
        }
        Format::Csv => table.print_csv(&mut out),
        _ => {
            writeln!(
                out,
                "Aging as of {} (buckets in days overdue)",
                report.as_of
            )?;
            table.print_text(&mut out)?;
            if detail {
                for r in &report.rows {
                    writeln!(out, "\n{} {} ({})", r.external_id, r.name, r.currency)?;
                    let mut items = Table::new(&[
                        "document", "kind", "issued", "due", "days", "bucket", "gross", "open",
                    ]);
                    for i in r.items.iter().flatten() {
                        items.push(vec![
                            i.number.clone(),
                            i.kind.to_string(),
                            i.issue_date.to_string(),
                            i.due_date.to_string(),
                            i.days_overdue.to_string(),
                            report.buckets.get(i.bucket).cloned().unwrap_or_default(),
                            i.gross.to_string(),
                            i.open.to_string(),
                        ]);
                    }
                    items.print_text(&mut out)?;
                }
            }
            Ok(())
        }
    }
}

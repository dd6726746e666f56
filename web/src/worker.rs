//! The engine's workers in this process: `arrears engine run` (real time or a virtual clock),
//! the loop `arrears serve` runs beside the server, the outbound configuration (templates,
//! SMTP, gateways), `scenario deploy`, the runtime exports and the Prometheus metrics at
//! /metrics.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};

use arrears_engine::runtime::{Channels, Runtime, WorkReport, views};
use arrears_engine::store::Store;

/// Checks and deploys scenario files; cases already running keep their version.
pub async fn deploy(store: &Store, paths: &[PathBuf], out: &mut dyn Write) -> anyhow::Result<()> {
    let rt = Runtime::new(store.clone(), Channels::default());
    let all = crate::scenario::load_paths(paths)?;
    for sc in &all {
        let d = rt.deploy(sc, "cli").await?;
        if d.new {
            writeln!(out, "{}: deployed version {}", d.scenario_id, d.version)?;
        } else {
            writeln!(out, "{}: unchanged (version {})", d.scenario_id, d.version)?;
        }
    }
    Ok(())
}

/// How this process writes to debtors: where templates and the debtor page are, and the
/// channels. Read from the environment (README, "Configuration"); `serve --public-url`
/// overrides the debtor page's base.
#[derive(Clone)]
pub struct Outbound {
    /// The scenarios directory whose `templates/` (and `templates/company.yaml`) letters are
    /// rendered from (`ARREARS_SCENARIOS`, default ./scenarios).
    pub scenarios: PathBuf,
    /// Documents are rendered and archived unless `ARREARS_CORRESPONDENCE=off`.
    pub correspondence: bool,
    /// The base of debtor page links (`ARREARS_PUBLIC_URL`, default http://127.0.0.1:8080).
    pub public_url: String,
    /// `ARREARS_SMTP_URL`: smtp://[user:password@]host[:port][?tls=required|opportunistic]
    /// or smtps://...; without it e-mail goes to the log.
    pub smtp_url: Option<String>,
    /// `ARREARS_SMTP_CA_FILE`: PEM certificates the SMTP server's certificate may chain to,
    /// beside the Mozilla roots.
    pub smtp_ca_file: Option<PathBuf>,
    /// `ARREARS_MAIL_FROM`, the sender of e-mail.
    pub mail_from: String,
    /// `ARREARS_GATEWAYS`: a JSON file of HTTP gateways by channel (sms, fax).
    pub gateways: Option<PathBuf>,
    /// `ARREARS_DELIVERY_TOKEN`: the token gateways' delivery reports must carry.
    pub delivery_token: Option<String>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("scenarios", &self.scenarios)
            .field("correspondence", &self.correspondence)
            .field("public_url", &self.public_url)
            .field(
                "smtp_url",
                &self.smtp_url.as_deref().map(arrears_engine::store::redact),
            )
            .field("smtp_ca_file", &self.smtp_ca_file)
            .field("mail_from", &self.mail_from)
            .field("gateways", &self.gateways)
            .field(
                "delivery_token",
                &self.delivery_token.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

impl Outbound {
    pub fn from_env() -> Outbound {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Outbound {
            scenarios: crate::scenario::default_dir(),
            correspondence: var("ARREARS_CORRESPONDENCE").is_none_or(|v| v != "off"),
            public_url: var("ARREARS_PUBLIC_URL").unwrap_or_else(|| "http://127.0.0.1:8080".into()),
            smtp_url: var("ARREARS_SMTP_URL"),
            smtp_ca_file: var("ARREARS_SMTP_CA_FILE").map(PathBuf::from),
            mail_from: var("ARREARS_MAIL_FROM")
                .unwrap_or_else(|| "arrears <arrears@localhost>".into()),
            gateways: var("ARREARS_GATEWAYS").map(PathBuf::from),
            delivery_token: var("ARREARS_DELIVERY_TOKEN"),
        }
    }

    /// The channels: webhooks (subscriptions' deliveries always go out; `call` steps go to
    /// the log without `ARREARS_WEBHOOKS`), e-mail, gateways; the rest (letters for the print room)
    /// goes to the log channel and is sent as far as the engine is concerned.
    pub fn channels(&self, store: &Store) -> anyhow::Result<Channels> {
        let mut calls = None;
        if let Ok(config) = std::env::var("ARREARS_WEBHOOKS") {
            match arrears_connectors::webhook::WebhookChannel::parse_config(&config) {
                Ok(urls) => {
                    let secret = std::env::var("ARREARS_WEBHOOK_SECRET").unwrap_or_default();
                    if secret.is_empty() {
                        tracing::warn!(
                            "ARREARS_WEBHOOK_SECRET is empty: webhooks are signed with an empty key"
                        );
                    }
                    calls = Some(arrears_connectors::webhook::WebhookChannel::new(
                        urls,
                        secret.as_bytes(),
                    ));
                }
                Err(e) => tracing::error!(error = %e, "ARREARS_WEBHOOKS ignored"),
            }
        }
        let mut channels = webhook_channels(store, calls);
        if let Some(url) = &self.smtp_url {
            let ca = match &self.smtp_ca_file {
                Some(path) => Some(std::fs::read(path).with_context(|| {
                    format!("ARREARS_SMTP_CA_FILE: cannot read {}", path.display())
                })?),
                None => None,
            };
            let smtp =
                arrears_connectors::mail::SmtpChannel::new(url, &self.mail_from, ca.as_deref())
                    .map_err(|e| anyhow::anyhow!("ARREARS_SMTP_URL: {e}"))?;
            channels = channels.with("email", Arc::new(smtp));
        }
        if let Some(path) = &self.gateways {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("ARREARS_GATEWAYS: cannot read {}", path.display()))?;
            let all = arrears_connectors::gateway::parse_config(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            for (name, mut config) in all {
                // A relative CA file is beside the gateways file.
                if let (Some(ca), Some(dir)) = (&mut config.ca_file, path.parent())
                    && ca.is_relative()
                {
                    *ca = dir.join(&*ca);
                }
                let gateway = arrears_connectors::gateway::HttpGateway::new(&name, config)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                channels = channels.with(&name, Arc::new(gateway));
            }
        }
        Ok(channels)
    }

    /// Templates and the sender, when correspondence is on and the templates exist.
    pub fn correspondence(
        &self,
    ) -> anyhow::Result<Option<Arc<arrears_engine::correspondence::Correspondence>>> {
        if !self.correspondence || !self.scenarios.join("templates").is_dir() {
            return Ok(None);
        }
        let c = arrears_engine::correspondence::Correspondence::load(
            &self.scenarios,
            &self.public_url,
        )?;
        Ok(Some(Arc::new(c)))
    }
}

/// The runtime of this process, configured from the environment.
pub fn runtime(store: Store) -> Runtime {
    match runtime_with(store.clone(), &Outbound::from_env()) {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "outbound configuration refused: messages go to the log");
            runtime_of(store.clone(), webhook_channels(&store, None), None)
        }
    }
}

/// The runtime with these channels and templates. `ARREARS_LEASE_SECONDS` (default 300) is
/// how long a claim of a killed worker blocks the others.
pub fn runtime_with(store: Store, outbound: &Outbound) -> anyhow::Result<Runtime> {
    let channels = outbound.channels(&store)?;
    let corr = outbound.correspondence()?;
    Ok(runtime_of(store, channels, corr))
}

/// The default channels with the `webhook` channel of subscriptions and `call` steps.
fn webhook_channels(
    store: &Store,
    calls: Option<arrears_connectors::webhook::WebhookChannel>,
) -> Channels {
    Channels::default().with(
        "webhook",
        Arc::new(arrears_connectors::webhook::Webhooks::new(
            store.clone(),
            calls,
        )),
    )
}

fn runtime_of(
    store: Store,
    channels: Channels,
    corr: Option<Arc<arrears_engine::correspondence::Correspondence>>,
) -> Runtime {
    let lease = std::env::var("ARREARS_LEASE_SECONDS")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(300);
    let rt = Runtime::new(store, channels).with_lease(chrono::Duration::seconds(lease));
    match corr {
        Some(c) => rt.with_correspondence(c),
        None => rt,
    }
}

/// Counters since the process started, for /metrics.
#[derive(Default)]
pub struct Metrics {
    pub steps: AtomicU64,
    pub started: AtomicU64,
    pub events: AtomicU64,
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    /// Timer lag histogram: counts per upper bound in `LAG_BOUNDS_MS`, then +Inf.
    pub lag: [AtomicU64; 8],
    pub lag_sum_ms: AtomicU64,
}

pub const LAG_BOUNDS_MS: [u64; 7] = [10, 50, 100, 500, 1_000, 5_000, 60_000];

pub static METRICS: std::sync::LazyLock<Metrics> = std::sync::LazyLock::new(Metrics::default);

impl Metrics {
    pub fn record(&self, r: &WorkReport) {
        self.steps.fetch_add(r.steps as u64, Ordering::Relaxed);
        self.started.fetch_add(r.started as u64, Ordering::Relaxed);
        self.events.fetch_add(r.events as u64, Ordering::Relaxed);
        self.sent.fetch_add(r.sent as u64, Ordering::Relaxed);
        self.failed.fetch_add(r.failed as u64, Ordering::Relaxed);
        for &lag in &r.lags_ms {
            let lag = lag.max(0) as u64;
            let i = LAG_BOUNDS_MS
                .iter()
                .position(|b| lag <= *b)
                .unwrap_or(LAG_BOUNDS_MS.len());
            self.lag[i].fetch_add(1, Ordering::Relaxed);
            self.lag_sum_ms.fetch_add(lag, Ordering::Relaxed);
        }
    }
}

/// The Prometheus text exposition of the runtime's gauges and this process's counters.
pub async fn metrics_text(store: &Store) -> anyhow::Result<String> {
    let g = views::gauges(store).await?;
    let m = &*METRICS;
    let mut s = String::new();
    let esc = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
    s.push_str("# HELP arrears_cases Open cases by scenario, step and status.\n# TYPE arrears_cases gauge\n");
    for (sc, step, status, n) in &g.cases {
        s.push_str(&format!(
            "arrears_cases{{scenario=\"{}\",step=\"{}\",status=\"{}\"}} {n}\n",
            esc(sc),
            esc(step),
            esc(status)
        ));
    }
    s.push_str("# HELP arrears_outbox_messages Outbox messages by status (pending is the backlog, dead the failures).\n# TYPE arrears_outbox_messages gauge\n");
    for (status, n) in &g.outbox {
        s.push_str(&format!(
            "arrears_outbox_messages{{status=\"{}\"}} {n}\n",
            esc(status)
        ));
    }
    s.push_str("# HELP arrears_tasks Tasks by status (open and claimed are the backlog).\n# TYPE arrears_tasks gauge\n");
    for (status, n) in &g.tasks {
        s.push_str(&format!(
            "arrears_tasks{{status=\"{}\"}} {n}\n",
            esc(status)
        ));
    }
    let oldest = g
        .oldest_due_timer
        .map(|d| (store.clock().now() - d).num_milliseconds().max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    s.push_str(&format!(
        "# HELP arrears_timers_due Timers due and not fired.\n# TYPE arrears_timers_due gauge\narrears_timers_due {}\n\
         # HELP arrears_timer_backlog_seconds Age of the oldest due timer not fired.\n# TYPE arrears_timer_backlog_seconds gauge\narrears_timer_backlog_seconds {oldest}\n",
        g.timers_due
    ));
    for (name, help, v) in [
        (
            "arrears_steps_executed_total",
            "Case steps executed by this process.",
            &m.steps,
        ),
        (
            "arrears_cases_started_total",
            "Cases started by this process.",
            &m.started,
        ),
        (
            "arrears_events_applied_total",
            "Events applied by this process.",
            &m.events,
        ),
        (
            "arrears_messages_sent_total",
            "Outbox messages sent by this process.",
            &m.sent,
        ),
        (
            "arrears_failures_total",
            "Steps paused on a scenario error and messages dead-lettered.",
            &m.failed,
        ),
    ] {
        s.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
            v.load(Ordering::Relaxed)
        ));
    }
    s.push_str("# HELP arrears_timer_lag_seconds Time from a timer's due time to its firing.\n# TYPE arrears_timer_lag_seconds histogram\n");
    let mut cumulative = 0;
    for (i, b) in LAG_BOUNDS_MS.iter().enumerate() {
        cumulative += m.lag[i].load(Ordering::Relaxed);
        s.push_str(&format!(
            "arrears_timer_lag_seconds_bucket{{le=\"{}\"}} {cumulative}\n",
            *b as f64 / 1000.0
        ));
    }
    cumulative += m.lag[LAG_BOUNDS_MS.len()].load(Ordering::Relaxed);
    s.push_str(&format!(
        "arrears_timer_lag_seconds_bucket{{le=\"+Inf\"}} {cumulative}\narrears_timer_lag_seconds_sum {}\narrears_timer_lag_seconds_count {cumulative}\n",
        m.lag_sum_ms.load(Ordering::Relaxed) as f64 / 1000.0
    ));
    Ok(s)
}

/// Runs the engine on the real clock until `stop` resolves: events at least every second,
/// timers when they fall due, new cases every minute.
pub async fn run_real_time(
    store: Store,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let rt = runtime(store);
    run_rounds(&rt, stop).await
}

/// The same, with the server's configuration.
pub async fn run_real_time_with(
    store: Store,
    outbound: &Outbound,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let rt = runtime_with(store, outbound)?;
    run_rounds(&rt, stop).await
}

/// The real-time loop: a round of work, then sleep until the next timer or message falls
/// due, at most a second (events and other processes' work are found by polling).
pub async fn run_rounds(
    rt: &Runtime,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    tokio::pin!(stop);
    let mut last_scan: Option<std::time::Instant> = None;
    loop {
        let scan = last_scan.is_none_or(|t| t.elapsed() >= Duration::from_secs(60));
        if scan {
            last_scan = Some(std::time::Instant::now());
        }
        match rt.run_until_idle(scan).await {
            Ok(r) => METRICS.record(&r),
            Err(e) => tracing::error!(error = %e, "engine round failed; retrying"),
        }
        let now = rt.store().clock().now();
        let pause = match rt.next_due().await {
            Ok(Some(due)) => (due - now).to_std().unwrap_or_default(),
            _ => Duration::from_secs(1),
        }
        // A due timer another worker holds must not make this one spin.
        .clamp(Duration::from_millis(20), Duration::from_secs(1));
        tokio::select! {
            _ = &mut stop => return Ok(()),
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// `arrears engine run --virtual-clock --from DATE --days N`.
pub async fn run_virtual(
    db: &str,
    from: NaiveDate,
    days: u32,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let clock = Arc::new(arrears_engine::ManualClock::at_date(from));
    let store = Store::open(db, clock.clone()).await?;
    let rt = runtime(store.clone());
    let bar = ProgressBar::new(u64::from(days)).with_style(
        ProgressStyle::with_template("{bar:40} day {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut done = 0u64;
    let total = rt
        .run_virtual(&clock, from, days, |day, r| {
            METRICS.record(r);
            done = (day - from).num_days().max(0) as u64 + 1;
            bar.set_position(done);
            bar.set_message(format!(
                "{day}: {} started, {} steps, {} sent",
                r.started, r.steps, r.sent
            ));
        })
        .await
        .context("the engine run stopped")?;
    bar.finish_and_clear();
    writeln!(
        out,
        "{from} + {days} days on {}: {} cases started, {} steps, {} events, {} messages sent, {} failures",
        store.backend_name(),
        total.started,
        total.steps,
        total.events,
        total.sent,
        total.failed
    )?;
    store.close().await;
    Ok(())
}

#[derive(Debug, Clone, Copy)]
pub enum RuntimeExport {
    Cases,
    History,
    Outbox,
}

/// One JSON object per line, in a stable order.
pub async fn export(
    store: &Store,
    kind: RuntimeExport,
    out: &mut dyn Write,
) -> anyhow::Result<usize> {
    fn lines<T: serde::Serialize>(rows: &[T], out: &mut dyn Write) -> anyhow::Result<usize> {
        for r in rows {
            writeln!(out, "{}", serde_json::to_string(r)?)?;
        }
        Ok(rows.len())
    }
    match kind {
        RuntimeExport::Cases => lines(&views::cases(store).await?, out),
        RuntimeExport::History => lines(&views::history(store).await?, out),
        RuntimeExport::Outbox => lines(&views::outbox(store).await?, out),
    }
}

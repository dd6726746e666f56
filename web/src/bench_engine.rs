//! `arrears bench engine`: N customers with one overdue invoice each run through a five-step
//! scenario (send, wait, send, wait, close) on the virtual clock; case steps per second.
//! Without `--db` it runs on a fresh temporary SQLite file; with `--db` the database must be
//! empty.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use arrears_engine::clock::Clock;
use arrears_engine::ledger::customer::{Contact, ContactKind};
use arrears_engine::ledger::document::CustomerRef;
use arrears_engine::ledger::{Actor, CustomerInput, DocumentInput, DocumentKind, LineInput};
use arrears_engine::scenario::Scenario;
use arrears_engine::scenario::{Sandbox, check_paths};
use arrears_engine::store::{CustomerFilter, Store};
use arrears_engine::{Currency, ManualClock};

use crate::cli::{Refused, progress_bar};

const SCENARIO: &str = r#"id: bench-five-steps
title: Five steps for the engine benchmark
applies_to: customer.category == "business"
start_when: days_overdue >= 1
steps:
  - id: first
    send: { template: notice, channels: [email] }
  - id: pause_1
    wait: 1 day
  - id: second
    send: { template: notice, channels: [email] }
  - id: pause_2
    wait: 1 day
  - id: done
    close: ended
"#;

const TIMER_SCENARIO: &str = r#"id: bench-timers
title: A letter, an hour's wait, a letter, for the timer-lag benchmark
applies_to: customer.category == "business"
start_when: days_overdue >= 1
steps:
  - id: first
    send: { template: notice, channels: [email] }
  - id: pause
    wait: 1 hour
  - id: second
    send: { template: notice, channels: [email] }
  - id: done
    close: ended
"#;

pub async fn engine(
    db: Option<&str>,
    cases: usize,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    if cases == 0 {
        return Err(Refused("--cases must be at least 1".into()).into());
    }
    let start = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap_or_default();
    let clock = Arc::new(ManualClock::at_date(start));
    let tmp = tempfile::tempdir()?;
    let (store, scenario) = prepare(db, &tmp, clock.clone(), cases, start, SCENARIO).await?;
    let rt = crate::worker::runtime(store.clone());
    rt.deploy(&scenario, "bench").await?;
    let bar = progress_bar(4, "simulated days");
    let started = Instant::now();
    let total = rt.run_virtual(&clock, start, 4, |_, _| bar.inc(1)).await?;
    let elapsed = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    writeln!(
        out,
        "{} on {}: {} cases started, {} steps and {} messages in {:.1} s: {:.0} steps/s",
        cases,
        store.backend_name(),
        total.started,
        total.steps,
        total.sent,
        elapsed,
        total.steps as f64 / elapsed.max(1e-9),
    )?;
    store.close().await;
    Ok(())
}

/// A store with `cases` business customers, each with one invoice ten days overdue on
/// `start`, and the benchmark scenario checked (not yet deployed).
async fn prepare(
    db: Option<&str>,
    tmp: &tempfile::TempDir,
    clock: Arc<dyn Clock>,
    cases: usize,
    start: NaiveDate,
    yaml: &str,
) -> anyhow::Result<(Store, Scenario)> {
    let store = crate::bench::empty_store(db, tmp, clock).await?;
    // The scenario and its one template, in a directory of their own.
    let dir = tmp.path().join("scenarios");
    std::fs::create_dir_all(dir.join("templates/notice"))?;
    std::fs::write(dir.join("bench.yaml"), yaml)?;
    std::fs::write(
        dir.join("templates/notice/email.en.hbs"),
        "Subject: Notice\n\n{{balance.overdue}}\n",
    )?;
    let checked = check_paths(std::slice::from_ref(&dir), &Sandbox::new()).map_err(Refused)?;
    let mut scenario = checked
        .into_iter()
        .find_map(|o| o.scenario.map(|s| (s, o.path)))
        .ok_or_else(|| Refused("the benchmark scenario does not check".into()))?;
    scenario.0.source_path = scenario.1;

    let bar = progress_bar(cases as u64, "customers and invoices");
    for chunk_start in (0..cases).step_by(1000) {
        let n = 1000.min(cases - chunk_start);
        let customers: Vec<CustomerInput> = (chunk_start..chunk_start + n)
            .map(|i| CustomerInput {
                external_id: format!("B{i:07}"),
                name: format!("Bench customer {i}"),
                category: "business".into(),
                language: "en".into(),
                contacts: vec![Contact {
                    kind: ContactKind::Email,
                    value: format!("b{i}@example.com"),
                    label: None,
                }],
                ..Default::default()
            })
            .collect();
        store.save_customers(&customers).await?;
        let invoices: Vec<DocumentInput> = (chunk_start..chunk_start + n)
            .map(|i| {
                let mut d = DocumentInput::new(
                    DocumentKind::Invoice,
                    format!("FV/B/{i:07}"),
                    CustomerRef::External(format!("B{i:07}")),
                    Currency::PLN,
                    start - chrono::Duration::days(30),
                );
                d.due_date = Some(start - chrono::Duration::days(10));
                d.lines = vec![LineInput {
                    description: "Bench".into(),
                    quantity: Decimal::ONE,
                    unit_price: Decimal::new(10_000 + i as i64 % 1000, 2),
                    tax_rate: Decimal::ZERO,
                }];
                d
            })
            .collect();
        store.book(&invoices, &Actor::system()).await?;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    // Statistics of the loaded book, as after any bulk load (PostgreSQL's autovacuum may be
    // off or behind; without them the planner has nothing to go on).
    store.analyze().await?;

    Ok((store, scenario.0))
}

/// A clock that stands still while the benchmark sets up, then runs with the wall clock
/// from a chosen instant.
#[derive(Debug, Default)]
struct BenchClock(std::sync::Mutex<(DateTime<Utc>, Option<Instant>)>);

impl BenchClock {
    fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = (at, None);
    }

    /// From now on the clock moves with the wall clock, starting at `at`.
    fn run_from(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = (at, Some(Instant::now()));
    }
}

impl Clock for BenchClock {
    fn now(&self) -> DateTime<Utc> {
        let (at, since) = *self.0.lock().unwrap_or_else(|p| p.into_inner());
        match since {
            Some(i) => at + chrono::Duration::from_std(i.elapsed()).unwrap_or_default(),
            None => at,
        }
    }
}

/// `arrears bench timers`: timer lag under real-time load. `timers` cases are started at
/// instants spread over `seconds`, each sends a letter and waits an hour; the engine then runs
/// on a clock that moves with the wall clock while their waits fall due, a steady
/// `timers / seconds` per second, each firing a letter and a close. The lag of a timer is
/// the time from its due instant to the commit of the transaction that fired it.
pub async fn timers(
    db: Option<&str>,
    timers: usize,
    seconds: u64,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    if timers == 0 || seconds == 0 {
        return Err(Refused("--timers and --seconds must be at least 1".into()).into());
    }
    let start = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap_or_default();
    let opening = start.and_hms_opt(6, 0, 0).unwrap_or_default().and_utc();
    let clock = Arc::new(BenchClock::default());
    clock.set(opening);
    let tmp = tempfile::tempdir()?;
    let (store, scenario) = prepare(db, &tmp, clock.clone(), timers, start, TIMER_SCENARIO).await?;
    let rt = crate::worker::runtime(store.clone());
    rt.deploy(&scenario, "bench").await?;

    // Start the cases in slots of 10 ms spread over the window: their waits fall due the
    // same way an hour later.
    let customers = store
        .customers(&CustomerFilter {
            limit: Some(u32::try_from(timers).unwrap_or(u32::MAX)),
            ..Default::default()
        })
        .await?;
    let slots = (seconds * 100).max(1) as usize;
    let per_slot = customers.len().div_ceil(slots).max(1);
    let bar = progress_bar(customers.len() as u64, "cases started");
    for (slot, chunk) in customers.chunks(per_slot).enumerate() {
        let at = opening
            + chrono::Duration::milliseconds(
                (slot as i64) * (seconds as i64) * 1000 / slots as i64,
            );
        clock.set(at);
        for c in chunk {
            rt.start_manual(c.id, "bench-timers", "bench").await?;
        }
        rt.run_until_idle(false).await?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();

    // Real time: the first waits fall due two seconds from now.
    let lead = chrono::Duration::seconds(2);
    clock.run_from(opening + chrono::Duration::hours(1) - lead);
    let bar = progress_bar(timers as u64, "waits fired in real time");
    let mut lags: Vec<i64> = Vec::with_capacity(timers);
    let mut sent = 0;
    let started = Instant::now();
    let limit = std::time::Duration::from_secs(seconds + 120);
    while lags.len() < timers && started.elapsed() < limit {
        let r = rt.run_until_idle(false).await?;
        sent += r.sent;
        bar.inc(r.lags_ms.len() as u64);
        lags.extend(r.lags_ms);
        let pause = match rt.next_due().await? {
            Some(due) => (due - clock.now()).to_std().unwrap_or_default(),
            None => std::time::Duration::from_millis(20),
        };
        tokio::time::sleep(pause.clamp(
            std::time::Duration::from_millis(1),
            std::time::Duration::from_secs(1),
        ))
        .await;
    }
    bar.finish_and_clear();
    if lags.is_empty() {
        return Err(Refused("no timer fired".into()).into());
    }
    lags.sort_unstable();
    let pct = |p: f64| lags[((lags.len() as f64 * p).ceil() as usize).clamp(1, lags.len()) - 1];
    writeln!(
        out,
        "{} timers due over {} s ({:.0}/s) on {}: {} fired, {} letters sent; lag p50 {} ms, p99 {} ms, max {} ms",
        timers,
        seconds,
        timers as f64 / seconds as f64,
        store.backend_name(),
        lags.len(),
        sent,
        pct(0.50),
        pct(0.99),
        lags[lags.len() - 1],
    )?;
    store.close().await;
    Ok(())
}

//! `arrears bench engine`: N customers with one overdue invoice each run through a five-step
//! scenario (send, wait, send, wait, close) on the virtual clock; case steps per second.
//! Without `--db` it runs on a fresh temporary SQLite file; with `--db` the database must be
//! empty.

use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use arrears_engine::ledger::customer::{Contact, ContactKind};
use arrears_engine::ledger::document::CustomerRef;
use arrears_engine::ledger::{Actor, CustomerInput, DocumentInput, DocumentKind, LineInput};
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
    let url = match db {
        Some(u) => u.to_string(),
        None => tmp.path().join("bench.db").display().to_string(),
    };
    let store = Store::open(&url, clock.clone()).await?;
    let existing = store
        .customers(&CustomerFilter {
            limit: Some(1),
            ..Default::default()
        })
        .await?;
    if !existing.is_empty() {
        return Err(Refused("bench engine needs an empty database".into()).into());
    }
    // The scenario and its one template, in a directory of their own.
    let dir = tmp.path().join("scenarios");
    std::fs::create_dir_all(dir.join("templates/notice"))?;
    std::fs::write(dir.join("bench.yaml"), SCENARIO)?;
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

    let rt = crate::worker::runtime(store.clone());
    rt.deploy(&scenario.0, "bench").await?;
    let bar = progress_bar(4, "simulated days");
    let started = Instant::now();
    let total = rt.run_virtual(&clock, start, 4, |_, _| bar.inc(1)).await?;
    let elapsed = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    writeln!(
        out,
        "{} on {}: {} cases started, {} steps and {} messages in {:.1} s: {:.0} steps/s (starts included: {:.0} transitions/s)",
        cases,
        store.backend_name(),
        total.started,
        total.steps,
        total.sent,
        elapsed,
        total.steps as f64 / elapsed.max(1e-9),
        (total.steps + total.started) as f64 / elapsed.max(1e-9),
    )?;
    store.close().await;
    Ok(())
}

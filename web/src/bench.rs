//! `arrears bench ledger`: loads a synthetic book of invoices and payments through the same
//! booking path imports use (checks, duplicate detection, oldest-due-first allocation, one
//! transaction per batch), then times the aging report over it. Without `--db` it runs on a
//! fresh temporary SQLite file; with `--db` the database must be empty.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Duration as Days, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;

use arrears_engine::aging::Buckets;
use arrears_engine::ledger::document::CustomerRef;
use arrears_engine::ledger::{
    Actor, CustomerInput, DocumentInput, DocumentKind, LineInput, prepare_document,
};
use arrears_engine::store::{AgingQuery, CustomerFilter, Store};
use arrears_engine::{Currency, ManualClock};

use crate::cli::{Refused, progress_bar};
use crate::output::{Format, Table};

/// Customers per booking batch: each batch is one transaction.
const CUSTOMERS_PER_BATCH: usize = 1000;

#[derive(Debug, Serialize)]
struct LedgerBench {
    backend: &'static str,
    customers: usize,
    invoices: usize,
    payments: usize,
    allocations: usize,
    customer_load_seconds: f64,
    document_load_seconds: f64,
    documents_per_second: f64,
    aging_seconds: Vec<f64>,
    aging_best_seconds: f64,
    aging_rows: usize,
}

/// A benchmark's store: `db`, which must hold no customers, or a fresh SQLite file in `tmp`.
pub async fn empty_store(
    db: Option<&str>,
    tmp: &tempfile::TempDir,
    clock: Arc<dyn arrears_engine::clock::Clock>,
) -> anyhow::Result<Store> {
    let url = match db {
        Some(u) => u.to_string(),
        None => tmp.path().join("bench.db").display().to_string(),
    };
    let store = Store::open(&url, clock).await?;
    if !store
        .customers(&CustomerFilter {
            limit: Some(1),
            ..Default::default()
        })
        .await?
        .is_empty()
    {
        return Err(Refused(format!(
            "{} is not empty; the benchmark needs an empty database",
            arrears_engine::store::redact(&url)
        ))
        .into());
    }
    Ok(store)
}

pub async fn ledger(
    db: Option<&str>,
    invoices: usize,
    payments: usize,
    customers: usize,
    format: Format,
) -> anyhow::Result<()> {
    if customers == 0 || invoices < customers {
        return Err(Refused(
            "--invoices must be at least --customers, and --customers at least 1".into(),
        )
        .into());
    }
    let as_of = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap_or_default();
    let clock = Arc::new(ManualClock::at_date(as_of));
    let tmp = tempfile::tempdir()?;
    let store = empty_store(db, &tmp, clock).await?;
    eprintln!(
        "bench ledger on {}: {customers} customers, {invoices} invoices, {payments} payments",
        store.backend_name()
    );

    let started = Instant::now();
    let inputs: Vec<CustomerInput> = (0..customers)
        .map(|i| CustomerInput {
            external_id: format!("B{i:07}"),
            name: format!("Customer {i}"),
            category: ["consumer", "business", "public", "key_account"][i % 4].into(),
            language: "pl".into(),
            ..Default::default()
        })
        .collect();
    for chunk in inputs.chunks(10_000) {
        store.save_customers(chunk).await?;
    }
    let customer_load = started.elapsed();

    let actor = Actor("bench".into());
    let pb = progress_bar((invoices + payments) as u64, "documents");
    let started = Instant::now();
    let mut allocations = 0;
    let mut made_invoices = 0;
    let mut made_payments = 0;
    let start_day = as_of - Days::days(365);
    for first in (0..customers).step_by(CUSTOMERS_PER_BATCH) {
        let last = (first + CUSTOMERS_PER_BATCH).min(customers);
        let mut batch = Vec::new();
        for c in first..last {
            // Spread invoices and payments evenly; the first customers take the remainders.
            let n_inv = invoices / customers + usize::from(c < invoices % customers);
            let n_pay = payments / customers + usize::from(c < payments % customers);
            let customer = CustomerRef::External(format!("B{c:07}"));
            let mut amounts = Vec::with_capacity(n_inv);
            for k in 0..n_inv {
                let issue =
                    start_day + Days::days(((k * 365) / n_inv.max(1)) as i64 + (c % 20) as i64);
                let mut d = DocumentInput::new(
                    DocumentKind::Invoice,
                    format!("FV/{c}/{k}"),
                    customer.clone(),
                    Currency::PLN,
                    issue,
                );
                d.due_date = Some(issue + Days::days(14 + (c % 4) as i64 * 15));
                let net = Decimal::new(10_000 + ((c * 7919 + k * 104_729) % 500_000) as i64, 2);
                d.lines.push(LineInput {
                    description: "Services".into(),
                    quantity: Decimal::ONE,
                    unit_price: net,
                    tax_rate: Decimal::new(23, 0),
                });
                amounts.push((issue, net));
                batch.push(d);
                made_invoices += 1;
            }
            for k in 0..n_pay {
                let (issue, net) = amounts
                    .get(k % amounts.len().max(1))
                    .copied()
                    .unwrap_or((start_day, Decimal::ONE_HUNDRED));
                let paid = (issue + Days::days(10 + ((c + k) % 60) as i64)).min(as_of);
                let mut p = DocumentInput::new(
                    DocumentKind::Payment,
                    format!("P/{c}/{k}"),
                    customer.clone(),
                    Currency::PLN,
                    paid,
                );
                // Most pay in full, some in part: the remainder stays open.
                let share = if (c + k) % 7 == 0 {
                    Decimal::new(6, 1)
                } else {
                    Decimal::ONE
                };
                p.amount = Some((net * Decimal::new(123, 2) * share).round_dp(2));
                batch.push(p);
                made_payments += 1;
            }
        }
        let prepared: Result<Vec<_>, _> = batch.iter().map(prepare_document).collect();
        let prepared = prepared.map_err(|e| anyhow::anyhow!("bench data is invalid: {e:?}"))?;
        let n = prepared.len();
        let out = store.book_prepared(prepared, &actor, false).await?;
        allocations += out
            .booked
            .iter()
            .map(|b| b.allocations.len())
            .sum::<usize>();
        pb.inc(n as u64);
    }
    pb.finish_and_clear();
    let load = started.elapsed();
    store.analyze().await?;

    let mut aging_runs: Vec<Duration> = Vec::new();
    let mut aging_rows = 0;
    for run in 0..3 {
        let t = Instant::now();
        let report = store
            .aging(&AgingQuery {
                as_of,
                buckets: Buckets::default(),
                customer_id: None,
                detail: false,
            })
            .await?;
        aging_runs.push(t.elapsed());
        aging_rows = report.rows.len();
        eprintln!(
            "aging run {}: {:.3} s, {} rows",
            run + 1,
            t.elapsed().as_secs_f64(),
            aging_rows
        );
    }
    let result = LedgerBench {
        backend: store.backend_name(),
        customers,
        invoices: made_invoices,
        payments: made_payments,
        allocations,
        customer_load_seconds: customer_load.as_secs_f64(),
        document_load_seconds: load.as_secs_f64(),
        documents_per_second: (made_invoices + made_payments) as f64 / load.as_secs_f64().max(1e-9),
        aging_best_seconds: aging_runs
            .iter()
            .min()
            .map(Duration::as_secs_f64)
            .unwrap_or(0.0),
        aging_seconds: aging_runs.iter().map(Duration::as_secs_f64).collect(),
        aging_rows,
    };
    store.close().await;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&result)?),
        _ => {
            let mut t = Table::new(&["metric", "value"]);
            t.push(vec!["backend".into(), result.backend.into()]);
            t.push(vec![
                "customers loaded".into(),
                format!(
                    "{} in {:.2} s",
                    result.customers, result.customer_load_seconds
                ),
            ]);
            t.push(vec![
                "documents loaded".into(),
                format!(
                    "{} invoices + {} payments",
                    result.invoices, result.payments
                ),
            ]);
            t.push(vec![
                "allocations made".into(),
                result.allocations.to_string(),
            ]);
            t.push(vec![
                "document load".into(),
                format!("{:.2} s", result.document_load_seconds),
            ]);
            t.push(vec![
                "documents/s".into(),
                format!("{:.0}", result.documents_per_second),
            ]);
            t.push(vec![
                "aging (best of 3)".into(),
                format!(
                    "{:.3} s over {} customer rows",
                    result.aging_best_seconds, result.aging_rows
                ),
            ]);
            t.print_text(&mut std::io::stdout().lock())?;
        }
    }
    Ok(())
}

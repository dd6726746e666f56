//! Property test: any sequence of ledger operations, on SQLite and PostgreSQL, keeps the
//! ledger's invariants. No receivable is over-allocated; a balance equals receivables minus
//! allocations; money received equals what was allocated, refunded, transferred and what is
//! still unallocated; and a refused operation changes nothing.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use arrears_engine::ids::{CustomerId, DocumentId};
use arrears_engine::ledger::document::{CustomerRef, DocRef};
use arrears_engine::ledger::{Actor, CustomerInput, DocumentInput, DocumentKind};
use arrears_engine::store::{DocumentFilter, Store, StoreError};
use arrears_engine::testkit::TestDb;
use arrears_engine::{Currency, ManualClock};
use chrono::{Duration, NaiveDate};
use proptest::prelude::*;
use rust_decimal::Decimal;

#[derive(Debug, Clone)]
enum Op {
    Invoice {
        customer: usize,
        cents: i64,
        due_in: i64,
    },
    Payment {
        customer: usize,
        cents: i64,
        target: Option<usize>,
        auto: bool,
    },
    CreditNote {
        target: usize,
        cents: i64,
    },
    Refund {
        source: usize,
        cents: i64,
    },
    Transfer {
        source: usize,
        to: usize,
        cents: i64,
    },
    AutoAllocate {
        customer: usize,
    },
    Allocate {
        source: usize,
        target: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize, 1..50_000i64, 0..60i64).prop_map(|(customer, cents, due_in)| Op::Invoice { customer, cents, due_in }),
        3 => (0..3usize, 1..80_000i64, proptest::option::of(0..20usize), any::<bool>())
            .prop_map(|(customer, cents, target, auto)| Op::Payment { customer, cents, target, auto }),
        1 => (0..20usize, 1..30_000i64).prop_map(|(target, cents)| Op::CreditNote { target, cents }),
        1 => (0..20usize, 1..30_000i64).prop_map(|(source, cents)| Op::Refund { source, cents }),
        1 => (0..20usize, 0..3usize, 1..30_000i64).prop_map(|(source, to, cents)| Op::Transfer { source, to, cents }),
        1 => (0..3usize).prop_map(|customer| Op::AutoAllocate { customer }),
        1 => (0..20usize, 0..20usize).prop_map(|(source, target)| Op::Allocate { source, target }),
    ]
}

fn cents(c: i64) -> Decimal {
    Decimal::new(c, 2)
}

struct World {
    customers: Vec<CustomerId>,
    invoices: Vec<DocumentId>,
    credits: Vec<DocumentId>,
    day: NaiveDate,
    seq: usize,
}

async fn count_rows(store: &Store) -> Result<usize, StoreError> {
    Ok(store.documents(&DocumentFilter::default()).await?.len()
        + store.allocations(None, None, u32::MAX >> 1).await?.len())
}

async fn apply(store: &Store, w: &mut World, op: &Op) -> Result<(), StoreError> {
    let actor = Actor::system();
    w.seq += 1;
    w.day += Duration::days(1);
    let cust = |i: usize| CustomerRef::Id(w.customers[i % w.customers.len()]);
    let pick = |v: &Vec<DocumentId>, i: usize| (!v.is_empty()).then(|| v[i % v.len()]);
    match op {
        Op::Invoice {
            customer,
            cents: c,
            due_in,
        } => {
            let mut d = DocumentInput::new(
                DocumentKind::Invoice,
                format!("FV/{}", w.seq),
                cust(*customer),
                Currency::PLN,
                w.day,
            );
            d.due_date = Some(w.day + Duration::days(*due_in));
            d.amount = Some(cents(*c));
            let out = store.book(&[d], &actor).await?;
            w.invoices.push(out.booked[0].id);
        }
        Op::Payment {
            customer,
            cents: c,
            target,
            auto,
        } => {
            let mut d = DocumentInput::new(
                DocumentKind::Payment,
                format!("P/{}", w.seq),
                cust(*customer),
                Currency::PLN,
                w.day,
            );
            d.amount = Some(cents(*c));
            d.auto_allocate = *auto;
            if let Some(t) = target.and_then(|t| pick(&w.invoices, t)) {
                d.allocate_to = vec![DocRef::Id(t)];
            }
            let out = store.book(&[d], &actor).await?;
            w.credits.push(out.booked[0].id);
        }
        Op::CreditNote { target, cents: c } => {
            let Some(t) = pick(&w.invoices, *target) else {
                return Ok(());
            };
            let owner = store.document(t).await?.document.customer_id;
            let mut d = DocumentInput::new(
                DocumentKind::CreditNote,
                format!("KOR/{}", w.seq),
                CustomerRef::Id(owner),
                Currency::PLN,
                w.day,
            );
            d.amount = Some(cents(*c));
            d.corrects = Some(DocRef::Id(t));
            let out = store.book(&[d], &actor).await?;
            w.credits.push(out.booked[0].id);
        }
        Op::Refund { source, cents: c } => {
            let Some(s) = pick(&w.credits, *source) else {
                return Ok(());
            };
            store.refund(s, cents(*c), w.day, None, &actor).await?;
        }
        Op::Transfer {
            source,
            to,
            cents: c,
        } => {
            let Some(s) = pick(&w.credits, *source) else {
                return Ok(());
            };
            let rec = store
                .transfer(
                    s,
                    cents(*c),
                    w.day,
                    w.customers[to % w.customers.len()],
                    None,
                    &actor,
                )
                .await?;
            if let Some(doc) = rec.target_document_id {
                w.credits.push(doc);
            }
        }
        Op::AutoAllocate { customer } => {
            store
                .auto_allocate(w.customers[customer % w.customers.len()], &actor)
                .await?;
        }
        Op::Allocate { source, target } => {
            let (Some(s), Some(t)) = (pick(&w.credits, *source), pick(&w.invoices, *target)) else {
                return Ok(());
            };
            store.allocate(s, t, None, &actor).await?;
        }
    }
    Ok(())
}

async fn check_invariants(store: &Store, w: &World) -> Result<(), TestCaseError> {
    let fail = |e: StoreError| TestCaseError::fail(e.to_string());
    // The open-items index agrees with the ledger it is derived from.
    let problems = store.verify_open_items().await.map_err(fail)?;
    prop_assert!(
        problems.is_empty(),
        "open-items index disagrees: {:?}",
        problems
    );
    let docs = store
        .documents(&DocumentFilter::default())
        .await
        .map_err(fail)?;
    let allocs = store
        .allocations(None, None, u32::MAX >> 1)
        .await
        .map_err(fail)?;
    let mut to: HashMap<DocumentId, Decimal> = HashMap::new();
    let mut from: HashMap<DocumentId, Decimal> = HashMap::new();
    for a in &allocs {
        *to.entry(a.target_id).or_default() += a.amount;
        *from.entry(a.source_id).or_default() += a.amount;
    }
    for &customer in &w.customers {
        let mut receivables = Decimal::ZERO;
        let mut open = Decimal::ZERO;
        let mut received = Decimal::ZERO;
        let mut unallocated = Decimal::ZERO;
        let mut allocated_to = Decimal::ZERO;
        let mut allocated_from = Decimal::ZERO;
        let mut moved_out = Decimal::ZERO;
        for d in docs.iter().filter(|d| d.document.customer_id == customer) {
            let doc = &d.document;
            if doc.kind.is_receivable() {
                let alloc = to.get(&doc.id).copied().unwrap_or_default();
                prop_assert!(
                    alloc <= doc.gross,
                    "{} over-allocated: {} > {}",
                    doc.number,
                    alloc,
                    doc.gross
                );
                prop_assert_eq!(d.remaining, doc.gross - alloc, "open of {}", &doc.number);
                receivables += doc.gross;
                open += d.remaining;
                allocated_to += alloc;
            } else {
                prop_assert!(
                    d.remaining >= Decimal::ZERO,
                    "{} unallocated below zero",
                    doc.number
                );
                let alloc = from.get(&doc.id).copied().unwrap_or_default();
                let detail = store.document(doc.id).await.map_err(fail)?;
                let ops: Decimal = detail
                    .credit_operations
                    .iter()
                    .filter(|o| o.source_id == doc.id)
                    .map(|o| o.amount)
                    .sum();
                prop_assert_eq!(
                    doc.gross,
                    alloc + ops + d.remaining,
                    "money of {} not conserved",
                    &doc.number
                );
                received += doc.gross;
                unallocated += d.remaining;
                allocated_from += alloc;
                moved_out += ops;
            }
        }
        // balance = receivables - allocations
        let balances = store
            .balances(
                Some(customer),
                NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or_default(),
            )
            .await
            .map_err(fail)?;
        let row = balances.first();
        prop_assert_eq!(
            row.map(|r| r.open).unwrap_or_default(),
            receivables - allocated_to
        );
        prop_assert_eq!(row.map(|r| r.open).unwrap_or_default(), open);
        prop_assert_eq!(
            row.map(|r| r.unapplied_credit).unwrap_or_default(),
            unallocated
        );
        prop_assert_eq!(
            row.map(|r| r.balance).unwrap_or_default(),
            open - unallocated
        );
        // overpayment + allocations (+ money refunded or moved away) = money received
        prop_assert_eq!(unallocated + allocated_from + moved_out, received);

        // As of any earlier day, balances count only what was issued and allocated by then.
        for back in [1i64, 5, 15] {
            let day = w.day - Duration::days(back);
            let mut open_then = Decimal::ZERO;
            let mut credit_then = Decimal::ZERO;
            for d in docs
                .iter()
                .filter(|d| d.document.customer_id == customer && d.document.issue_date <= day)
            {
                let doc = &d.document;
                let detail = store.document(doc.id).await.map_err(fail)?;
                let allocated: Decimal = allocs
                    .iter()
                    .filter(|a| a.effective_date <= day)
                    .filter(|a| {
                        if doc.kind.is_receivable() {
                            a.target_id == doc.id
                        } else {
                            a.source_id == doc.id
                        }
                    })
                    .map(|a| a.amount)
                    .sum();
                if doc.kind.is_receivable() {
                    open_then += doc.gross - allocated;
                } else {
                    let ops: Decimal = detail
                        .credit_operations
                        .iter()
                        .filter(|o| o.source_id == doc.id && o.effective_date <= day)
                        .map(|o| o.amount)
                        .sum();
                    credit_then += doc.gross - allocated - ops;
                }
            }
            let then = store.balances(Some(customer), day).await.map_err(fail)?;
            prop_assert_eq!(
                then.first().map(|r| r.open).unwrap_or_default(),
                open_then,
                "open as of {}",
                day
            );
            prop_assert_eq!(
                then.first().map(|r| r.unapplied_credit).unwrap_or_default(),
                credit_then,
                "credit as of {}",
                day
            );
        }
    }
    Ok(())
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    for db in TestDb::all().await {
        let clock = Arc::new(ManualClock::at_date(
            NaiveDate::from_str("2026-01-01").unwrap_or_default(),
        ));
        let store = db
            .open(clock)
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let inputs: Vec<CustomerInput> = (0..3)
            .map(|i| CustomerInput {
                external_id: format!("C{i}"),
                name: format!("Customer {i}"),
                category: "business".into(),
                language: "en".into(),
                ..Default::default()
            })
            .collect();
        let saved = store
            .save_customers(&inputs)
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut w = World {
            customers: saved.created,
            invoices: Vec::new(),
            credits: Vec::new(),
            day: NaiveDate::from_str("2026-01-01").unwrap_or_default(),
            seq: 0,
        };
        for op in &ops {
            let before = count_rows(&store)
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            match apply(&store, &mut w, op).await {
                Ok(()) => {}
                Err(StoreError::Rejected(_)) => {
                    let after = count_rows(&store)
                        .await
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(
                        before,
                        after,
                        "a refused {:?} changed the ledger on {}",
                        op,
                        db.backend
                    );
                }
                Err(e) => return Err(TestCaseError::fail(format!("{}: {op:?}: {e}", db.backend))),
            }
        }
        check_invariants(&store, &w).await?;
        store.close().await;
        db.cleanup().await;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn ledger_invariants_hold_after_any_sequence_of_operations(ops in prop::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        rt.block_on(run(ops))?;
    }
}

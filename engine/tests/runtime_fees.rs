//! The `interest_note` and `fee` steps on the virtual clock, on SQLite and on PostgreSQL:
//! they book real receivables (in the balance, and in the next letter's open items), a fee
//! step visited twice charges once, and a refusal by the ledger pauses the case with the
//! reason.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use arrears_engine::ledger::customer::{Contact, ContactKind};
use arrears_engine::ledger::document::CustomerRef;
use arrears_engine::ledger::{Actor, CustomerInput, DocumentInput, DocumentKind, LineInput};
use arrears_engine::runtime::views::{self, HistoryLine};
use arrears_engine::runtime::{Channels, Runtime};
use arrears_engine::scenario::{Sandbox, check_source};
use arrears_engine::store::{DocumentFilter, InterestNoteFilter, Store};
use arrears_engine::testkit::TestDb;
use arrears_engine::{Currency, ManualClock};
use chrono::NaiveDate;
use rust_decimal::Decimal;

/// Interest, then a fee, then a loop back to the fee (a second visit), then a letter.
const SCENARIO: &str = r#"
id: late-fees
title: Late fees
description: An interest note and a fee, the fee step visited twice, then a reminder.
applies_to: customer.category == "business"
priority: 10
case_per: customer
start_when: days_overdue >= 3
calendar: PL
languages: [en, pl]
vars:
  visits: 0
steps:
  - id: interest
    interest_note: { rate_table: statutory_pl_commercial, minimum: "1.00" }
  - id: fee
    fee: { amount: "40.00", reason: "recovery cost compensation" }
  - id: count
    set: { visits: "vars.visits + 1" }
  - id: again
    switch:
      - when: vars.visits < 2
        goto: fee
      - goto: reminder
  - id: reminder
    send: { template: reminder, channels: [email] }
  - id: wait
    wait: 30 days
  - id: done
    close: ended
"#;

fn date(s: &str) -> NaiveDate {
    NaiveDate::from_str(s).expect("date")
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

fn customer(ext: &str) -> CustomerInput {
    CustomerInput {
        external_id: ext.into(),
        name: format!("Customer {ext}"),
        category: "business".into(),
        language: "pl".into(),
        contacts: vec![Contact {
            kind: ContactKind::Email,
            value: format!("{ext}@example.com"),
            label: None,
        }],
        ..Default::default()
    }
}

fn invoice(number: &str, cust: &str, amount: &str) -> DocumentInput {
    let mut d = DocumentInput::new(
        DocumentKind::Invoice,
        number,
        CustomerRef::External(cust.into()),
        Currency::PLN,
        date("2026-10-14"),
    );
    d.due_date = Some(date("2026-10-28"));
    d.lines = vec![LineInput {
        description: "Services".into(),
        quantity: Decimal::ONE,
        unit_price: dec(amount),
        tax_rate: Decimal::ZERO,
    }];
    d
}

struct World {
    db: TestDb,
    store: Store,
    clock: Arc<ManualClock>,
    rt: Runtime,
}

/// A case per invoice: two cases of one customer run in the same batches.
const PER_INVOICE: &str = r#"
id: late-fees-per-invoice
title: Late fees per invoice
description: An interest note and a fee for each overdue invoice's case.
applies_to: customer.category == "business"
priority: 10
case_per: invoice
start_when: days_overdue >= 3
calendar: PL
languages: [en, pl]
steps:
  - id: interest
    interest_note: { rate_table: statutory_pl_commercial }
  - id: fee
    fee: { amount: "40.00", reason: "recovery cost compensation" }
  - id: reminder
    send: { template: reminder, channels: [email] }
  - id: wait
    wait: 30 days
  - id: done
    close: ended
"#;

async fn worlds() -> Vec<World> {
    worlds_with(SCENARIO).await
}

async fn worlds_with(source: &str) -> Vec<World> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let outcome = check_source("late-fees.yaml", source, &dir, &Sandbox::new());
    let mut scenario = outcome
        .scenario
        .unwrap_or_else(|| panic!("the test scenario checks: {:?}", outcome.diagnostics));
    scenario.source_path = dir.join("late-fees.yaml");
    let mut out = Vec::new();
    for db in TestDb::all().await {
        let clock = Arc::new(ManualClock::at_date(date("2026-11-02")));
        let store = db
            .open(clock.clone())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", db.backend));
        let rt = Runtime::new(store.clone(), Channels::default());
        rt.deploy(&scenario, "test").await.expect("deploy");
        out.push(World {
            db,
            store,
            clock,
            rt,
        });
    }
    out
}

impl World {
    async fn run(&self, from: &str, days: u32) {
        self.rt
            .run_virtual(&self.clock, date(from), days, |_, _| {})
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", self.db.backend));
    }

    async fn history(&self) -> Vec<HistoryLine> {
        views::history(&self.store).await.expect("history")
    }
}

#[tokio::test]
async fn interest_note_and_fee_steps_book_receivables_that_the_next_letter_lists() {
    for w in worlds().await {
        let backend = w.db.backend;
        w.store
            .save_customers(&[customer("B1")])
            .await
            .expect("customer");
        w.store
            .book(&[invoice("FV/1", "B1", "1000.00")], &Actor::system())
            .await
            .expect("invoice");
        w.run("2026-11-02", 1).await;
        let history = w.history().await;

        // 1000.00 due 2026-10-28, 29 October to 2 November (5 days) at 14.00 %, act/365:
        // 1000.00 x 0.14 x 5 / 365 = 1.9178 -> 1.92.
        let notes = w
            .store
            .interest_notes(&InterestNoteFilter::default())
            .await
            .expect("notes");
        assert_eq!(notes.len(), 1, "{backend}: {history:#?}");
        let note = &notes[0];
        assert_eq!(note.total, dec("1.92"), "{backend}");
        assert_eq!(note.as_of, date("2026-11-02"));
        assert_eq!(note.rate_table, "statutory_pl_commercial");
        assert_eq!(note.prepared_by, "system");
        let issued: Vec<&HistoryLine> = history
            .iter()
            .filter(|h| h.kind == "interest_note_issued")
            .collect();
        assert_eq!(issued.len(), 1, "{backend}: {history:#?}");
        assert!(
            issued[0].message.contains(&note.number) && issued[0].message.contains("1.92 PLN"),
            "{backend}: {}",
            issued[0].message
        );

        // The fee step ran twice (the switch went back to it) and charged once.
        let kinds: Vec<&str> = history
            .iter()
            .filter(|h| h.step.as_deref() == Some("fee") && h.kind.starts_with("fee"))
            .map(|h| h.kind.as_str())
            .collect();
        assert_eq!(
            kinds,
            ["fee_charged", "fee_already_charged"],
            "{backend}: {history:#?}"
        );
        let fees = w
            .store
            .documents(&DocumentFilter {
                kinds: vec![DocumentKind::Fee],
                ..Default::default()
            })
            .await
            .expect("documents");
        assert_eq!(fees.len(), 1, "{backend}: {fees:?}");

        // Both are receivables: in the balance (due in 14 days, so not overdue yet) ...
        let c = w
            .store
            .customer_by_external_id("B1")
            .await
            .expect("customer")
            .expect("known customer");
        let balance = w
            .store
            .balances(Some(c.id), date("2026-11-02"))
            .await
            .expect("balance");
        assert_eq!(balance[0].open, dec("1041.92"), "{backend}");
        assert_eq!(balance[0].overdue, dec("1000.00"), "{backend}");

        // ... and in the open items of the letter that followed, which ran in a later
        // transition with the ledger facts loaded again.
        let outbox = views::outbox(&w.store).await.expect("outbox");
        let reminder = outbox
            .iter()
            .find(|m| m.template.as_deref() == Some("reminder"))
            .unwrap_or_else(|| panic!("{backend}: no reminder: {history:#?}"));
        let payload: serde_json::Value = serde_json::from_str(&reminder.payload).expect("payload");
        let items: Vec<&str> = payload["open_items"]
            .as_array()
            .expect("open items")
            .iter()
            .filter_map(|i| i["number"].as_str())
            .collect();
        assert!(
            items.contains(&"FV/1") && items.contains(&note.number.as_str()),
            "{backend}: {items:?}"
        );
        assert!(
            items.iter().any(|n| n.starts_with("FEE/")),
            "{backend}: {items:?}"
        );
        assert_eq!(payload["balance"]["total"], "1041.92", "{backend}");

        let cases = views::cases(&w.store).await.expect("cases");
        assert_eq!(cases[0].step, "wait", "{backend}");
        w.db.cleanup().await;
    }
}

#[tokio::test]
async fn a_ledger_refusal_in_an_interest_step_pauses_the_case_with_the_reason() {
    for w in worlds().await {
        let backend = w.db.backend;
        let mut bad = customer("B2");
        bad.custom_fields
            .insert("interest_rate_percent".into(), "lots".into());
        w.store
            .save_customers(&[customer("B1"), bad])
            .await
            .expect("customers");
        w.store
            .book(
                &[
                    invoice("FV/1", "B1", "1000.00"),
                    invoice("FV/2", "B2", "500.00"),
                ],
                &Actor::system(),
            )
            .await
            .expect("invoices");
        w.run("2026-11-02", 1).await;
        let cases = views::cases(&w.store).await.expect("cases");
        let history = w.history().await;
        let b2 = cases
            .iter()
            .find(|c| c.subject == "customer:B2")
            .unwrap_or_else(|| panic!("{backend}: {history:#?}"));
        assert_eq!(
            (b2.status.as_str(), b2.step.as_str()),
            ("paused", "interest"),
            "{backend}: {history:#?}"
        );
        let error = history
            .iter()
            .find(|h| h.subject == "customer:B2" && h.kind == "error")
            .unwrap_or_else(|| panic!("{backend}: {history:#?}"));
        assert!(
            error.message.contains("interest_rate_percent"),
            "{backend}: {}",
            error.message
        );
        // The other customer's case went on: its note and fee are booked, nothing for B2.
        let b1 = cases
            .iter()
            .find(|c| c.subject == "customer:B1")
            .unwrap_or_else(|| panic!("{backend}: {history:#?}"));
        assert_eq!(b1.step, "wait", "{backend}: {history:#?}");
        let notes = w
            .store
            .interest_notes(&InterestNoteFilter::default())
            .await
            .expect("notes");
        assert_eq!(notes.len(), 1, "{backend}");
        assert_eq!(notes[0].customer_external_id, "B1");
        w.db.cleanup().await;
    }
}

#[tokio::test]
async fn two_cases_of_one_customer_in_one_batch_book_on_fresh_facts_and_both_go_on() {
    for w in worlds_with(PER_INVOICE).await {
        let backend = w.db.backend;
        w.store
            .save_customers(&[customer("B1")])
            .await
            .expect("customer");
        w.store
            .book(
                &[
                    invoice("FV/1", "B1", "1000.00"),
                    invoice("FV/2", "B1", "500.00"),
                ],
                &Actor::system(),
            )
            .await
            .expect("invoices");
        // Both cases start in one batch. The first case's note covers both invoices; the
        // second case's steps are put back to the next round (the customer's facts are
        // stale after a booking) and must still run: its interest step finds nothing left
        // to charge, and each case charges its own fee.
        w.run("2026-11-02", 1).await;
        let history = w.history().await;
        let cases = views::cases(&w.store).await.expect("cases");
        assert_eq!(cases.len(), 2, "{backend}: {history:#?}");
        for c in &cases {
            assert_eq!(
                (c.status.as_str(), c.step.as_str()),
                ("waiting", "wait"),
                "{backend}: {history:#?}"
            );
        }
        let count = |kind: &str| history.iter().filter(|h| h.kind == kind).count();
        assert_eq!(count("interest_note_issued"), 1, "{backend}: {history:#?}");
        assert_eq!(count("interest_note_skipped"), 1, "{backend}: {history:#?}");
        assert_eq!(count("fee_charged"), 2, "{backend}: {history:#?}");
        let notes = w
            .store
            .interest_notes(&InterestNoteFilter::default())
            .await
            .expect("notes");
        assert_eq!(notes.len(), 1, "{backend}");
        // 1500.00 x 0.14 x 5 / 365 = 2.8767 -> 2.88.
        assert_eq!(notes[0].total, dec("2.88"), "{backend}");
        w.db.cleanup().await;
    }
}

const FINAL_LETTER: &str = r#"
id: final-letter
title: A last reminder, then the case ends
applies_to: customer.category == "business"
priority: 10
case_per: customer
start_when: days_overdue >= 3
calendar: PL
languages: [en, pl]
steps:
  - id: reminder
    send: { template: reminder, channels: [email] }
  - id: done
    close: ended
"#;

/// A send step chained into a close step in one transition: the close withdraws letters
/// earlier transitions left unsent, not the one this transition has just decided.
#[tokio::test]
async fn a_letter_sent_by_the_step_before_a_close_still_goes_out() {
    for w in worlds_with(FINAL_LETTER).await {
        let backend = w.db.backend;
        w.store
            .save_customers(&[customer("B1")])
            .await
            .expect("customer");
        w.store
            .book(&[invoice("FV/1", "B1", "1000.00")], &Actor::system())
            .await
            .expect("invoice");
        w.run("2026-11-02", 1).await;
        let outbox = views::outbox(&w.store).await.expect("outbox");
        assert_eq!(outbox.len(), 1, "{backend}: {outbox:#?}");
        assert_eq!(outbox[0].status, "sent", "{backend}: {outbox:#?}");
        let cases = views::cases(&w.store).await.expect("cases");
        assert_eq!(cases.len(), 1, "{backend}");
        assert_eq!(cases[0].status, "closed", "{backend}: {cases:#?}");
        let kinds: Vec<String> = w.history().await.into_iter().map(|h| h.kind).collect();
        let closed = kinds.iter().position(|k| k == "closed");
        let delivered = kinds.iter().position(|k| k == "delivered");
        assert!(
            closed.is_some() && delivered.is_some(),
            "{backend}: {kinds:?}"
        );
        w.db.cleanup().await;
    }
}

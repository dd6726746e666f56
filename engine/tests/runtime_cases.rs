//! The shipped scenarios on the virtual clock, on SQLite and on PostgreSQL: the reminder goes
//! out on the right business day, a payment closes the case, a promise pauses it, a task
//! moves it on, and the consumer and business paths diverge.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use arrears_engine::ids::TaskId;
use arrears_engine::ledger::customer::{Contact, ContactKind};
use arrears_engine::ledger::document::CustomerRef;
use arrears_engine::ledger::{Actor, CustomerInput, DocumentInput, DocumentKind, LineInput};
use arrears_engine::runtime::views::{self, HistoryLine, OutboxLine};
use arrears_engine::runtime::{Channels, Event, Runtime};
use arrears_engine::scenario::{Sandbox, check_paths};
use arrears_engine::store::Store;
use arrears_engine::testkit::TestDb;
use arrears_engine::{Currency, ManualClock};
use chrono::NaiveDate;
use rust_decimal::Decimal;

fn date(s: &str) -> NaiveDate {
    NaiveDate::from_str(s).unwrap_or_default()
}

fn customer(ext: &str, category: &str) -> CustomerInput {
    CustomerInput {
        external_id: ext.into(),
        name: format!("Customer {ext}"),
        category: category.into(),
        language: "pl".into(),
        contacts: vec![
            Contact {
                kind: ContactKind::Email,
                value: format!("{ext}@example.com"),
                label: None,
            },
            Contact {
                kind: ContactKind::Phone,
                value: "+48600100200".into(),
                label: None,
            },
            Contact {
                kind: ContactKind::Postal,
                value: "ul. Prosta 1, 00-001 Warszawa".into(),
                label: None,
            },
        ],
        ..Default::default()
    }
}

fn invoice(number: &str, cust: &str, issue: &str, due: &str, amount: &str) -> DocumentInput {
    let mut d = DocumentInput::new(
        DocumentKind::Invoice,
        number,
        CustomerRef::External(cust.into()),
        Currency::PLN,
        date(issue),
    );
    d.due_date = Some(date(due));
    d.lines = vec![LineInput {
        description: "Services".into(),
        quantity: Decimal::ONE,
        unit_price: Decimal::from_str(amount).unwrap_or_default(),
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

/// One world per backend: the shipped scenarios deployed, a clock on 2026-11-02.
async fn worlds() -> Vec<World> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let checked = check_paths(&[dir], &Sandbox::new()).expect("scenarios");
    let mut out = Vec::new();
    for db in TestDb::all().await {
        let clock = Arc::new(ManualClock::at_date(date("2026-11-02")));
        let store = db
            .open(clock.clone())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", db.backend));
        let rt = Runtime::new(store.clone(), Channels::default());
        for o in &checked {
            let mut sc = o.scenario.clone().expect("shipped scenarios check");
            sc.source_path = o.path.clone();
            rt.deploy(&sc, "test").await.expect("deploy");
        }
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

    async fn outbox(&self) -> Vec<OutboxLine> {
        views::outbox(&self.store).await.expect("outbox")
    }

    async fn history(&self) -> Vec<HistoryLine> {
        views::history(&self.store).await.expect("history")
    }

    async fn pay(&self, cust: &str, number: &str, on: &str, amount: &str) {
        self.clock
            .set(date(on).and_hms_opt(6, 0, 0).expect("time").and_utc());
        let mut p = DocumentInput::new(
            DocumentKind::Payment,
            number,
            CustomerRef::External(cust.into()),
            Currency::PLN,
            date(on),
        );
        p.amount = Some(Decimal::from_str(amount).unwrap_or_default());
        self.store
            .book(&[p], &Actor::system())
            .await
            .expect("payment");
        let c = self
            .store
            .customer_by_external_id(cust)
            .await
            .expect("customer")
            .expect("known customer");
        self.store
            .auto_allocate(c.id, &Actor::system())
            .await
            .expect("allocation");
    }
}

fn sent_on(outbox: &[OutboxLine], template: &str) -> Vec<(String, NaiveDate)> {
    outbox
        .iter()
        .filter(|m| m.template.as_deref() == Some(template))
        .map(|m| (m.channel.clone(), m.created_at.date_naive()))
        .collect()
}

#[tokio::test]
async fn business_reminders_go_out_on_polish_business_days_and_payment_closes_the_case() {
    for w in worlds().await {
        w.store
            .save_customers(&[customer("B1", "business")])
            .await
            .expect("customer");
        w.store
            .book(
                &[invoice("FV/1", "B1", "2026-10-14", "2026-10-28", "1000.00")],
                &Actor::system(),
            )
            .await
            .expect("invoice");
        // 2 November to 12 November: the first reminder on the 2nd, its deadline 7 business
        // days later skips the weekends and Independence Day (11 November).
        w.run("2026-11-02", 11).await;
        let out = w.outbox().await;
        let backend = w.db.backend;
        assert_eq!(
            sent_on(&out, "reminder"),
            [
                ("email".to_string(), date("2026-11-02")),
                ("letter".to_string(), date("2026-11-02"))
            ],
            "{backend}"
        );
        assert_eq!(
            sent_on(&out, "reminder_2"),
            [("email".to_string(), date("2026-11-12"))],
            "{backend}"
        );
        assert!(out.iter().all(|m| m.status == "sent"), "{backend}: {out:?}");
        let keys: std::collections::HashSet<_> = out.iter().map(|m| &m.idempotency_key).collect();
        assert_eq!(keys.len(), out.len(), "idempotency keys are unique");

        w.pay("B1", "PAY/1", "2026-11-13", "1000.00").await;
        w.run("2026-11-13", 1).await;
        let cases = views::cases(&w.store).await.expect("cases");
        assert_eq!(cases.len(), 1, "{backend}");
        assert_eq!(
            cases[0].status,
            "closed",
            "{backend}: {:#?}",
            w.history().await
        );
        assert_eq!(cases[0].close_reason.as_deref(), Some("paid"), "{backend}");
        let history = w.history().await;
        assert!(
            history
                .iter()
                .any(|h| h.kind == "closed" && h.message.contains("cleared the overdue balance")),
            "{backend}: {history:#?}"
        );
        w.db.cleanup().await;
    }
}

#[tokio::test]
async fn a_partial_payment_keeps_the_case_and_a_promise_pauses_it_until_its_date() {
    for w in worlds().await {
        let backend = w.db.backend;
        w.store
            .save_customers(&[customer("B2", "business")])
            .await
            .expect("customer");
        w.store
            .book(
                &[invoice("FV/2", "B2", "2026-10-14", "2026-10-28", "5000.00")],
                &Actor::system(),
            )
            .await
            .expect("invoice");
        w.run("2026-11-02", 2).await;
        w.pay("B2", "PAY/2", "2026-11-04", "1000.00").await;
        w.run("2026-11-04", 1).await;
        let cases = views::cases(&w.store).await.expect("cases");
        assert_eq!(
            cases[0].status, "waiting",
            "{backend}: a partial payment does not close"
        );
        assert!(
            w.history()
                .await
                .iter()
                .any(|h| h.kind == "payment" && h.message.contains("4000.00")),
            "{backend}"
        );

        let c = w
            .store
            .customer_by_external_id("B2")
            .await
            .expect("customer")
            .expect("known customer");
        w.rt.post_event(
            Some(c.id),
            None,
            &Event::PromiseToPay {
                date: date("2026-11-20"),
                amount: Decimal::from(4000),
            },
            "user:anna",
        )
        .await
        .expect("event");
        w.run("2026-11-05", 20).await;
        let out = w.outbox().await;
        // The promise replaced the reminder path: no second reminder while it ran.
        assert!(sent_on(&out, "reminder_2").is_empty(), "{backend}: {out:?}");
        // The day after the promised date, still unpaid, the collector is asked to call.
        let history = w.history().await;
        let call = history
            .iter()
            .find(|h| h.kind == "task_created" && h.step.as_deref() == Some("call"))
            .unwrap_or_else(|| panic!("{backend}: no call task: {history:#?}"));
        assert_eq!(call.at.date_naive(), date("2026-11-21"), "{backend}");
        assert!(
            history
                .iter()
                .any(|h| h.kind == "goto" && h.message.contains("switch took the default")),
            "{backend}"
        );

        // The collector gets no answer: the scenario counts the call and asks again.
        let inbox = views::inbox(&w.store, None, &[]).await.expect("inbox");
        let task = inbox
            .iter()
            .find(|t| t.step.as_deref() == Some("call"))
            .expect("call task");
        w.rt.complete_task(
            TaskId(task.id),
            "no_answer",
            &serde_json::json!({ "call_note": "voicemail" }),
            "user:anna",
        )
        .await
        .expect("complete");
        let bad =
            w.rt.complete_task(
                TaskId(task.id),
                "no_answer",
                &serde_json::json!({}),
                "user:anna",
            )
            .await;
        assert!(bad.is_err(), "a task completes once");
        // The clock stands at the last day run (24 November); the engine goes on from the 25th.
        w.run("2026-11-25", 1).await;
        let cases = views::cases(&w.store).await.expect("cases");
        assert_eq!(cases[0].step, "call", "{backend}");
        assert!(
            cases[0].vars.contains("\"call_attempts\":1"),
            "{backend}: {}",
            cases[0].vars
        );
        w.db.cleanup().await;
    }
}

#[tokio::test]
async fn consumer_and_business_customers_take_different_paths() {
    for w in worlds().await {
        let backend = w.db.backend;
        w.store
            .save_customers(&[customer("K1", "consumer"), customer("B3", "business")])
            .await
            .expect("customers");
        w.store
            .book(
                &[
                    invoice("FV/K1", "K1", "2026-10-06", "2026-10-20", "300.00"),
                    invoice("FV/B3", "B3", "2026-10-06", "2026-10-20", "300.00"),
                ],
                &Actor::system(),
            )
            .await
            .expect("invoices");
        w.run("2026-11-02", 1).await;
        let cases = views::cases(&w.store).await.expect("cases");
        let scenario_of = |c: &str| {
            cases
                .iter()
                .find(|k| k.customer == c)
                .map(|k| k.scenario_id.clone())
        };
        assert_eq!(scenario_of("K1").as_deref(), Some("consumer"), "{backend}");
        assert_eq!(
            scenario_of("B3").as_deref(),
            Some("b2b-standard"),
            "{backend}"
        );
        let out = w.outbox().await;
        let first_for = |c: &str| {
            out.iter()
                .find(|m| m.idempotency_key.contains(&format!("/{c}/")))
                .and_then(|m| m.template.clone())
        };
        assert_eq!(
            first_for("K1").as_deref(),
            Some("information_letter"),
            "{backend}"
        );
        assert_eq!(first_for("B3").as_deref(), Some("reminder"), "{backend}");
        w.db.cleanup().await;
    }
}

#[tokio::test]
async fn running_cases_keep_their_version_until_migrated_with_an_explicit_step_map() {
    for w in worlds().await {
        let backend = w.db.backend;
        w.store
            .save_customers(&[customer("B4", "business")])
            .await
            .expect("customer");
        w.store
            .book(
                &[invoice("FV/4", "B4", "2026-10-14", "2026-10-28", "700.00")],
                &Actor::system(),
            )
            .await
            .expect("invoice");
        w.run("2026-11-02", 1).await;
        // Version 2 renames the step the case waits in.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let source = std::fs::read_to_string(dir.join("b2b-standard.yaml")).expect("source");
        let changed = source.replace("id: wait_1", "id: wait_first");
        let outcome =
            arrears_engine::scenario::check_source("b2b-v2.yaml", &changed, &dir, &Sandbox::new());
        let mut v2 = outcome.scenario.expect("version 2 checks");
        v2.source_path = dir.join("b2b-standard.yaml");
        let deployed = w.rt.deploy(&v2, "test").await.expect("deploy");
        assert_eq!(deployed.version, 2, "{backend}");
        let cases = views::cases(&w.store).await.expect("cases");
        assert_eq!(
            (cases[0].version, cases[0].step.as_str()),
            (1, "wait_1"),
            "{backend}: a running case keeps its version"
        );

        let none = std::collections::BTreeMap::new();
        let refused =
            w.rt.migrate("b2b-standard", 1, 2, &none, true, "test")
                .await;
        let err = refused.expect_err("wait_1 is not in version 2").to_string();
        assert!(err.contains("`wait_1` (1 case(s))"), "{backend}: {err}");

        let map: std::collections::BTreeMap<String, String> =
            [("wait_1".to_string(), "wait_first".to_string())].into();
        let preview =
            w.rt.migrate("b2b-standard", 1, 2, &map, true, "test")
                .await
                .expect("dry run");
        assert_eq!(preview.len(), 1);
        assert_eq!(
            (preview[0].to_step.as_str(), preview[0].cases),
            ("wait_first", 1)
        );
        let cases = views::cases(&w.store).await.expect("cases");
        assert_eq!(cases[0].version, 1, "{backend}: a dry run changes nothing");

        w.rt.migrate("b2b-standard", 1, 2, &map, false, "test")
            .await
            .expect("migrate");
        let cases = views::cases(&w.store).await.expect("cases");
        assert_eq!(
            (cases[0].version, cases[0].step.as_str()),
            (2, "wait_first"),
            "{backend}"
        );
        // The case goes on in version 2: the second reminder still goes out.
        w.run("2026-11-03", 12).await;
        assert_eq!(
            sent_on(&w.outbox().await, "reminder_2").len(),
            1,
            "{backend}"
        );
        w.db.cleanup().await;
    }
}

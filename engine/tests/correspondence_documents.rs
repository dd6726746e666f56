//! Documents on SQLite and PostgreSQL: a scenario's letters and e-mails are prepared from
//! the ledger, kept in the archive and sent; a step with `approve:` holds its documents
//! until someone approves them (four eyes, several at once); a document prepared by hand
//! cannot be approved by its preparer; duplicates are marked; the day's letters make one
//! print batch; delivery reports are recorded.

use std::str::FromStr;
use std::sync::Arc;

use arrears_engine::correspondence::render::format_money;
use arrears_engine::correspondence::{
    Correspondence, DeliveryUpdate, DocumentFilter, DocumentStatus,
};
use arrears_engine::ledger::customer::{Contact, ContactKind};
use arrears_engine::ledger::document::CustomerRef;
use arrears_engine::ledger::{Actor, CustomerInput, DocumentInput, DocumentKind, LineInput};
use arrears_engine::runtime::{Channels, Runtime, views};
use arrears_engine::scenario::{Channel, Sandbox, check_paths};
use arrears_engine::store::{Store, StoreError};
use arrears_engine::testkit::{TestDb, pdf_text, scenario_dir};
use arrears_engine::{Currency, ManualClock};
use chrono::NaiveDate;
use rust_decimal::Decimal;

const SCENARIO: &str = r#"
id: letters
title: Letters
applies_to: customer.category == "business"
case_per: customer
start_when: days_overdue >= 1
calendar: generic
languages: [pl, en]
steps:
  - id: reminder
    send: { template: reminder, channels: [email, letter], deadline: 7 days }
  - id: notice
    send: { template: formal_notice, channels: [registered_letter], deadline: 7 days, approve: supervisor }
  - id: wait
    wait: until deadline
  - id: done
    close: finished
"#;

fn date(s: &str) -> NaiveDate {
    NaiveDate::from_str(s).unwrap_or_default()
}

pub fn customer(ext: &str, name: &str) -> CustomerInput {
    CustomerInput {
        external_id: ext.into(),
        name: name.into(),
        category: "business".into(),
        language: "pl".into(),
        contacts: vec![
            Contact {
                kind: ContactKind::Email,
                value: format!("{}@example.com", ext.to_lowercase()),
                label: None,
            },
            Contact {
                kind: ContactKind::Postal,
                value: "ul. Świętokrzyska 12/4, 00-116 Warszawa".into(),
                label: None,
            },
        ],
        ..Default::default()
    }
}

fn invoice(number: &str, cust: &str, due: &str, amount: &str) -> DocumentInput {
    let mut d = DocumentInput::new(
        DocumentKind::Invoice,
        number,
        CustomerRef::External(cust.into()),
        Currency::PLN,
        date("2026-01-02"),
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

fn money(s: &str) -> String {
    format_money(Decimal::from_str(s).unwrap_or_default(), "PLN", "pl").replace('\u{a0}', " ")
}

async fn world(db: &TestDb) -> (Store, Runtime, tempfile::TempDir) {
    let dir = scenario_dir(SCENARIO);
    let clock = Arc::new(ManualClock::at_date(date("2026-03-16")));
    let store = db.open(clock).await.expect("store");
    let corr = Correspondence::load(dir.path(), "https://pay.example.com").expect("templates");
    let rt = Runtime::new(store.clone(), Channels::default()).with_correspondence(Arc::new(corr));
    let checked =
        check_paths(&[dir.path().join("scenario.yaml")], &Sandbox::new()).expect("checks");
    let mut sc = checked[0].scenario.clone().expect("the scenario checks");
    sc.source_path = checked[0].path.clone();
    rt.deploy(&sc, "test").await.expect("deploy");
    store
        .save_customers(&[customer("ZGJ", "Zażółć Gęślą Jaźń sp. z o.o.")])
        .await
        .expect("customer");
    store
        .book(
            &[
                invoice("FV/2026/01/117", "ZGJ", "2026-01-31", "1234.56"),
                invoice("FV/2026/02/005", "ZGJ", "2026-02-28", "800.00"),
                invoice("FV/2026/03/020", "ZGJ", "2026-03-31", "13999.94"),
            ],
            &Actor::system(),
        )
        .await
        .expect("invoices");
    (store, rt, dir)
}

#[tokio::test]
async fn documents_are_prepared_approved_by_another_person_sent_and_archived() {
    for db in TestDb::all().await {
        let (store, rt, _dir) = world(&db).await;
        let b = db.backend;
        rt.run_until_idle(true).await.expect("engine");

        let docs = store
            .archive(&DocumentFilter::default())
            .await
            .expect("list");
        let by = |channel: &str| {
            docs.iter()
                .find(|d| d.channel == channel)
                .unwrap_or_else(|| panic!("{b}: no {channel} document in {docs:?}"))
                .clone()
        };
        let email = by("email");
        let letter = by("letter");
        let notice = by("registered_letter");
        assert_eq!(email.status, "sent", "{b}");
        assert_eq!(letter.status, "sent", "{b}");
        assert_eq!(email.language, "pl");
        assert!(
            email.pdf_size > 0,
            "{b}: the e-mail carries the letter as a PDF"
        );
        assert_eq!(notice.status, "prepared", "{b}: held for approval");
        assert_eq!(notice.prepared_by, "system");

        // The letter as sent: the customer, the balance, every open item.
        let pdf = store
            .document_pdf(letter.id)
            .await
            .expect("pdf")
            .expect("a PDF");
        let text = pdf_text(&pdf);
        assert!(
            text.contains("Zażółć Gęślą Jaźń sp. z o.o."),
            "{b}:\n{text}"
        );
        assert!(
            text.contains(&money("16034.50")),
            "{b}: the balance:\n{text}"
        );
        for (number, open) in [
            ("FV/2026/01/117", "1234.56"),
            ("FV/2026/02/005", "800.00"),
            ("FV/2026/03/020", "13999.94"),
        ] {
            assert!(text.contains(number), "{b}: {number}:\n{text}");
            assert!(text.contains(&money(open)), "{b}: {open}:\n{text}");
        }
        assert!(
            text.contains("https://pay.example.com/pay/"),
            "{b}: the debtor link"
        );
        let notice_text = pdf_text(
            &store
                .document_pdf(notice.id)
                .await
                .expect("pdf")
                .expect("pdf"),
        );
        assert!(notice_text.contains("LIST POLECONY"), "{b}:\n{notice_text}");

        // A demand prepared by hand: its preparer cannot approve it, even together with
        // another document (nothing is approved then).
        let case = notice.case_id.expect("a case");
        let manual = rt
            .prepare_document(case, "reminder_2", Channel::Letter, "user:anna")
            .await
            .expect("prepared");
        let refused = rt
            .approve_documents(&[notice.id, manual], "user:anna")
            .await;
        match refused {
            Err(arrears_engine::runtime::RuntimeError::Store(StoreError::Rejected(r))) => {
                assert_eq!(r.len(), 1, "{b}: {r:?}");
                assert_eq!(r[0].item, 1);
                assert!(r[0].error.message.contains("four eyes"), "{b}: {r:?}");
            }
            other => panic!("{b}: expected a refusal, got {other:?}"),
        }
        assert_eq!(
            store.archived(notice.id).await.expect("doc").status,
            "prepared"
        );

        // Boris approves both at once; they go out; the case moves past the notice.
        let n = rt
            .approve_documents(&[notice.id, manual], "user:boris")
            .await
            .expect("approved");
        assert_eq!(n, 2);
        let approved = store.archived(notice.id).await.expect("doc");
        assert_eq!(approved.approved_by.as_deref(), Some("user:boris"), "{b}");
        rt.run_until_idle(false).await.expect("engine");
        for id in [notice.id, manual] {
            let d = store.archived(id).await.expect("doc");
            assert_eq!(d.status, "sent", "{b}: document {id}");
            assert!(d.approved_at.is_some() && d.sent_at.is_some());
        }
        let history = views::case_history(&store, case).await.expect("history");
        assert!(
            history
                .iter()
                .any(|h| h.message.contains("approved by user:boris")),
            "{b}: {history:?}"
        );
        // Approving again is refused: it is no longer prepared.
        assert!(
            rt.approve_documents(&[notice.id], "user:carl")
                .await
                .is_err()
        );

        // The archive by customer and by case.
        let customer = docs[0].customer_id;
        let of_customer = store
            .archive(&DocumentFilter {
                customer_id: Some(customer),
                ..Default::default()
            })
            .await
            .expect("by customer");
        assert_eq!(of_customer.len(), 4, "{b}");
        let sent = store
            .archive(&DocumentFilter {
                case_id: Some(case),
                status: Some(DocumentStatus::Sent),
                ..Default::default()
            })
            .await
            .expect("by case");
        assert_eq!(sent.len(), 4, "{b}");
        let none = store
            .archive(&DocumentFilter {
                customer_id: Some(customer + 1000),
                ..Default::default()
            })
            .await
            .expect("none");
        assert!(none.is_empty());

        // A duplicate: the same letter marked as a duplicate, kept as its own document.
        let dup = store
            .duplicate_document(letter.id, "user:anna")
            .await
            .expect("duplicate");
        assert_eq!(dup.duplicate_of, Some(letter.id));
        let dup_text = pdf_text(&store.document_pdf(dup.id).await.expect("pdf").expect("pdf"));
        assert!(dup_text.contains("DUPLIKAT"), "{b}:\n{dup_text}");
        assert!(dup_text.contains("FV/2026/01/117"));
        assert!(!text.contains("DUPLIKAT"));
        let sms_like = store.duplicate_document(999_999, "user:anna").await;
        assert!(matches!(sms_like, Err(StoreError::NotFound(_))), "{b}");

        // The day's print batch: every letter of the day in one PDF.
        let (n, batch) = store
            .print_batch(date("2026-03-16"))
            .await
            .expect("batch")
            .expect("letters");
        assert_eq!(n, 4, "{b}: reminder, notice, manual reminder, duplicate");
        let batch_text = pdf_text(&batch);
        assert!(batch_text.matches("Zażółć Gęślą Jaźń sp. z o.o.").count() >= 4);
        assert!(batch_text.contains("LIST POLECONY") && batch_text.contains("DUPLIKAT"));
        assert!(
            store
                .print_batch(date("2026-03-17"))
                .await
                .expect("batch")
                .is_none()
        );

        // A delivery report for an unknown id is NotFound; a bad status is refused.
        let unknown = store
            .record_delivery(&DeliveryUpdate {
                provider_id: "nope".into(),
                status: "delivered".into(),
                detail: None,
            })
            .await;
        assert!(matches!(unknown, Err(StoreError::NotFound(_))), "{b}");
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn rejecting_the_approval_cancels_the_held_documents() {
    for db in TestDb::all().await {
        let (store, rt, _dir) = world(&db).await;
        let b = db.backend;
        rt.run_until_idle(true).await.expect("engine");
        let docs = store
            .archive(&DocumentFilter::default())
            .await
            .expect("list");
        let notice = docs
            .iter()
            .find(|d| d.channel == "registered_letter")
            .expect("notice")
            .clone();
        let tasks = views::inbox(&store, None, &[]).await.expect("tasks");
        let task = tasks
            .iter()
            .find(|t| t.kind == "approval")
            .unwrap_or_else(|| panic!("{b}: no approval task in {tasks:?}"));
        rt.complete_task(
            task.task_id(),
            "reject",
            &serde_json::json!({}),
            "user:boris",
        )
        .await
        .expect("rejected");
        rt.run_until_idle(false).await.expect("engine");
        assert_eq!(
            store.archived(notice.id).await.expect("doc").status,
            "cancelled",
            "{b}"
        );
        store.close().await;
        db.cleanup().await;
    }
}

#[tokio::test]
async fn an_invoice_prints_with_the_balance_and_a_payment_request_and_is_archived() {
    for db in TestDb::all().await {
        let (store, _rt, dir) = world(&db).await;
        let b = db.backend;
        let corr = Correspondence::load(dir.path(), "https://pay.example.com").expect("templates");
        let id = store
            .find_document(DocumentKind::Invoice, "FV/2026/02/005")
            .await
            .expect("lookup")
            .expect("booked");
        let printed = store
            .print_receivable(&corr, id, true, "user:anna")
            .await
            .expect("printed");
        assert_eq!(printed.documents.len(), 2, "{b}");
        let text = pdf_text(&printed.pdf);
        // The invoice itself, then the customer's balance and every open item on it and on
        // the payment request that follows.
        assert!(text.contains("FAKTURA FV/2026/02/005"), "{b}:\n{text}");
        assert!(text.contains("WEZWANIE DO ZAPŁATY"), "{b}:\n{text}");
        assert!(text.contains("Zażółć Gęślą Jaźń sp. z o.o."), "{b}");
        assert!(
            text.matches(&money("16034.50")).count() >= 2,
            "{b}: the balance on both pages:\n{text}"
        );
        for number in ["FV/2026/01/117", "FV/2026/03/020"] {
            assert!(text.matches(number).count() >= 2, "{b}: {number}:\n{text}");
        }
        // Filed as letters sent by the user, so they go to the day's print batch.
        for (doc, template) in printed.documents.iter().zip(["invoice", "payment_request"]) {
            assert_eq!(doc.template, template, "{b}");
            assert_eq!(doc.status, "sent", "{b}");
            assert_eq!(doc.sent_by.as_deref(), Some("user:anna"), "{b}");
            assert_eq!(doc.channel, "letter", "{b}");
        }
        let (letters, batch) = store
            .print_batch(date("2026-03-16"))
            .await
            .expect("batch")
            .expect("letters today");
        assert_eq!(letters, 2, "{b}");
        assert!(pdf_text(&batch).contains("FAKTURA FV/2026/02/005"), "{b}");

        // A payment is not printed with the balance: the refusal names the kind.
        let mut payment = DocumentInput::new(
            DocumentKind::Payment,
            "PAY/1",
            CustomerRef::External("ZGJ".into()),
            Currency::PLN,
            date("2026-03-10"),
        );
        payment.amount = Some(Decimal::from(100));
        store
            .book(&[payment], &Actor::system())
            .await
            .expect("payment");
        let pay = store
            .find_document(DocumentKind::Payment, "PAY/1")
            .await
            .expect("lookup")
            .expect("booked");
        match store.print_receivable(&corr, pay, false, "user:anna").await {
            Err(StoreError::Rejected(r)) => {
                assert!(r[0].error.message.contains("payment"), "{b}: {r:?}")
            }
            other => panic!("{b}: a payment printed: {other:?}"),
        }
        assert_eq!(
            store
                .archive(&DocumentFilter::default())
                .await
                .expect("archive")
                .len(),
            2,
            "{b}: the refusal filed nothing"
        );
    }
}

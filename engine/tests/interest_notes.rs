//! Interest notes, fees and recovery compensation in the ledger: every test body runs on
//! SQLite and on PostgreSQL.

use std::str::FromStr;
use std::sync::Arc;

use arrears_engine::ids::{CaseId, CustomerId};
use arrears_engine::interest::{CompensationRule, FxTable, RateTable};
use arrears_engine::ledger::document::{CustomerRef, DocRef};
use arrears_engine::ledger::{Actor, CustomerInput, DocumentInput, DocumentKind, LineInput};
use arrears_engine::store::{
    DocumentFilter, FeeCharge, FeeOutcome, InterestNoteFilter, NoteSettings, NoteSort, NoteStatus,
    Store, StoreError, issue_interest_note_in,
};
use arrears_engine::testkit::TestDb;
use arrears_engine::{Currency, ManualClock, Money};
use chrono::NaiveDate;
use rust_decimal::Decimal;

fn date(s: &str) -> NaiveDate {
    NaiveDate::from_str(s).unwrap_or_default()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_default()
}

fn customer(ext: &str, fields: serde_json::Value) -> CustomerInput {
    CustomerInput {
        external_id: ext.into(),
        name: format!("Customer {ext}"),
        category: "business".into(),
        language: "pl".into(),
        custom_fields: fields.as_object().cloned().unwrap_or_default(),
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
        unit_price: dec(amount),
        tax_rate: Decimal::ZERO,
    }];
    d
}

fn payment(number: &str, cust: &str, on: &str, amount: &str, to: &[&str]) -> DocumentInput {
    let mut d = DocumentInput::new(
        DocumentKind::Payment,
        number,
        CustomerRef::External(cust.into()),
        Currency::PLN,
        date(on),
    );
    d.amount = Some(dec(amount));
    d.allocate_to = to.iter().map(|n| DocRef::Number((*n).into())).collect();
    d.auto_allocate = to.is_empty();
    d
}

async fn stores() -> Vec<(TestDb, Store)> {
    let mut out = Vec::new();
    for db in TestDb::all().await {
        let clock = Arc::new(ManualClock::at_date(date("2026-06-30")));
        match db.open(clock).await {
            Ok(store) => out.push((db, store)),
            Err(e) => panic!("cannot open the {} test database: {e}", db.backend),
        }
    }
    out
}

fn settings() -> NoteSettings {
    NoteSettings::new(RateTable::shipped("statutory_pl").expect("shipped table"))
}

async fn id_of(store: &Store, ext: &str) -> anyhow::Result<CustomerId> {
    store
        .customer_by_external_id(ext)
        .await?
        .map(|c| c.id)
        .ok_or_else(|| anyhow::anyhow!("no customer {ext}"))
}

async fn interest_documents(store: &Store) -> anyhow::Result<usize> {
    Ok(store
        .documents(&DocumentFilter {
            kinds: vec![DocumentKind::InterestNote],
            ..Default::default()
        })
        .await?
        .len())
}

#[tokio::test]
async fn notes_charge_late_and_open_invoices_once_and_are_settled_like_any_receivable()
-> anyhow::Result<()> {
    let actor = Actor::user("tester");
    for (db, store) in stores().await {
        let b = db.backend;
        store
            .save_customers(&[
                customer("C1", serde_json::json!({})),
                customer("C2", serde_json::json!({"interest_rate_percent": "12"})),
                customer("C3", serde_json::json!({"interest_rate_percent": "lots"})),
            ])
            .await?;
        store
            .book(
                &[
                    invoice("FV/1", "C1", "2026-01-01", "2026-01-31", "1000.00"),
                    invoice("FV/2", "C1", "2026-04-01", "2026-04-30", "2000.00"),
                    invoice("FV/3", "C1", "2026-06-01", "2026-06-15", "500.00"),
                    invoice("FV/4", "C2", "2026-04-01", "2026-04-30", "1000.00"),
                    invoice("FV/5", "C3", "2026-04-01", "2026-04-30", "1000.00"),
                    // FV/1 paid late, FV/3 paid before it was due.
                    payment("P/1", "C1", "2026-03-02", "1000.00", &["FV/1"]),
                    payment("P/3", "C1", "2026-06-10", "500.00", &["FV/3"]),
                ],
                &actor,
            )
            .await?;

        // A dry run computes everything and books nothing.
        let dry = store
            .issue_interest_notes(date("2026-05-31"), &settings(), true, &actor, |_, _| {})
            .await?;
        assert_eq!(dry.notes.len(), 2, "{b}: {dry:?}");
        assert_eq!(interest_documents(&store).await?, 0, "{b}: dry run booked");

        let run = store
            .issue_interest_notes(date("2026-05-31"), &settings(), false, &actor, |_, _| {})
            .await?;
        assert_eq!(run.customers_checked, 3, "{b}");
        // C3's contractual rate does not parse: refused, the others go on.
        assert_eq!(run.refused.len(), 1, "{b}: {:?}", run.refused);
        assert!(run.refused[0].reason.contains("interest_rate_percent"));
        let c1 = id_of(&store, "C1").await?;
        let n1 = run
            .notes
            .iter()
            .find(|n| n.customer_id == c1)
            .ok_or_else(|| anyhow::anyhow!("{b}: no note for C1"))?;
        // FV/1, paid 2026-03-02: 02-01..03-02 = 30 days at 9.50% (NBP 4.00 + 5.5)
        //   1000 x 9.5 x 30 / 36 500 = 7.8082... -> 7.81
        // FV/2, open: 05-01..05-31 = 31 days at 9.25% (NBP 3.75 + 5.5 from 2026-03-05)
        //   2000 x 9.25 x 31 / 36 500 = 15.7123... -> 15.71
        // FV/3 was paid on time: nothing.
        let lines: Vec<(String, String, String, Decimal)> = n1
            .lines
            .iter()
            .map(|l| {
                (
                    l.invoice_number.clone(),
                    l.period_from.to_string(),
                    l.period_to.to_string(),
                    l.amount,
                )
            })
            .collect();
        assert_eq!(
            lines,
            vec![
                (
                    "FV/1".into(),
                    "2026-02-01".into(),
                    "2026-03-02".into(),
                    dec("7.81")
                ),
                (
                    "FV/2".into(),
                    "2026-05-01".into(),
                    "2026-05-31".into(),
                    dec("15.71")
                ),
            ],
            "{b}"
        );
        assert_eq!(n1.total, dec("23.52"), "{b}");
        // C2's contract rate of 12%: 1000 x 12 x 31 / 36 500 = 10.1917... -> 10.19
        let n2 = run
            .notes
            .iter()
            .find(|n| n.customer_id != c1)
            .ok_or_else(|| anyhow::anyhow!("{b}: no note for C2"))?;
        assert_eq!(
            (n2.total, n2.rate_table.as_str()),
            (dec("10.19"), "contract 12%"),
            "{b}"
        );

        // The note is a receivable: open in the document and in the customer's balance
        // (FV/2 2000.00 + the note 23.52).
        let doc = store.document(n1.document_id).await?;
        assert_eq!(doc.document.kind, DocumentKind::InterestNote);
        assert_eq!(doc.open, Some(dec("23.52")), "{b}");
        let balance = store.balances(Some(c1), date("2026-06-30")).await?;
        assert_eq!(balance.first().map(|r| r.open), Some(dec("2023.52")), "{b}");

        // The same run again charges nothing twice.
        let again = store
            .issue_interest_notes(date("2026-05-31"), &settings(), false, &actor, |_, _| {})
            .await?;
        assert!(again.notes.is_empty(), "{b}: {:?}", again.notes);
        assert_eq!(interest_documents(&store).await?, 2, "{b}");

        // A month later only FV/2's June is new: 30 x 2000 x 9.25 / 36 500 = 15.2054... -> 15.21
        let june = store
            .issue_interest_note(c1, date("2026-06-30"), &settings(), &actor)
            .await?;
        assert_eq!(june.len(), 1, "{b}");
        assert_eq!(
            june[0]
                .lines
                .iter()
                .map(|l| (
                    l.invoice_number.as_str(),
                    l.period_from.to_string(),
                    l.amount
                ))
                .collect::<Vec<_>>(),
            vec![("FV/2", "2026-06-01".to_string(), dec("15.21"))],
            "{b}: no interest on interest, no second charge for FV/1"
        );

        // A payment allocated to the first note settles it.
        store
            .book(
                &[payment("P/N", "C1", "2026-06-20", "23.52", &[&n1.number])],
                &actor,
            )
            .await?;
        assert_eq!(
            store.document(n1.document_id).await?.open,
            Some(Decimal::ZERO),
            "{b}"
        );
        let open_notes = store
            .interest_notes(&InterestNoteFilter {
                customer_id: Some(c1),
                open_only: true,
                ..Default::default()
            })
            .await?;
        assert_eq!(
            open_notes
                .iter()
                .map(|n| n.number.clone())
                .collect::<Vec<_>>(),
            vec![june[0].number.clone()],
            "{b}"
        );

        // Search by customer, sort by total.
        let found = store
            .interest_notes(&InterestNoteFilter {
                search: Some("customer c1".into()),
                sort: NoteSort::Total,
                descending: true,
                ..Default::default()
            })
            .await?;
        assert_eq!(
            found.iter().map(|n| n.total).collect::<Vec<_>>(),
            vec![dec("23.52"), dec("15.21")],
            "{b}"
        );
        assert!(
            store
                .interest_notes(&InterestNoteFilter {
                    search: Some("nobody".into()),
                    ..Default::default()
                })
                .await?
                .is_empty()
        );

        // A manual settlement document (a write-off allocated to it) settles the other note.
        let mut write_off = payment("WO/N", "C1", "2026-06-25", "15.21", &[]);
        write_off.kind = DocumentKind::WriteOff;
        write_off.auto_allocate = false;
        write_off.corrects = Some(DocRef::Number(june[0].number.clone()));
        store.book(&[write_off], &actor).await?;
        assert_eq!(
            store.document(june[0].document_id).await?.open,
            Some(Decimal::ZERO),
            "{b}"
        );
        assert!(
            store
                .interest_notes(&InterestNoteFilter {
                    customer_id: Some(c1),
                    open_only: true,
                    ..Default::default()
                })
                .await?
                .is_empty(),
            "{b}: both notes settled"
        );

        // prepared -> approved -> sent, with who and when; no skipping.
        let id = found[1].id;
        let skip = store
            .set_interest_note_status(id, NoteStatus::Sent, &actor)
            .await;
        assert!(
            matches!(skip, Err(StoreError::Conflict(_))),
            "{b}: {skip:?}"
        );
        // Four eyes: whoever prepared the note cannot approve it.
        let own = store
            .set_interest_note_status(id, NoteStatus::Approved, &actor)
            .await;
        assert!(
            matches!(&own, Err(StoreError::Conflict(m)) if m.contains("someone else must approve")),
            "{b}: {own:?}"
        );
        let approved = store
            .set_interest_note_status(id, NoteStatus::Approved, &Actor::user("boss"))
            .await?;
        assert_eq!(approved.approved_by.as_deref(), Some("user:boss"));
        let sent = store
            .set_interest_note_status(id, NoteStatus::Sent, &actor)
            .await?;
        assert_eq!(sent.status, NoteStatus::Sent);
        assert!(sent.sent_at.is_some());
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn a_note_issued_inside_a_rolled_back_transaction_leaves_nothing() -> anyhow::Result<()> {
    let actor = Actor::system();
    for (db, store) in stores().await {
        store
            .save_customers(&[customer("C1", serde_json::json!({}))])
            .await?;
        store
            .book(
                &[invoice("FV/1", "C1", "2026-04-01", "2026-04-30", "2000.00")],
                &actor,
            )
            .await?;
        let c1 = id_of(&store, "C1").await?;
        let mut tx = store.write().await?;
        let notes = issue_interest_note_in(
            &mut tx,
            c1,
            date("2026-05-31"),
            &settings(),
            &actor,
            store.clock().now(),
        )
        .await?;
        assert_eq!(notes.len(), 1, "{}", db.backend);
        tx.rollback().await?;
        assert_eq!(interest_documents(&store).await?, 0, "{}", db.backend);
        // Below the minimum, no note: the interest waits for a later one.
        let mut high = settings();
        high.minimum = dec("100.00");
        assert!(
            store
                .issue_interest_note(c1, date("2026-05-31"), &high, &actor)
                .await?
                .is_empty()
        );
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn a_step_fee_and_the_recovery_compensation_are_charged_once() -> anyhow::Result<()> {
    let actor = Actor::system();
    for (db, store) in stores().await {
        let b = db.backend;
        store
            .save_customers(&[customer("C1", serde_json::json!({}))])
            .await?;
        let booked = store
            .book(
                &[invoice("FV/1", "C1", "2026-01-01", "2026-01-31", "1000.00")],
                &actor,
            )
            .await?;
        let c1 = id_of(&store, "C1").await?;
        let fee = FeeCharge {
            case_id: CaseId(7),
            step: "fee",
            customer: c1,
            amount: Money::new(dec("25.00"), Currency::PLN)?,
            reason: "collection letter",
            issue_date: date("2026-06-30"),
            payment_days: 7,
        };
        let first = store.charge_fee(&fee, &actor).await?;
        let FeeOutcome::Charged { document_id, .. } = first else {
            anyhow::bail!("{b}: the first charge booked nothing: {first:?}");
        };
        assert_eq!(store.document(document_id).await?.open, Some(dec("25.00")));
        let second = store.charge_fee(&fee, &actor).await?;
        assert_eq!(
            second,
            FeeOutcome::AlreadyCharged {
                document_id: Some(document_id)
            },
            "{b}"
        );
        // Another step of the same case is another fee.
        let other = store
            .charge_fee(
                &FeeCharge {
                    step: "fee_2",
                    ..fee.clone()
                },
                &actor,
            )
            .await?;
        assert!(matches!(other, FeeOutcome::Charged { .. }), "{b}");

        // EUR 40 at the NBP rate of the last business day of December 2025 (a fixture rate
        // of 4.2500): 40 x 4.25 = 170.00 PLN, once per invoice.
        let fx = FxTable::parse(
            "test-fx",
            "date,currency,pln_per_unit\n2025-12-31,EUR,4.2500\n",
        )?;
        let invoice_id = booked.booked[0].id;
        let comp = store
            .charge_recovery_compensation(invoice_id, CompensationRule::Eu40, &fx, 14, &actor)
            .await?;
        let FeeOutcome::Charged { document_id, .. } = comp else {
            anyhow::bail!("{b}: no compensation: {comp:?}");
        };
        assert_eq!(store.document(document_id).await?.open, Some(dec("170.00")));
        let again = store
            .charge_recovery_compensation(invoice_id, CompensationRule::Eu40, &fx, 14, &actor)
            .await?;
        assert!(
            matches!(again, FeeOutcome::AlreadyCharged { .. }),
            "{b}: {again:?}"
        );
        let fees = store
            .documents(&DocumentFilter {
                kinds: vec![DocumentKind::Fee],
                ..Default::default()
            })
            .await?;
        assert_eq!(fees.len(), 3, "{b}");
        db.cleanup().await;
    }
    Ok(())
}

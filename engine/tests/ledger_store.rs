//! Ledger behaviour on both backends: every test body runs on SQLite and on PostgreSQL.

use std::str::FromStr;
use std::sync::Arc;

use arrears_engine::aging::Buckets;
use arrears_engine::ids::DocumentId;
use arrears_engine::ledger::document::{CustomerRef, DocRef};
use arrears_engine::ledger::{Actor, CustomerInput, DocumentInput, DocumentKind, LineInput};
use arrears_engine::store::{AgingQuery, DocumentFilter, Store, StoreError};
use arrears_engine::testkit::TestDb;
use arrears_engine::{Currency, ManualClock};
use chrono::NaiveDate;
use rust_decimal::Decimal;

fn date(s: &str) -> NaiveDate {
    NaiveDate::from_str(s).unwrap_or_default()
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_default()
}

fn customer(ext: &str) -> CustomerInput {
    CustomerInput {
        external_id: ext.into(),
        name: format!("Customer {ext}"),
        category: "business".into(),
        language: "pl".into(),
        ..Default::default()
    }
}

fn invoice(
    number: &str,
    cust: &str,
    cur: Currency,
    issue: &str,
    due: &str,
    net: &str,
) -> DocumentInput {
    let mut d = DocumentInput::new(
        DocumentKind::Invoice,
        number,
        CustomerRef::External(cust.into()),
        cur,
        date(issue),
    );
    d.due_date = Some(date(due));
    d.lines = vec![LineInput {
        description: "Services".into(),
        quantity: Decimal::ONE,
        unit_price: dec(net),
        tax_rate: Decimal::ZERO,
    }];
    d
}

fn payment(number: &str, cust: &str, on: &str, amount: &str) -> DocumentInput {
    let mut d = DocumentInput::new(
        DocumentKind::Payment,
        number,
        CustomerRef::External(cust.into()),
        Currency::PLN,
        date(on),
    );
    d.amount = Some(dec(amount));
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

#[tokio::test]
async fn money_round_trips_exactly_in_every_currency() -> anyhow::Result<()> {
    for (db, store) in stores().await {
        store.save_customers(&[customer("C1")]).await?;
        let cases = [
            ("PLN", "0.01"),
            ("PLN", "12345678901.99"),
            ("JPY", "1234567"),
            ("KWD", "10.125"),
            ("EUR", "0.10"),
        ];
        let docs: Vec<DocumentInput> = cases
            .iter()
            .enumerate()
            .map(|(i, (cur, amount))| {
                let c = Currency::parse(cur).unwrap_or(Currency::PLN);
                invoice(
                    &format!("FV/{i}"),
                    "C1",
                    c,
                    "2026-01-01",
                    "2026-01-15",
                    amount,
                )
            })
            .collect();
        let out = store.book(&docs, &Actor::system()).await?;
        assert_eq!(out.booked.len(), cases.len(), "{}", db.backend);
        for (b, (cur, amount)) in out.booked.iter().zip(cases) {
            let d = store.document(b.id).await?;
            assert_eq!(d.document.gross, dec(amount), "{} {cur}", db.backend);
            assert_eq!(d.document.currency.code(), cur);
            assert_eq!(d.open, Some(dec(amount)));
        }
        // Sub-minor precision is refused, not rounded away.
        let too_precise = {
            let mut p = payment("P/X", "C1", "2026-02-01", "1");
            p.amount = Some(dec("1.005"));
            p
        };
        let err = store.book(&[too_precise], &Actor::system()).await;
        assert!(
            matches!(&err, Err(StoreError::Rejected(r)) if r[0].error.pointer() == "/amount"),
            "{}: {err:?}",
            db.backend
        );
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn issued_documents_are_immutable() -> anyhow::Result<()> {
    for (db, store) in stores().await {
        store.save_customers(&[customer("C1")]).await?;
        let inv = invoice(
            "FV/1",
            "C1",
            Currency::PLN,
            "2026-01-01",
            "2026-01-15",
            "100.00",
        );
        let first = store
            .book(std::slice::from_ref(&inv), &Actor::system())
            .await?;
        let id = first.booked[0].id;

        // The same document again is an idempotent no-op.
        let again = store
            .book(std::slice::from_ref(&inv), &Actor::system())
            .await?;
        assert!(again.booked.is_empty());
        assert_eq!(again.unchanged[0].id, id);

        // A changed amount is refused, with the way out in the message.
        let mut changed = inv.clone();
        changed.lines[0].unit_price = dec("120.00");
        match store.book(&[changed], &Actor::system()).await {
            Err(StoreError::Rejected(r)) => {
                let msg = &r[0].error.message;
                assert!(msg.contains("already issued"), "{msg}");
                assert!(msg.contains("credit note"), "{msg}");
                assert_eq!(r[0].error.pointer(), "/number");
            }
            other => panic!("{}: expected a rejection, got {other:?}", db.backend),
        }
        // A changed line description is a change too.
        let mut relabelled = inv.clone();
        relabelled.lines[0].description = "Other".into();
        assert!(matches!(
            store.book(&[relabelled], &Actor::system()).await,
            Err(StoreError::Rejected(_))
        ));

        // The database itself refuses edits that bypass the API.
        for sql in [
            format!("UPDATE documents SET gross_minor = 1 WHERE id = {id}"),
            format!("DELETE FROM documents WHERE id = {id}"),
            format!("UPDATE document_lines SET net_minor = 1 WHERE document_id = {id}"),
        ] {
            match store.execute_raw(&sql).await {
                Err(StoreError::Immutable(msg)) => assert!(msg.contains("immutable"), "{msg}"),
                other => panic!("{}: {sql} should be refused, got {other:?}", db.backend),
            }
        }
        let d = store.document(id).await?;
        assert_eq!(d.document.gross, dec("100.00"));
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn payments_pay_the_oldest_due_first_and_keep_the_rest_as_overpayment() -> anyhow::Result<()>
{
    for (db, store) in stores().await {
        store
            .save_customers(&[customer("C1"), customer("C2")])
            .await?;
        let actor = Actor::user("anna");
        store
            .book(
                &[
                    invoice(
                        "FV/2",
                        "C1",
                        Currency::PLN,
                        "2026-02-01",
                        "2026-02-15",
                        "200.00",
                    ),
                    invoice(
                        "FV/1",
                        "C1",
                        Currency::PLN,
                        "2026-01-01",
                        "2026-01-15",
                        "100.00",
                    ),
                    invoice(
                        "FV/3",
                        "C1",
                        Currency::EUR,
                        "2026-01-01",
                        "2026-01-10",
                        "50.00",
                    ),
                ],
                &actor,
            )
            .await?;
        let out = store
            .book(&[payment("P/1", "C1", "2026-03-01", "350.00")], &actor)
            .await?;
        let allocs = &out.booked[0].allocations;
        let fv1 = store.find_document(DocumentKind::Invoice, "FV/1").await?;
        let fv2 = store.find_document(DocumentKind::Invoice, "FV/2").await?;
        assert_eq!(
            allocs
                .iter()
                .map(|a| (Some(a.target_id), a.amount))
                .collect::<Vec<_>>(),
            vec![(fv1, dec("100.00")), (fv2, dec("200.00"))],
            "{}",
            db.backend
        );
        assert!(allocs.iter().all(|a| a.created_by == "user:anna"));
        let p1 = out.booked[0].id;
        assert_eq!(store.document(p1).await?.unallocated, Some(dec("50.00")));

        // Part of the overpayment is refunded, part moved to another customer, who then uses it.
        let refund = store
            .refund(
                p1,
                dec("20.00"),
                date("2026-03-05"),
                Some("bank transfer".into()),
                &actor,
            )
            .await?;
        assert_eq!(refund.created_by, "user:anna");
        let c2 = store.customer_by_external_id("C2").await?.map(|c| c.id);
        let c2 = c2.ok_or_else(|| anyhow::anyhow!("C2 missing"))?;
        let moved = store
            .transfer(p1, dec("30.00"), date("2026-03-06"), c2, None, &actor)
            .await?;
        assert_eq!(store.document(p1).await?.unallocated, Some(dec("0.00")));
        let too_much = store
            .refund(p1, dec("0.01"), date("2026-03-07"), None, &actor)
            .await;
        assert!(
            matches!(too_much, Err(StoreError::Rejected(_))),
            "{too_much:?}"
        );

        store
            .book(
                &[invoice(
                    "FV/9",
                    "C2",
                    Currency::PLN,
                    "2026-03-01",
                    "2026-03-20",
                    "100.00",
                )],
                &actor,
            )
            .await?;
        let auto = store.auto_allocate(c2, &actor).await?;
        assert_eq!(auto.len(), 1);
        assert_eq!(Some(auto[0].source_id), moved.target_document_id);
        assert_eq!(auto[0].amount, dec("30.00"));

        // Explicit allocation is checked against both sides.
        let p2 = store
            .book(
                &[{
                    let mut p = payment("P/2", "C1", "2026-03-10", "10.00");
                    p.auto_allocate = false;
                    p
                }],
                &actor,
            )
            .await?
            .booked[0]
            .id;
        let eur = store
            .find_document(DocumentKind::Invoice, "FV/3")
            .await?
            .unwrap_or(DocumentId(0));
        let wrong_currency = store.allocate(p2, eur, None, &actor).await;
        assert!(
            matches!(wrong_currency, Err(StoreError::Rejected(_))),
            "{wrong_currency:?}"
        );
        let fv9 = store
            .find_document(DocumentKind::Invoice, "FV/9")
            .await?
            .unwrap_or(DocumentId(0));
        let other_customer = store.allocate(p2, fv9, None, &actor).await;
        assert!(matches!(other_customer, Err(StoreError::Rejected(_))));
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn credit_notes_correct_and_write_offs_close_receivables() -> anyhow::Result<()> {
    for (db, store) in stores().await {
        store.save_customers(&[customer("C1")]).await?;
        let actor = Actor::system();
        store
            .book(
                &[invoice(
                    "FV/1",
                    "C1",
                    Currency::PLN,
                    "2026-01-01",
                    "2026-01-15",
                    "100.00",
                )],
                &actor,
            )
            .await?;
        let mut kor = DocumentInput::new(
            DocumentKind::CreditNote,
            "KOR/1",
            CustomerRef::External("C1".into()),
            Currency::PLN,
            date("2026-01-20"),
        );
        kor.amount = Some(dec("30.00"));
        kor.corrects = Some(DocRef::Number("FV/1".into()));
        store.book(&[kor.clone()], &actor).await?;
        let mut too_big = kor.clone();
        too_big.number = "KOR/2".into();
        too_big.amount = Some(dec("70.01"));
        let err = store.book(&[too_big], &actor).await;
        assert!(
            matches!(&err, Err(StoreError::Rejected(r)) if r[0].error.message.contains("exceeds")),
            "{}: {err:?}",
            db.backend
        );
        let mut wo = DocumentInput::new(
            DocumentKind::WriteOff,
            "WO/1",
            CustomerRef::External("C1".into()),
            Currency::PLN,
            date("2026-02-01"),
        );
        wo.amount = Some(dec("70.00"));
        wo.corrects = Some(DocRef::Number("FV/1".into()));
        store.book(&[wo], &actor).await?;
        let fv1 = store
            .find_document(DocumentKind::Invoice, "FV/1")
            .await?
            .unwrap_or(DocumentId(0));
        assert_eq!(store.document(fv1).await?.open, Some(dec("0.00")));
        let open = store
            .documents(&DocumentFilter {
                open_only: true,
                kinds: vec![DocumentKind::Invoice],
                ..Default::default()
            })
            .await?;
        assert!(open.is_empty());
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn aging_buckets_put_a_document_exactly_30_days_overdue_in_1_to_30() -> anyhow::Result<()> {
    for (db, store) in stores().await {
        store.save_customers(&[customer("C1")]).await?;
        let as_of = date("2026-06-30");
        // Due dates chosen to sit on each side of each bound.
        let due = [
            ("A", "2026-06-30", "1.00"),  // due today: current
            ("B", "2026-05-31", "2.00"),  // 30 days: 1-30
            ("C", "2026-05-30", "4.00"),  // 31 days: 31-60
            ("D", "2026-05-01", "8.00"),  // 60 days: 31-60
            ("E", "2026-04-01", "16.00"), // 90 days: 61-90
            ("F", "2026-03-31", "32.00"), // 91 days: 91+
            ("G", "2026-07-15", "64.00"), // not yet due: current
        ];
        let docs: Vec<DocumentInput> = due
            .iter()
            .map(|(n, d, a)| invoice(n, "C1", Currency::PLN, "2026-01-01", d, a))
            .collect();
        store.book(&docs, &Actor::system()).await?;
        // Issued after the as-of date: not in the report.
        store
            .book(
                &[invoice(
                    "LATER",
                    "C1",
                    Currency::PLN,
                    "2026-07-01",
                    "2026-07-10",
                    "1000",
                )],
                &Actor::system(),
            )
            .await?;
        for detail in [false, true] {
            let report = store
                .aging(&AgingQuery {
                    as_of,
                    buckets: Buckets::parse("30,60,90").map_err(anyhow::Error::msg)?,
                    customer_id: None,
                    detail,
                })
                .await?;
            assert_eq!(report.buckets, ["current", "1-30", "31-60", "61-90", "91+"]);
            let row = &report.rows[0];
            assert_eq!(
                row.amounts,
                vec![
                    dec("65.00"),
                    dec("2.00"),
                    dec("12.00"),
                    dec("16.00"),
                    dec("32.00")
                ],
                "{} detail={detail}",
                db.backend
            );
            assert_eq!(row.days_overdue, 91);
            assert_eq!(row.overdue, dec("62.00"));
            assert_eq!(report.totals[0].documents, 7);
            if detail {
                let items = row.items.as_deref().unwrap_or(&[]);
                let b = items
                    .iter()
                    .find(|i| i.number == "B")
                    .map(|i| (i.days_overdue, i.bucket));
                assert_eq!(b, Some((30, 1)));
                let sum: Decimal = items.iter().map(|i| i.open).sum();
                assert_eq!(sum, row.open);
            }
        }
        // A payment dated after the as-of date does not change the past.
        store
            .book(
                &[payment("P/1", "C1", "2026-07-05", "32.00")],
                &Actor::system(),
            )
            .await?;
        let before = store.balances(None, as_of).await?;
        assert_eq!(before[0].open, dec("127.00"));
        let after = store.balances(None, date("2026-07-05")).await?;
        assert_eq!(after[0].open, dec("1095.00"));
        db.cleanup().await;
    }
    Ok(())
}

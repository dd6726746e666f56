//! Importing bank statements into the ledger on both backends: payments booked and allocated
//! per the matches, exact summary numbers, nothing booked twice, dry runs book nothing, the
//! manual-matching queue, and a broken file that changes nothing and says where it broke.

use std::str::FromStr;
use std::sync::Arc;

use arrears_connectors::bank::import::{ImportError, ImportReport, import};
use arrears_engine::ledger::document::{CustomerRef, DocRef};
use arrears_engine::ledger::{Actor, CustomerInput, DocumentInput, DocumentKind, LineInput};
use arrears_engine::store::bank::MatchTo;
use arrears_engine::store::{DocumentFilter, Store};
use arrears_engine::testkit::TestDb;
use arrears_engine::{Currency, ManualClock};
use chrono::NaiveDate;
use rust_decimal::Decimal;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bank/");

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|e| panic!("bad decimal {s}: {e}"))
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn customer(ext: &str, iban: Option<&str>) -> CustomerInput {
    CustomerInput {
        external_id: ext.into(),
        name: format!("Customer {ext}"),
        category: "business".into(),
        language: "pl".into(),
        ibans: iban.map(|i| vec![i.to_string()]).unwrap_or_default(),
        ..Default::default()
    }
}

fn invoice(number: &str, cust: &str, cur: Currency, gross: &str) -> DocumentInput {
    let issue = NaiveDate::from_ymd_opt(2023, 1, 10).unwrap_or_default();
    let mut d = DocumentInput::new(
        DocumentKind::Invoice,
        number,
        CustomerRef::External(cust.into()),
        cur,
        issue,
    );
    d.due_date = Some(issue + chrono::Days::new(14));
    d.lines = vec![LineInput {
        description: "Services".into(),
        quantity: Decimal::ONE,
        unit_price: dec(gross),
        tax_rate: Decimal::ZERO,
    }];
    d
}

/// A small ledger: C1 pays from the camt fixture's IBAN, C2 owes 80.00, C3 owes RE-1001.
async fn ledger() -> Vec<(TestDb, Store)> {
    let mut out = Vec::new();
    for db in TestDb::all().await {
        let clock = Arc::new(ManualClock::at_date(
            NaiveDate::from_ymd_opt(2023, 7, 1).unwrap_or_default(),
        ));
        let store = match db.open(clock).await {
            Ok(s) => s,
            Err(e) => panic!("cannot open the {} test database: {e}", db.backend),
        };
        let setup = async {
            store
                .save_customers(&[
                    customer("C1", Some("PL27 1140 2004 0000 3002 0135 5387")),
                    customer("C2", None),
                    customer("C3", None),
                ])
                .await?;
            store
                .book(
                    &[
                        invoice("FV/2023/0042", "C1", Currency::PLN, "1500.00"),
                        invoice("FV/2023/0050", "C2", Currency::PLN, "80.00"),
                        invoice("RE-1001", "C3", Currency::EUR, "1000.00"),
                    ],
                    &Actor("test".into()),
                )
                .await?;
            anyhow::Ok(())
        };
        if let Err(e) = setup.await {
            panic!("setting up the ledger on {} failed: {e}", db.backend);
        }
        out.push((db, store));
    }
    out
}

async fn payments(store: &Store) -> anyhow::Result<Vec<(String, Decimal, Decimal)>> {
    Ok(store
        .documents(&DocumentFilter {
            kinds: vec![DocumentKind::Payment],
            ..Default::default()
        })
        .await?
        .into_iter()
        .map(|d| (d.document.number, d.document.gross, d.remaining))
        .collect())
}

async fn open_of(store: &Store, number: &str) -> anyhow::Result<Decimal> {
    let id = store
        .find_document(DocumentKind::Invoice, number)
        .await?
        .ok_or_else(|| anyhow::anyhow!("{number} not booked"))?;
    store
        .document(id)
        .await?
        .open
        .ok_or_else(|| anyhow::anyhow!("{number} has no open amount"))
}

fn counts(r: &ImportReport) -> [usize; 7] {
    [
        r.entries,
        r.booked,
        r.matched,
        r.unmatched,
        r.duplicates,
        r.reversed,
        r.not_payments,
    ]
}

#[tokio::test]
async fn camt053_books_matched_credits_queues_the_rest_and_never_books_twice() -> anyhow::Result<()>
{
    let bytes = fixture("camt053_v08.xml");
    let actor = Actor("test".into());
    for (db, store) in ledger().await {
        let b = db.backend;
        // Dry run: the same report, nothing booked, nothing recorded.
        let dry = import(&store, "v08.xml", &bytes, None, true, &actor).await?;
        assert!(dry.dry_run);
        assert_eq!(counts(&dry), [3, 1, 1, 1, 0, 0, 1], "{b}: dry run");
        assert!(payments(&store).await?.is_empty(), "{b}: dry run booked");
        assert!(store.bank_queue().await?.is_empty(), "{b}: dry run queued");

        let r = import(&store, "v08.xml", &bytes, None, false, &actor).await?;
        assert_eq!(counts(&r), [3, 1, 1, 1, 0, 0, 1], "{b}");
        let s = &r.statements[0];
        assert_eq!(s.account, "PL61109010140000071219812874");
        assert_eq!(
            (s.opening, s.closing),
            (Some(dec("0.00")), Some(dec("1234.56")))
        );
        assert_eq!((s.credit_count, s.credits), (2, dec("1334.56")), "{b}");
        assert_eq!((s.debit_count, s.debits), (1, dec("100.00")), "{b}");
        assert!(s.reconciles, "{b}: {}", s.reconciliation);
        assert_eq!(r.allocated_amount, vec![(Currency::PLN, dec("1234.56"))]);

        // The payment is booked for C1 and allocated to FV/2023/0042 as matched.
        let p = payments(&store).await?;
        assert_eq!(p.len(), 1, "{b}: {p:?}");
        assert_eq!((p[0].1, p[0].2), (dec("1234.56"), dec("0")), "{b}");
        assert_eq!(open_of(&store, "FV/2023/0042").await?, dec("265.44"), "{b}");

        // Again: everything is a duplicate, nothing is booked.
        let again = import(&store, "v08.xml", &bytes, None, false, &actor).await?;
        assert_eq!(counts(&again), [3, 0, 0, 0, 3, 0, 0], "{b}: second import");
        assert_eq!(payments(&store).await?.len(), 1, "{b}: booked twice");

        // The unmatched 100.00 waits in the queue; resolving it books and allocates.
        let queue = store.bank_queue().await?;
        assert_eq!(queue.len(), 1, "{b}: {queue:?}");
        assert_eq!(queue[0].amount, dec("100.00"));
        let out = store
            .resolve_bank_item(
                queue[0].id,
                CustomerRef::External("C2".into()),
                MatchTo::Invoices(vec![DocRef::Number("FV/2023/0050".into())]),
                &actor,
            )
            .await?;
        assert_eq!(out.booked.len(), 1, "{b}");
        assert_eq!(out.booked[0].allocations.len(), 1, "{b}");
        assert_eq!(out.booked[0].allocations[0].amount, dec("80.00"), "{b}");
        assert_eq!(open_of(&store, "FV/2023/0050").await?, dec("0"), "{b}");
        assert!(store.bank_queue().await?.is_empty(), "{b}: still queued");
        // Resolved once is resolved: a second attempt is refused.
        assert!(
            store
                .resolve_bank_item(
                    queue[0].id,
                    CustomerRef::External("C2".into()),
                    MatchTo::Invoices(Vec::new()),
                    &actor
                )
                .await
                .is_err(),
            "{b}"
        );
        assert_eq!(payments(&store).await?.len(), 2, "{b}");
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn mt940_reversal_in_the_same_file_is_netted_before_booking() -> anyhow::Result<()> {
    let bytes = fixture("mt940_reversals.sta");
    let actor = Actor("test".into());
    for (db, store) in ledger().await {
        let b = db.backend;
        let r = import(&store, "rev.sta", &bytes, None, false, &actor).await?;
        // 1000.00 in, 400.00 of it reversed: 600.00 booked against RE-1001; the reversal,
        // the debit and the reversed debit book nothing.
        assert_eq!(counts(&r), [4, 1, 1, 0, 0, 0, 2], "{b}");
        assert_eq!(r.reversals, 1, "{b}");
        assert!(r.warnings.is_empty(), "{b}: {:?}", r.warnings);
        let s = &r.statements[0];
        assert_eq!((s.credit_count, s.credits), (2, dec("600.00")), "{b}");
        assert_eq!((s.debit_count, s.debits), (2, dec("0.00")), "{b}");
        assert!(s.reconciles, "{b}");
        let p = payments(&store).await?;
        assert_eq!(p.len(), 1, "{b}");
        assert_eq!(p[0].1, dec("600.00"), "{b}");
        assert_eq!(open_of(&store, "RE-1001").await?, dec("400.00"), "{b}");
        let again = import(&store, "rev.sta", &bytes, None, false, &actor).await?;
        assert_eq!(counts(&again), [4, 0, 0, 0, 4, 0, 0], "{b}");
        assert_eq!(payments(&store).await?.len(), 1, "{b}");
        db.cleanup().await;
    }
    Ok(())
}

#[tokio::test]
async fn a_broken_file_names_the_position_and_changes_nothing() -> anyhow::Result<()> {
    let bytes = fixture("mt940_bad_amount.sta");
    let actor = Actor("test".into());
    for (db, store) in ledger().await {
        let b = db.backend;
        match import(&store, "bad.sta", &bytes, None, false, &actor).await {
            Err(e @ ImportError::Parse { .. }) => {
                let text = e.to_string();
                assert!(text.contains("line 5, column 16"), "{b}: {text}");
            }
            other => panic!("{b}: expected a parse error, got {other:?}"),
        }
        match import(&store, "junk.bin", b"hello", None, false, &actor).await {
            Err(ImportError::UnknownFormat(_)) => {}
            other => panic!("{b}: expected an unknown format, got {other:?}"),
        }
        assert!(payments(&store).await?.is_empty(), "{b}");
        assert!(store.bank_queue().await?.is_empty(), "{b}");
        db.cleanup().await;
    }
    Ok(())
}
